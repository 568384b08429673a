"""`edgerec data prepare --source criteo` + `edgerec build --data` on a made-up Criteo TSV: a CTR bundle."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from device_bench.bundle import BENCH, EVAL_SET, REPORT, read_manifest
from edgerec.cli import main
from tests.utils import write_criteo

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def criteo_bundle(tmp_path_factory) -> Path:
    # setup: a TSV with a click signal in C1, C2 and I1, prepared once
    folder = tmp_path_factory.mktemp("criteo")
    write_criteo(folder / "day_0.tsv", rows=4000)
    runner = CliRunner()
    prepared = runner.invoke(main, ["data", "prepare", "--source", "criteo", "--path", str(folder / "day_0.tsv"),
                                    "--out", str(folder / "prepared"), "--min-count", "5"])
    assert prepared.exit_code == 0, prepared.output
    assert "prepared 4000 rows, click rate" in prepared.output
    # execute
    result = runner.invoke(main, ["build", "--recipe", "smoke", "--data", str(folder / "prepared"),
                                  "--out", str(folder / "bundle")])
    assert result.exit_code == 0, result.output
    return folder / "bundle"


def test_ctr_manifest_records_the_criteo_schema_and_pointwise_metrics_only(criteo_bundle):
    manifest = read_manifest(criteo_bundle)
    names = [f["name"] for f in manifest["schema"]["features"]]
    assert names == [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)]
    assert {f["owner"] for f in manifest["schema"]["features"]} == {"row"}
    assert manifest["schema"]["label"].startswith("click")
    assert manifest["eval"]["metrics"] == ["auc", "logloss"]
    assert "no ranking metrics" in manifest["eval"]["protocol"]
    for stage in manifest["stages"]:
        assert set(stage["metrics"]) == {"auc", "logloss"}, stage
    for artifact in manifest["artifacts"]:
        assert "top10_overlap" not in artifact["parity"]


def test_models_learn_the_click_signal_and_the_teacher_beats_the_prior(criteo_bundle):
    stages = {s["name"]: s["metrics"] for s in read_manifest(criteo_bundle)["stages"]}
    prior = stages.pop("click-rate prior (baseline)")
    assert prior["auc"] == 0.5
    assert stages["teacher"]["auc"] > 0.75 and stages["teacher"]["logloss"] < prior["logloss"], stages["teacher"]
    # the smoke recipe's students get 2 epochs of 15 steps: they rank above chance, calibration is not asserted
    for name, metrics in stages.items():
        assert metrics["auc"] > 0.6, (name, metrics)


def test_eval_set_has_no_ranking_part_and_every_artifact_is_scored_on_the_device(criteo_bundle):
    with np.load(criteo_bundle / EVAL_SET) as npz:
        assert not [k for k in npz.files if k.startswith("ranking/")]
        assert npz["pointwise/label"].shape == npz["pointwise/C1"].shape
    rows = json.loads((criteo_bundle / BENCH).read_text())["rows"]
    assert [r["status"] for r in rows] == ["ok"] * 4
    for row in rows:
        assert set(row["metrics"]) == {"auc", "logloss"}, row
        assert row["metrics"]["auc"] > 0.6, row


def test_report_and_spine_targets_say_n_a_for_ranking_metrics(criteo_bundle):
    report = (criteo_bundle / REPORT).read_text()
    assert "| n/a | n/a |" in report and "click rate" in report
    assert not list(criteo_bundle.glob("ndcg10_*.png"))
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "spine_targets.py"), str(criteo_bundle)],
                            capture_output=True, text=True)
    assert "Traceback" not in result.stderr, result.stderr
    ndcg = [line for line in result.stdout.splitlines() if line.startswith("NDCG@10")]
    assert len(ndcg) == 2 and all("n/a" in line for line in ndcg), result.stdout
