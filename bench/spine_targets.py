"""Print the spine's goals as ratios measured in one bundle, side by side.

    python bench/spine_targets.py out/bundle

Goals (issue "The spine"): student_int8 >= 10x smaller than the teacher, its AUC >= 0.99x and
NDCG@10 >= 0.97x the teacher's (both measured by the interpreter on eval.npz), and the teacher
beating the student trained alone on NDCG@10. Exit status 1 if a goal is missed, so the script
can gate a pipeline; the numbers are whatever this bundle measured. A ratio whose metric the
bundle does not have (NDCG@10 of a CTR bundle, a failed row) prints "n/a" and is not a miss.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from device_bench import bundle as bundle_files


def _value(row: dict, key: str) -> float | None:
    return row.get("bytes") if key == "bytes" else (row.get("metrics") or {}).get(key)


def _ratio(a: dict, b: dict, key: str) -> float | None:
    """key of row a / key of row b, or None when either lacks it (a metric the task cannot give)."""
    x, y = _value(a, key), _value(b, key)
    return None if x is None or not y else x / y


def main(bundle: Path) -> int:
    bench = json.loads((bundle / bundle_files.BENCH).read_text())
    rows = {r["artifact"]: r for r in bench["rows"] if r["threads"] == 1}
    teacher, int8, scratch = (rows[bundle_files.artifact_file(name)] for name in
                              (bundle_files.TEACHER, bundle_files.STUDENT_INT8, bundle_files.STUDENT_SCRATCH))
    goals = [
        ("size: teacher bytes / student_int8 bytes", _ratio(teacher, int8, "bytes"), ">=", 10.0),
        ("AUC: student_int8 / teacher", _ratio(int8, teacher, "auc"), ">=", 0.99),
        ("NDCG@10: student_int8 / teacher", _ratio(int8, teacher, "ndcg@10"), ">=", 0.97),
        ("NDCG@10: teacher / student alone", _ratio(teacher, scratch, "ndcg@10"), ">", 1.0),
        ("p50 latency: teacher / student_int8", teacher["latency_us"]["p50"] / int8["latency_us"]["p50"], "", None),
    ]
    missed = 0
    for name, value, op, target in goals:
        if value is None:
            print(f"{name:45s} {'n/a':>8s}   (not measured in this bundle, e.g. no ranking metrics for CTR data)")
            continue
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
