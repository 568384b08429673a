"""CI gate for a device-only run: complete, ok rows for every artifact in the bundle's manifest, in its
order, the same number of rows each (one per thread count and batch benched), each with every metric
it has: the task's, plus the full-catalogue ones for the retrieval artifact and the two-stage ones for
every ranker of a bundle that has one.

    python .ci/check_bench_rows.py BENCH_JSON BUNDLE [REFERENCE_JSON]

With REFERENCE_JSON (another platform's or Python's bench of the same bundle), every artifact's
metrics must also equal the reference's within TOLERANCE.
"""

import json
import sys

TOLERANCE = 1e-4

from device_bench import bundle, metrics, rows

result = json.load(open(sys.argv[1]))
manifest = bundle.read_manifest(sys.argv[2])
expected = [a["file"] for a in manifest["artifacts"]]
retrieval = {a["file"] for a in manifest["artifacts"] if a.get("role") == bundle.RETRIEVAL}
extra = {True: set(metrics.retrieval_keys(metrics.CATALOGUE)),
         False: set(metrics.retrieval_keys(metrics.RERANKED)) if retrieval else set()}
problems = []
names = [r["artifact"] for r in result["rows"]]
if list(dict.fromkeys(names)) != expected or len({names.count(name) for name in expected}) != 1:
    problems.append(f"rows {names} != artifacts {expected}, each the same number of times")
for row in result["rows"]:
    if tuple(row) != rows.ROW_KEYS:
        problems.append(f"{row['artifact']}: keys {tuple(row)}")
    if row["status"] != rows.OK:
        problems.append(f"{row['artifact']}: {row['status']}")
    if set(row["metrics"]) != set(metrics.keys()) | extra[row["artifact"] in retrieval]:
        problems.append(f"{row['artifact']}: metrics {sorted(row['metrics'])}")
if len(sys.argv) > 3:
    reference = {r["artifact"]: r["metrics"] for r in json.load(open(sys.argv[3]))["rows"]}
    for row in result["rows"]:
        for key, value in (row["metrics"] or {}).items():
            expected_value = (reference.get(row["artifact"]) or {}).get(key)
            if expected_value is None or abs(value - expected_value) > TOLERANCE:
                problems.append(f"{row['artifact']}: {key} {value} against {expected_value} in {sys.argv[3]}")
print(f"device rows: {len(result['rows']) - len(problems)} ok; runtime {result['rows'][0]['runtime']}")
if problems:
    print("\n".join(problems))
    sys.exit(1)
