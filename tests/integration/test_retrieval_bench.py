"""bench/retrieval.py on the smoke bundle and tiny catalogues: every configuration measured in every round."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "retrieval.py"
SIZES, REPEATS = (200, 4000), 2


def test_retrieval_bench_measures_every_size_and_the_bundle_pair_in_every_round(smoke_bundle, tmp_path):
    # execute: the smoke recipe's retrieval width (4-d) keeps the build to seconds
    out = tmp_path / "retrieval.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--bundle", str(smoke_bundle), "--recipe", "smoke",
         "--sizes", ",".join(map(str, SIZES)), "--threads", "1", "--repeats", str(REPEATS), "--json", str(out)],
        capture_output=True, text=True, timeout=900,
    )
    # assert: one ok row per configuration and round, with its latency
    assert out.is_file(), proc.stdout + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    expected = {("synthetic recommend", n, 1, 1) for n in SIZES}
    expected |= {("bundle recommend", result["bundle_items"], 1, 1), ("bundle ranker", result["bundle_items"], 1, 4000)}
    seen = [(r["kind"], r["items"], r["threads"], r["batch"]) for r in result["rows"]]
    assert sorted(seen) == sorted(list(expected) * REPEATS)
    for row in result["rows"]:
        assert row["status"] == "ok", row
        latency = row["latency_us"]
        assert all(math.isfinite(latency[k]) and latency[k] > 0 for k in ("p50", "p90", "mean")), row
        assert row["bytes"] > 0
    # every round's ratio is paired with the same round's ranker, for the bundle and the 4,000-item catalogue
    ratios = result["summary"]["ratios_to_ranker"]
    assert set(ratios) == {"bundle recommend", "synthetic recommend"}
    for ratio in ratios.values():
        assert len(ratio["per_repeat"]) == REPEATS and ratio["ratio"]["min"] <= ratio["ratio"]["median"] <= ratio["ratio"]["max"]
        assert ratio["met"] == (ratio["ratio"]["median"] <= 0.5)
    assert proc.returncode == (0 if result["summary"]["goal_met"] else 1), proc.stderr[-3000:]
    sizes = {c["items"]: c["bytes"] for c in result["summary"]["configs"] if c["kind"] == "synthetic recommend"}
    assert sizes[4000] > sizes[200]  # the item vectors are in the file
    assert "Published figures, NOT measured here" in proc.stdout and "0.05–0.09 ms" in proc.stdout
