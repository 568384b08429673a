"""`distill.ensemble` and `distill.assistants` in a build: an ensemble of teachers supervises an
assistant, which supervises the student and its compression fine-tuning."""

import json

import pytest
import yaml
from click.testing import CliRunner

from device_bench.bundle import ABLATION_JSON, REPORT, read_manifest
from edgerec import recipe as recipe_mod
from edgerec.cli import main

pytestmark = pytest.mark.slow


def test_ensemble_and_assistant_build(tmp_path):
    # setup: the smoke recipe with two teachers and one assistant
    plain = recipe_mod.load("smoke").to_dict()
    plain["distill"].update({"ensemble": 2, "assistants": [{"embedding_dim": 8, "hidden": [16]}]})
    path = tmp_path / "variants.yaml"
    path.write_text(yaml.safe_dump(plain))
    # execute
    result = CliRunner().invoke(main, ["build", "--recipe", str(path), "--out", str(tmp_path / "bundle")])
    # assert
    assert result.exit_code == 0, result.output
    assert "[distill] assistant_0 under the frozen teacher" in result.output
    assert "[distill] student under the frozen assistant_0" in result.output
    manifest = read_manifest(tmp_path / "bundle")
    stages = {s["name"]: s for s in manifest["stages"]}
    assert {"teacher_0", "teacher_1", "teacher (ensemble of 2)", "assistant 0 distilled", "student distilled"} <= set(stages)
    teacher = next(a for a in manifest["artifacts"] if a["role"] == "teacher")
    assert teacher["produced_by"]["stage"] == "teacher (ensemble of 2)"
    assert teacher["keras_metrics"] == stages["teacher (ensemble of 2)"]["metrics"]
    # the exported teacher is the mean of two different members, not one of them
    members = [stages["teacher_0"]["metrics"]["auc"], stages["teacher_1"]["metrics"]["auc"]]
    assert members[0] != members[1]
    assert teacher["parity"]["max_abs_logit_diff"] < 1e-3  # the converted ensemble computes what Keras does


def test_build_runs_the_ablation_when_the_recipe_asks(tmp_path):
    # setup: the smoke recipe with distill.compare, two seeds, one method
    plain = recipe_mod.load("smoke").to_dict()
    plain["distill"]["compare"] = {"seeds": [0, 1], "methods": ["logits"]}
    path = tmp_path / "compare.yaml"
    path.write_text(yaml.safe_dump(plain))
    # execute
    result = CliRunner().invoke(main, ["build", "--recipe", str(path), "--out", str(tmp_path / "bundle")])
    # assert: the ablation used the build's teacher (same metrics), and is in the bundle and its report
    assert result.exit_code == 0, result.output
    ablation = json.loads((tmp_path / "bundle" / ABLATION_JSON).read_text())
    manifest = read_manifest(tmp_path / "bundle")
    teacher = next(s for s in manifest["stages"] if s["name"] == "teacher")
    assert ablation["teacher"]["metrics"] == teacher["metrics"]
    assert [(r["arm"], r["seed"]) for r in ablation["runs"]] == [("scratch", 0), ("logits", 0), ("scratch", 1), ("logits", 1)]
    assert "## Distillation ablation (`distill.compare`)" in (tmp_path / "bundle" / REPORT).read_text()
    assert result.output.count("[teacher] dcn_v2") == 1  # trained once


def test_ensemble_with_hint_distillation_is_refused_before_training(tmp_path):
    plain = recipe_mod.load("smoke").to_dict()
    plain["distill"].update({"ensemble": 2, "methods": [{"name": "hint", "student_layer": "hidden_0",
                                                          "teacher_layer": "hidden_0"}]})
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(plain))
    result = CliRunner().invoke(main, ["build", "--recipe", str(path), "--out", str(tmp_path / "bundle")])
    assert result.exit_code == 2
    assert "distill.ensemble: 2 teachers have no single layer for 'hint'" in result.output
    assert not (tmp_path / "bundle").exists()
