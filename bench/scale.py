"""Training memory does not grow with the log: the teacher trained on 2, 20 and 100 million streamed
interactions for the same number of steps.

    python bench/scale.py                          # 2, 20 and 100 million interactions, 300 steps each
    python bench/scale.py --millions 2,20 --steps 100
    python bench/scale.py --millions 2 --users 2000000 --workers 2   # a large table, replicated per worker

For each size, a synthetic log over one fixed catalogue (`--users`, `--items`: the model is the
same at every size, so only the log grows) is written as a prepared folder of Parquet shards
(`--shard-rows`); then `edgerec teacher --steps S` trains the default recipe's teacher on it in a
fresh process, streaming (edgerec.data.stream), and its peak RSS (the process's own getrusage),
training rows/s and held-out scores are read from its teacher.json. Users pick items by popularity
(a power law), four in five within their own taste group, so the teacher has something to learn.
Prints one row per size and the check: peak RSS at the largest log within 1.5x of the smallest.
With `--workers 2` the teacher trains on a local 2-worker cluster (edgerec.local_cluster) and the
chief's peak RSS is reported: under MultiWorkerMirroredStrategy every worker holds every table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

USERS, ITEMS, GROUPS = 100_000, 50_000, 50  # the default catalogue
LIMIT = 1.5  # the acceptance: peak RSS at the largest log within this factor of the smallest's


def synthetic_log(rows: int, users: int, items: int, seed: int):
    """`rows` interactions over `users` x `items`, in time order (see the module docstring)."""
    from edgerec.data.schema import Interactions

    rng = np.random.default_rng(seed)
    user = rng.integers(0, users, rows, dtype=np.int32)
    popularity = 1.0 / (np.arange(items) + 10.0)
    item = np.searchsorted(np.cumsum(popularity / popularity.sum()), rng.random(rows)).astype(np.int32)
    item = item.clip(max=items - 1)
    in_group = rng.random(rows) < 0.8
    grouped = item - item % GROUPS + user % GROUPS
    item = np.where(in_group & (grouped < items), grouped, item).astype(np.int32)
    return Interactions(user=user, item=item, timestamp=np.arange(rows, dtype=np.int64), user_features={},
                        item_features={}, source=f"scale bench, {rows:,} interactions",
                        vocabularies={"user_id": [f"u{u}" for u in range(users)],
                                      "item_id": [f"i{i}" for i in range(items)]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--millions", default="2,20,100", help="log sizes, in millions of interactions")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--shard-rows", type=int, default=1_000_000)
    parser.add_argument("--recipe", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--items", type=int, default=ITEMS)
    parser.add_argument("--workers", type=int, default=1, help="local workers (edgerec.local_cluster)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()

    from edgerec.data import prepared

    rows = []
    for millions in (float(m) for m in args.millions.split(",")):
        with tempfile.TemporaryDirectory() as scratch:
            data, out = Path(scratch) / "data", Path(scratch) / "teacher"
            start = time.perf_counter()
            log = synthetic_log(int(millions * 1_000_000), args.users, args.items, args.seed)
            prepared.save(log, data, shard_rows=args.shard_rows)
            del log
            written = time.perf_counter() - start
            command = [sys.executable, "-c", "from edgerec.cli import main; main()", "teacher", "--recipe", args.recipe,
                       "--set", f"seed={args.seed}", "--data", str(data), "--out", str(out), "--steps", str(args.steps)]
            if args.workers > 1:
                command = [sys.executable, "-m", "edgerec.local_cluster", "--workers", str(args.workers), "--", *command]
            start = time.perf_counter()
            proc = subprocess.run(command, capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"{millions:g}M: edgerec teacher failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
            result = json.loads((out / "teacher.json").read_text())
            shutil.rmtree(data)
        metrics = result["stage"]["metrics"]
        rows.append({"millions": millions, "shards": -(-int(millions * 1_000_000) // args.shard_rows),
                     "steps": result["steps"], "rows_per_second": result["rows_per_second"],
                     "peak_rss_mib": result["peak_rss_mib"], "auc": metrics["auc"], "ndcg@10": metrics["ndcg@10"],
                     "teacher_seconds": round(time.perf_counter() - start, 1), "prepare_seconds": round(written, 1)})
        row = rows[-1]
        print(f"{millions:>6g}M interactions, {row['shards']} shards: {row['steps']} steps, "
              f"{row['rows_per_second']:,.0f} rows/s, peak RSS {row['peak_rss_mib']:,.0f} MiB, "
              f"AUC {row['auc']:.4f}, NDCG@10 {row['ndcg@10']:.4f} (teacher run {row['teacher_seconds']:.0f} s, "
              f"prepare {row['prepare_seconds']:.0f} s)", flush=True)
    ratio = rows[-1]["peak_rss_mib"] / rows[0]["peak_rss_mib"]
    print(f"peak RSS at {rows[-1]['millions']:g}M / at {rows[0]['millions']:g}M: {ratio:.2f}x "
          f"({'within' if ratio <= LIMIT else 'NOT within'} {LIMIT}x)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "ratio": round(ratio, 3), "users": args.users,
                                         "items": args.items, "workers": args.workers, "recipe": args.recipe,
                                         "steps": args.steps}, indent=2) + "\n")


if __name__ == "__main__":
    main()
