"""Print the spine's goals as ratios measured in one bundle, side by side.

    python bench/spine_targets.py out/bundle

Goals (issue "The spine"): student_int8 >= 10x smaller than the teacher, its AUC >= 0.99x and
NDCG@10 >= 0.97x the teacher's (both measured by the interpreter on eval.npz), and the teacher
beating the student trained alone on NDCG@10. Exit status 1 if a goal is missed, so the script
can gate a pipeline; the numbers are whatever this bundle measured.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(bundle: Path) -> int:
    rows = {r["artifact"]: r for r in json.loads((bundle / "bench.json").read_text())["rows"] if r["threads"] == 1}
    teacher, int8, scratch = rows["teacher.tflite"], rows["student_int8.tflite"], rows["student_scratch.tflite"]
    goals = [
        ("size: teacher bytes / student_int8 bytes", teacher["bytes"] / int8["bytes"], ">=", 10.0),
        ("AUC: student_int8 / teacher", int8["metrics"]["auc"] / teacher["metrics"]["auc"], ">=", 0.99),
        ("NDCG@10: student_int8 / teacher", int8["metrics"]["ndcg@10"] / teacher["metrics"]["ndcg@10"], ">=", 0.97),
        ("NDCG@10: teacher / student alone", teacher["metrics"]["ndcg@10"] / scratch["metrics"]["ndcg@10"], ">", 1.0),
        ("p50 latency: teacher / student_int8", teacher["latency_us"]["p50"] / int8["latency_us"]["p50"], "", None),
    ]
    missed = 0
    for name, value, op, target in goals:
        if target is None:
            print(f"{name:45s} {value:8.3f}   (reported, no goal)")
            continue
        ok = value >= target if op == ">=" else value > target
        missed += not ok
        print(f"{name:45s} {value:8.3f}   goal {op} {target:<5}  {'met' if ok else 'MISSED'}")
    return 1 if missed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
