"""The fuller support matrix: one bundle benched on every platform, Python and interpreter at hand.

    python bench/platforms.py BUNDLE [--pythons 3.9,3.10,3.11,3.12,3.13] [--threads 1,2] [--batch 1,64]
                              [--no-arm] [--work DIR] [--json FILE]

CI (`.ci/run`) checks a few rows per platform; this runs the same installs with more
configurations (every thread count and batch given, for every artifact) and prints the matrix the
README's support table comes from:
- x86-64, each Python of pyenv's that is asked for: `edgerec[device]` (ai-edge-litert), and on
  Python <= 3.11 tflite-runtime 2.14 with numpy < 2, on its optimized and its reference kernels;
- arm64 and armhf (32-bit Raspberry Pi OS) under qemu-user, through `.ci/arm.sh` (as root; its
  root filesystems are cached), with the thread counts and batches above.

Each row set is checked as CI checks it (`.ci/check_bench_rows.py`: every artifact ok rows with
every metric, one per thread count and batch) and its metrics are compared with the x86 run that rounds int8 the same way: ai-edge-litert
with x86 ai-edge-litert on Python 3.11; tflite-runtime's optimized x86 kernels with themselves;
its reference kernels and its ARM builds with x86 tflite-runtime's reference kernels (see
docs/arm_emulation.md). Latencies under emulation mean nothing and are not shown.
Needs network access to the package index, and root for the ARM part. Exit status 1 if a row
set fails.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHECK = REPO / ".ci" / "check_bench_rows.py"
REFERENCE_PYTHON = "3.11"  # the Python the x86 references run on (CI's training Python)
TFLITE_RUNTIME_PYTHONS = ("3.9", "3.10", "3.11")  # tflite-runtime 2.14 publishes cp39-cp311 wheels


def _python(version: str) -> str | None:
    """pyenv's newest interpreter of `version`, or None."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python3"),
                   key=lambda p: [int(x) for x in Path(p).parents[1].name.split(".") if x.isdigit()])
    return found[-1] if found else None


def _venv(python: str, where: Path, *specs: list[str]) -> Path:
    """A virtualenv at `where` with each pip spec list installed in turn; its bin folder."""
    subprocess.run([python, "-m", "venv", str(where)], check=True)
    for spec in specs:
        subprocess.run([str(where / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *spec], check=True)
    return where / "bin"


def _bench(bin_dir: Path, bundle: Path, out: Path, flags: list[str]) -> None:
    subprocess.run([str(bin_dir / "edgerec"), "bench", str(bundle), "--runs", "10", "--warmup", "2",
                    "--min-seconds", "0", *flags, "--json", str(out)], check=True, stdout=subprocess.DEVNULL)


def _check(python: Path, result: Path, bundle: Path) -> bool:
    """`.ci/check_bench_rows.py` on a row set, in the virtualenv that made it: every artifact ok rows
    with every metric, the same number each."""
    return subprocess.run([str(python), str(CHECK), str(result), str(bundle)], cwd=REPO).returncode == 0


def _max_difference(result: Path, reference: Path) -> float | None:
    """The largest |metric difference| between two benches of one bundle, over artifacts and metrics."""
    theirs = {r["artifact"]: r["metrics"] or {} for r in json.loads(reference.read_text())["rows"]}
    gaps = [abs(value - theirs[row["artifact"]][key]) for row in json.loads(result.read_text())["rows"]
            for key, value in (row["metrics"] or {}).items() if theirs.get(row["artifact"], {}).get(key) is not None]
    return max(gaps) if gaps else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--pythons", default="3.9,3.10,3.11,3.12,3.13")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--batch", default="1,64")
    parser.add_argument("--no-arm", action="store_true", help="x86-64 only (ARM needs root and qemu-user)")
    parser.add_argument("--work", type=Path, default=None, help="keep the virtualenvs and row sets here")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    bundle = args.bundle.resolve()
    work = args.work or Path(tempfile.mkdtemp(prefix="edgerec-platforms."))
    work.mkdir(parents=True, exist_ok=True)
    flags = ["--threads", args.threads, "--batch", args.batch]
    runs = []  # (platform, python, interpreter, kernels, row file, virtualenv bin (None: checked by arm.sh), reference key)
    for version in args.pythons.split(","):
        python = _python(version)
        if python is None:
            print(f"no Python {version} under pyenv: skipped")
            continue
        bin_dir = _venv(python, work / f"litert-{version}", [f"{REPO}[device]"])
        _bench(bin_dir, bundle, work / f"x86-{version}-litert.json", flags)
        runs.append(("x86-64", version, "ai_edge_litert", "optimized", work / f"x86-{version}-litert.json", bin_dir, "litert"))
        if version in TFLITE_RUNTIME_PYTHONS:
            bin_dir = _venv(python, work / f"tflite-{version}", ["numpy<2", "tflite-runtime==2.14.*"], [str(REPO)])
            for kernels, extra in (("optimized", []), ("reference", ["--reference-kernels"])):
                path = work / f"x86-{version}-tflite_runtime-{kernels}.json"
                _bench(bin_dir, bundle, path, [*flags, *extra])
                runs.append(("x86-64", version, "tflite_runtime", kernels, path, bin_dir, f"tflite_runtime-{kernels}"))
    references = {key: path for _, version, _, _, path, _, key in runs if version == REFERENCE_PYTHON}
    if not args.no_arm:
        missing = [k for k in ("litert", "tflite_runtime-reference") if k not in references]
        if missing:
            print(f"ARM skipped: it is compared with x86 on Python {REFERENCE_PYTHON}, which did not run")
        else:
            env = {**os.environ, "EDGEREC_ARM_BENCH_FLAGS": " ".join(flags), "PYTHON": sys.executable}
            arm = subprocess.run(["bash", str(REPO / ".ci" / "arm.sh"), str(bundle), str(references["litert"]),
                                  str(references["tflite_runtime-reference"]), str(work)], env=env)
            for label, interpreter in (("arm64-ai_edge_litert", "ai_edge_litert"), ("arm64-tflite_runtime", "tflite_runtime"),
                                       ("armhf-tflite_runtime", "tflite_runtime")):
                path = work / f"arm-{label}.json"
                key = "litert" if interpreter == "ai_edge_litert" else "tflite_runtime-reference"
                runs.append((label.split("-")[0], "3.11 (Debian 12)", interpreter, "optimized", path, None, key))
            if arm.returncode:
                print(f".ci/arm.sh failed (exit {arm.returncode}): a platform without rows is marked failed below")
    table, failed = [], False
    for platform, version, interpreter, kernels, path, bin_dir, key in runs:
        ok = path.is_file() and (bin_dir is None or _check(bin_dir / "python", path, bundle))
        rows = json.loads(path.read_text())["rows"] if path.is_file() else []
        runtime = rows[0]["runtime"]["version"] if rows else "?"
        gap = _max_difference(path, references[key]) if ok and key in references else None
        failed |= not ok
        table.append({"platform": platform, "python": version, "interpreter": f"{interpreter} {runtime}", "kernels": kernels,
                      "rows ok": f"{sum(r['status'] == 'ok' for r in rows)}/{len(rows)}" if ok else "failed",
                      "max |metric difference| vs x86 reference": "n/a" if gap is None else f"{gap:.1e}"})
    header = list(table[0]) if table else []
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in table:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
    print(f"threads {args.threads} x batch {args.batch} per artifact; row sets in {work}")
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
