"""Fuzz the bench loader: mutated copies of a real artifact must never take the parent down.

    python bench/fuzz_loader.py BUNDLE_OR_TFLITE [--cases 1000] [--seed 0] [--timeout 10] [--json FILE]

Each case is a seeded mutation of the artifact (default: the bundle's student_int8.tflite):
bit flips (1-64 bits), a truncation, or a splice (a byte range copied over another). All cases
are handed to `device_bench.run.bench` in batches, exactly as `edgerec bench` would run them;
every case must come back as a row, "ok" (the mutation hit nothing that matters) or "error"
(the interpreter refused it, or the worker crashed or hung). Prints cases, ok rows, error rows,
worker crashes by signal and parent crashes (a case without a row, or an exception escaping
`bench`); exits 1 if any parent crash happened. The goal is 0.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from device_bench import bundle, run


def mutate(data: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    kind = rng.choice(["flip", "truncate", "splice"])
    buf = bytearray(data)
    if kind == "flip":
        for position in rng.integers(0, len(buf), size=int(rng.integers(1, 65))):
            buf[position] ^= 1 << int(rng.integers(0, 8))
    elif kind == "truncate":
        buf = buf[: int(rng.integers(0, len(buf)))]
    else:
        length = int(rng.integers(1, max(2, len(buf) // 8)))
        src, dst = (int(x) for x in rng.integers(0, len(buf) - length, size=2))
        buf[dst : dst + length] = data[src : src + length]
    return str(kind), bytes(buf)


def fuzz(source: Path, cases: int, seed: int = 0, timeout: float = 10.0, batch: int = 50) -> dict:
    """Runs `cases` seeded mutations of `source` through `run.bench`; returns the counts."""
    data = source.read_bytes()
    rng = np.random.default_rng(seed)
    counts: collections.Counter = collections.Counter()
    kinds: collections.Counter = collections.Counter()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for first in range(0, cases, batch):
            paths = []
            for case in range(first, min(first + batch, cases)):
                kind, mutated = mutate(data, rng)
                kinds[kind] += 1
                path = Path(tmp) / f"case{case:05d}_{kind}.tflite"
                path.write_bytes(mutated)
                paths.append(path)
            try:
                rows = run.bench(paths, runs=1, warmup=0, min_seconds=0.0, accuracy=False, timeout=timeout)
            except Exception as exc:  # the harness itself gave way: the failure this script hunts for
                counts["parent crashes"] += len(paths)
                print(f"bench() raised on cases {first}..: {exc!r}", file=sys.stderr)
                continue
            returned = {row["artifact"]: row for row in rows}
            for path in paths:
                row = returned.get(path.name)
                if row is None:
                    counts["parent crashes"] += 1
                elif row["status"] == "ok":
                    counts["ok rows"] += 1
                else:
                    counts["error rows"] += 1
                    counts["worker crashes (signal)"] += "signal" in row["status"]
                    counts["timeouts"] += "timeout" in row["status"]
            for path in paths:
                path.unlink()
    return {
        "artifact": str(source),
        "cases": cases,
        "mutations": dict(kinds),
        **{key: counts[key] for key in ("ok rows", "error rows", "worker crashes (signal)", "timeouts", "parent crashes")},
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=50, help="cases per bench() call")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    source = args.path / bundle.artifact_file(bundle.STUDENT_INT8) if args.path.is_dir() else args.path
    result = fuzz(source, args.cases, args.seed, args.timeout, args.batch)
    for key, value in result.items():
        print(f"{key:26s} {value}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if result["parent crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
