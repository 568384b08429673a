"""Does `edgerec data prepare` stay in bounded memory on a large interactions file?

    python bench/prepare_memory.py [--rows 20000000] [--limit-gib 4]

Writes a generated CSV (user_id, item_id, timestamp, rating, user_country, item_genre; Zipf-like
item popularity) of --rows rows into a temporary folder, runs `edgerec data prepare --source csv`
on it in a child process, and prints file size, rows/s and the child's peak RSS (an upper bound:
Linux carries the parent's high-water mark into a child, and this parent is small). Exits 1 if the
peak exceeds --limit-gib, so the bound is measured, not assumed.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_csv(path: Path, rows: int, chunk: int = 1_000_000, seed: int = 0) -> None:
    import pandas as pd

    rng = np.random.default_rng(seed)
    users, items = max(1000, rows // 150), max(500, rows // 250)
    with open(path, "w") as fh:
        fh.write("user_id,item_id,timestamp,rating,user_country,item_genre\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            user = rng.integers(0, users, n)
            item = np.minimum(rng.zipf(1.3, n) - 1, items - 1)
            pd.DataFrame({
                "user_id": user, "item_id": item, "timestamp": rng.integers(9 * 10**8, 10**9, n),
                "rating": rng.integers(1, 6, n), "user_country": user % 40, "item_genre": item % 18,
            }).to_csv(fh, header=False, index=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--limit-gib", type=float, default=4.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "interactions.csv"
        start = time.perf_counter()
        write_csv(csv, args.rows)
        print(f"generated {args.rows:,} rows, {csv.stat().st_size / 2**20:,.0f} MiB in {time.perf_counter() - start:.0f} s")
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", "from edgerec.cli import main; main()", "data", "prepare", "--source", "csv",
             "--path", str(csv), "--out", str(Path(tmp) / "prepared")],
            capture_output=True, text=True,
        )
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            print(proc.stdout, proc.stderr)
            return 1
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(proc.stdout.strip())
    print(f"prepare: {seconds:.0f} s, {args.rows / seconds:,.0f} rows/s, peak RSS {peak / 2**30:.2f} GiB "
          f"(limit {args.limit_gib} GiB): {'within' if peak <= args.limit_gib * 2**30 else 'OVER'}")
    return 0 if peak <= args.limit_gib * 2**30 else 1


if __name__ == "__main__":
    sys.exit(main())
