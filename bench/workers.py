"""One worker against two: the teacher `edgerec teacher` trains on a streamed log, on 1 process and on a
local 2-worker cluster (MultiWorkerMirroredStrategy over 127.0.0.1), scored on the same held-out users.

    python bench/workers.py                      # the default preset, the default recipe's teacher
    python bench/workers.py --preset smoke --recipe smoke

The preset's interactions are written as Parquet shards (`--shard-rows`), then each run trains the
recipe's teacher as `edgerec teacher` does (same seed, same global batches: each of two workers
trains on its half of every batch one process trains on) and the script prints both runs' held-out AUC and NDCG@10, their
differences, throughput and peak memory per worker. On this 2-core machine the two workers share
the cores, so their rows/s says what the collectives cost, not what a second machine would add.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="default")
    parser.add_argument("--preset", default="default", help="data.synthetic_size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shard-rows", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=None, help="fixed steps instead of the recipe's epochs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    from edgerec.data import prepared, synthetic

    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        prepared.save(synthetic.generate(args.preset, args.seed), data, shard_rows=args.shard_rows)
        command = [sys.executable, "-c", "from edgerec.cli import main; main()", "teacher", "--recipe", args.recipe,
                   "--set", f"seed={args.seed}", "--data", str(data)]
        command += ["--steps", str(args.steps)] if args.steps else []
        results = {}
        for workers in (1, 2):
            out = Path(scratch) / f"workers{workers}"
            start = time.perf_counter()
            if workers == 1:
                run = [*command, "--out", str(out)]
            else:
                run = [sys.executable, "-m", "edgerec.local_cluster", "--workers", "2", "--", *command, "--out", str(out)]
            proc = subprocess.run(run, capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"{workers} worker(s) failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
            result = json.loads((out / "teacher.json").read_text())
            result["wall_seconds"] = round(time.perf_counter() - start, 1)
            results[workers] = result
    rows = []
    for workers, result in results.items():
        metrics = result["stage"]["metrics"]
        rows.append({"workers": workers, "auc": metrics["auc"], "ndcg@10": metrics["ndcg@10"],
                     "steps": result["steps"], "best_epoch": result["stage"]["curve"]["best_epoch"],
                     "rows_per_second": result["rows_per_second"], "peak_rss_mib": result["peak_rss_mib"],
                     "wall_seconds": result["wall_seconds"]})
    print(f"preset {args.preset}, recipe {args.recipe}, seed {args.seed}: {results[1]['task']}")
    print(f"{'workers':>7} {'AUC':>7} {'NDCG@10':>8} {'steps':>6} {'best ep':>7} {'rows/s':>9} {'RSS MiB':>8} {'wall s':>7}")
    for row in rows:
        print(f"{row['workers']:>7} {row['auc']:>7.4f} {row['ndcg@10']:>8.4f} {row['steps']:>6} {row['best_epoch']:>7} "
              f"{row['rows_per_second']:>9,.0f} {row['peak_rss_mib']:>8,.0f} {row['wall_seconds']:>7.0f}")
    deltas = {key: round(rows[1][key] - rows[0][key], 4) for key in ("auc", "ndcg@10")}
    print(f"2 workers - 1 worker: AUC {deltas['auc']:+.4f}, NDCG@10 {deltas['ndcg@10']:+.4f} "
          f"({'within' if max(map(abs, deltas.values())) <= 0.002 else 'NOT within'} 0.002)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "deltas": deltas, "preset": args.preset,
                                         "recipe": args.recipe, "seed": args.seed}, indent=2) + "\n")


if __name__ == "__main__":
    main()
