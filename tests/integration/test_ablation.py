"""`edgerec distill --compare` end to end on the smoke recipe: every arm and seed trained, JSON and table written."""

import json

import pytest
from click.testing import CliRunner

from device_bench.bundle import ABLATION_JSON, ABLATION_MD
from edgerec.cli import main

pytestmark = pytest.mark.slow


def test_compare_writes_every_run_and_a_row_per_arm(tmp_path):
    # setup
    out = tmp_path / "ablation"

    # execute
    result = CliRunner().invoke(
        main, ["distill", "--compare", "--recipe", "smoke", "--seeds", "0,1", "--methods", "logits,hint", "--out", str(out)]
    )

    # assert
    assert result.exit_code == 0, result.output
    data = json.loads((out / ABLATION_JSON).read_text())
    assert [a["arm"] for a in data["arms"]] == ["scratch", "logits", "hint"]
    assert data["arms"][2]["config"] == {"name": "hint", "weight": 1.0, "student_layer": "hidden_0",
                                         "teacher_layer": "hidden_1"}
    assert sorted((r["arm"], r["seed"]) for r in data["runs"]) == sorted(
        (arm, seed) for arm in ("scratch", "logits", "hint") for seed in (0, 1)
    )
    for run in data["runs"]:
        assert set(run["metrics"]) == {"auc", "logloss", "hr@10", "ndcg@10"}
        assert 0.5 < run["metrics"]["auc"] <= 1.0
    assert data["gap_metric"] == "ndcg@10" and data["protocol"]["seeds"] == [0, 1]
    # same student seed, same data: the two scratch runs differ only by their seed, so they must differ
    scratch = [r["metrics"]["ndcg@10"] for r in data["runs"] if r["arm"] == "scratch"]
    assert scratch[0] != scratch[1]
    for summary in data["summary"]:
        assert len(summary["gap_closed"]["per_seed"]) == 2
        assert summary["metrics"]["ndcg@10"]["std"] is not None
    assert isinstance(data["verdict"]["met"], bool) and data["verdict"]["text"]

    table = (out / ABLATION_MD).read_text()
    for row in ("| teacher |", "| scratch (labels only) |", "| logits |", "| hint (hidden_0 → hidden_1) |"):
        assert row in table
    assert data["verdict"]["text"] in table
