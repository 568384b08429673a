"""CI gate for the device-only run: one complete, ok row per artifact in the bundle's manifest.

    python .ci/check_bench_rows.py BENCH_JSON BUNDLE
"""

import json
import sys

from device_bench import bundle, metrics, rows

result = json.load(open(sys.argv[1]))
manifest = bundle.read_manifest(sys.argv[2])
expected = [a["file"] for a in manifest["artifacts"]]
problems = []
if [r["artifact"] for r in result["rows"]] != expected:
    problems.append(f"rows {[r['artifact'] for r in result['rows']]} != artifacts {expected}")
for row in result["rows"]:
    if tuple(row) != rows.ROW_KEYS:
        problems.append(f"{row['artifact']}: keys {tuple(row)}")
    if row["status"] != rows.OK:
        problems.append(f"{row['artifact']}: {row['status']}")
    if set(row["metrics"]) != set(metrics.keys()):
        problems.append(f"{row['artifact']}: metrics {sorted(row['metrics'])}")
print(f"device rows: {len(result['rows']) - len(problems)} ok; runtime {result['rows'][0]['runtime']}")
if problems:
    print("\n".join(problems))
    sys.exit(1)
