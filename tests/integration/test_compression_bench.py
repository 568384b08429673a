"""bench/compression.py on the smoke recipe: one row per registered step, the chain, PTQ and fp32."""

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from edgerec import compress

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "compression.py"
MODES = ("int8", "int16x8", "fp16", "dynamic")
TARGET = "auc>=0.99*teacher"


def test_compression_bench_has_a_measured_row_per_step_chain_ptq_and_fp32(smoke_bundle, tmp_path):
    # execute
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--recipe", "smoke", "--out", str(tmp_path), "--targets", TARGET,
         "--search-trials", "2"],
        capture_output=True, text=True, timeout=1800,
    )
    # assert: every variant built, converted and measured
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    result = json.loads((tmp_path / "compression.json").read_text())
    rows = {(r["variant"], r["mode"]): r for r in result["rows"]}
    expected = {("fp32", "fp32")} | {("PTQ", m) for m in MODES} | {("chain", m) for m in MODES}
    expected |= {(f"{name} alone", "int8") for name in compress.REGISTRY} | {(f"search: {TARGET}", "int8")}
    assert set(rows) == expected and len(result["rows"]) == len(expected) + 1  # teacher and student are both fp32
    for row in result["rows"]:
        assert row["status"] == "ok", row
        numbers = [row["bytes"], row["p50_us"], *row["vs_teacher"].values(),
                   *(row["tflite_metrics"][k] for k in ("auc", "ndcg@10")), row["keras_metrics"]["auc"]]
        assert all(isinstance(x, (int, float)) and math.isfinite(x) and x > 0 for x in numbers), row
    teacher = next(r for r in result["rows"] if r["name"] == "teacher")
    assert teacher["vs_teacher"] == {"size": 1.0, "p50": 1.0, "auc": 1.0, "ndcg@10": 1.0}
    assert rows[("PTQ", "int8")]["vs_teacher"]["size"] < rows[("PTQ", "fp16")]["vs_teacher"]["size"] < 1
    # the chain is the build's: same recipe, same seeds -> the same int8 bytes as the smoke bundle's
    chain = (tmp_path / rows[("chain", "int8")]["file"]).read_bytes()
    assert hashlib.sha256(chain).hexdigest() == hashlib.sha256((smoke_bundle / "student_int8.tflite").read_bytes()).hexdigest()
    # the search chose on validation (search_0/search.json) and its chain was measured like any row
    searched = json.loads((tmp_path / "search_0" / "search.json").read_text())
    assert rows[(f"search: {TARGET}", "int8")]["steps"] is not None and "auc" in searched["target"]
    # the frontier: per floor, the smallest measured row whose held-out ratios meet it
    for entry in result["frontier"]:
        measured = [r for r in result["rows"] if r["bytes"] is not None]
        meeting = [r for r in measured if all(r["vs_teacher"][k] >= f for k, f in entry["factors"].items())]
        assert entry["bytes"] == min(r["bytes"] for r in meeting)
    markdown = (tmp_path / "compression.md").read_text()
    assert markdown.count("\n| ") == len(result["rows"]) + 1 + len(result["frontier"]) + 1
    assert "| chain | int16x8 |" in markdown
    assert not list(tmp_path.glob(".*.tmp"))
