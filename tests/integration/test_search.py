"""End to end: `edgerec compress --sensitivity` and `edgerec build --target` on the smoke recipe."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from device_bench.bundle import REPORT, SEARCH_JSON, SEARCH_MD, read_manifest
from edgerec import compress, recipe
from edgerec.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def one_epoch_recipe(tmp_path_factory):
    plain = recipe.load("smoke").to_dict()
    plain["teacher_training"]["max_epochs"] = plain["student_training"]["max_epochs"] = 1
    path = tmp_path_factory.mktemp("recipe") / "one_epoch.yaml"
    path.write_text(yaml.safe_dump(plain))
    return path


def test_sensitivity_probes_every_eligible_layer_and_candidate(one_epoch_recipe, tmp_path):
    # execute
    result = CliRunner().invoke(main, ["compress", "--sensitivity", "--recipe", str(one_epoch_recipe),
                                       "--steps", "low_rank,prune", "--out", str(tmp_path)])
    # assert
    assert result.exit_code == 0, result.output
    assert "no fine-tuning" in result.output and "| low_rank | hidden_0 |" in result.output
    data = json.loads((tmp_path / "sensitivity.json").read_text())
    assert data["finetune_epochs"] == 0 and data["steps"] == ["low_rank", "prune"]
    # the smoke student has two dense layers (hidden_0, score); each step's candidates on each
    assert [(r["step"], r["layer"], r["setting"]) for r in data["rows"]] == [
        (step, layer, setting) for step in ("low_rank", "prune") for layer in ("hidden_0", "score")
        for setting in compress.get(step).candidates()]
    base = data["baseline"]
    for row in data["rows"]:
        assert row["status"] == "ok"
        assert row["bytes_saved"] == base["bytes"] - row["bytes"]
        assert row["drop"]["auc"] == pytest.approx(base["metrics"]["auc"] - row["metrics"]["auc"], abs=1e-6)
    # the most aggressive pruning of the 1-unit score layer costs more accuracy than the mildest
    prune_score = [r for r in data["rows"] if r["step"] == "prune" and r["layer"] == "score"]
    assert prune_score[-1]["drop"]["auc"] > prune_score[0]["drop"]["auc"]
    assert "validation split" in (tmp_path / "sensitivity.md").read_text()


def test_target_build_ships_a_chain_from_the_front_and_says_whether_it_meets(one_epoch_recipe, tmp_path):
    # execute
    out = tmp_path / "bundle"
    result = CliRunner().invoke(main, ["build", "--recipe", str(one_epoch_recipe), "--out", str(out),
                                       "--target", "auc>=0.999*teacher,ndcg@10>=0.99*teacher", "--search-trials", "2"])
    # assert
    assert result.exit_code == 0, result.output
    search = json.loads((out / SEARCH_JSON).read_text())
    chosen = search["trials"][search["chosen"]]
    assert chosen["on_front"] and search["chosen"] in search["front"]
    teacher = search["teacher_metrics"]
    meets = chosen["metrics"]["auc"] >= 0.999 * teacher["auc"] and chosen["metrics"]["ndcg@10"] >= 0.99 * teacher["ndcg@10"]
    assert search["met"] == meets == chosen["meets"]
    if search["met"]:  # the smallest of the front's trials that meet the target
        assert chosen["bytes"] == min(t["bytes"] for t in search["trials"] if t["meets"] and t["on_front"])
    else:
        assert "NO TRIAL MET THE TARGET" in read_manifest(out)["search"]["note"]
        assert "does NOT meet it" in (out / REPORT).read_text()
    kinds = [t["kind"] for t in search["trials"]]
    assert kinds[0] == "baseline" and kinds.count("probe") == len(search["sensitivity"]) > 0
    counted = kinds.count("recipe") + kinds.count("chain") + kinds.count("precision")
    assert search["counted_trials"] <= 2 and counted == search["counted_trials"]
    # 2 trials cover no wider width (2 trainings, then a chain for each width): the recipe's alone
    assert [w["multiplier"] for w in search["widths"]] == [1] and search["widths"][0]["student_trainings"] == 0
    # precision is probed per dense layer of the smoke student: the empty chain, that layer in float32
    precision = [r for r in search["sensitivity"] if r["step"] == "keep_float"]
    assert [r["layer"] for r in precision] == ["hidden_0", "score"]
    assert all(r["status"] == "ok" for r in precision)
    # hidden_0's float32 kernel costs bytes; a layer as small as `score` (one output) may even shrink
    # the file, its quantize/dequantize pair and scales outweighing its few weights
    assert precision[0]["bytes_saved"] < 0
    # the shipped artifact is the chosen chain, rebuilt by the pipeline: the same file the trial measured
    manifest = read_manifest(out)
    int8 = next(a for a in manifest["artifacts"] if a["file"] == "student_int8.tflite")
    assert [s["step"] for s in int8["produced_by"]["steps"]] == [s["name"] for s in chosen["steps"]]
    assert int8["bytes"] == chosen["bytes"]
    assert int8["produced_by"].get("keep_float", []) == chosen["keep_float"] == manifest["search"]["keep_float"]
    assert manifest["search"]["chosen_trial"] == chosen["id"]
    assert manifest["recipe"]["compress"] == chosen["steps"]  # the recipe that ships
    for name in ("search.md", "search.png", "bench.json", "report.md"):
        assert (out / name).is_file(), name
    assert "← chosen" in (out / SEARCH_MD).read_text()


def test_a_floor_only_a_wider_student_reaches_ships_that_width(tmp_path, monkeypatch):
    from edgerec.search import sensitivity

    # setup: the smoke recipe with a one-unit student (embedding 1, hidden [1]) and x8 of it (8, [8]);
    # the sweep is cut to QAT's probes to keep the test short (the search logic is the same); the floor is
    # 0.95x the teacher because on the smoke data a one-unit student already reaches ~0.85x (popularity level)
    plain = recipe.load("smoke").to_dict()
    plain["student"] = {"embedding_dim": 1, "hidden": [1]}
    path = tmp_path / "narrow.yaml"
    path.write_text(yaml.safe_dump(plain))
    monkeypatch.setattr(sensitivity, "default_steps", lambda: ["qat"])
    out = tmp_path / "bundle"
    # execute
    result = CliRunner().invoke(main, ["build", "--recipe", str(path), "--out", str(out), "--target",
                                       "ndcg@10>=0.95*teacher", "--student-widths", "1,8", "--search-trials", "4"])
    # assert
    assert result.exit_code == 0, result.output
    search = json.loads((out / SEARCH_JSON).read_text())
    by_width = {w["multiplier"]: [search["trials"][i] for i in w["trials"]] for w in search["widths"]}
    assert not any(t["meets"] for t in by_width[1])  # the narrow student cannot reach the floor
    assert [(w["multiplier"], w["embedding_dim"], w["hidden"], w["student_trainings"]) for w in search["widths"]] == [
        (1, 1, [1], 0), (8, 8, [8], 2)]
    assert search["counted_trials"] == 4 == 2 + sum(w["chains"] for w in search["widths"])
    chosen = search["trials"][search["chosen"]]
    assert search["met"] and chosen["width"]["multiplier"] == 8
    assert chosen["bytes"] == min(t["bytes"] for t in by_width[8] if t["meets"] and t["on_front"])
    # the bundle ships that width, and the manifest's recipe is the one that rebuilds it
    manifest = read_manifest(out)
    assert manifest["search"]["width"] == chosen["width"]
    shipped = manifest["recipe"]
    assert (shipped["student"]["embedding_dim"], shipped["student"]["hidden"]) == (8, [8])
    assert shipped["compress"] == chosen["steps"] and shipped["export"]["keep_float"] == chosen["keep_float"]
    int8 = next(a for a in manifest["artifacts"] if a["file"] == "student_int8.tflite")
    assert int8["bytes"] == chosen["bytes"]
    # the report names the width on the front and in the verdict
    text = (out / SEARCH_MD).read_text()
    assert "| x8 (embedding 8, hidden [8]) |" in text.split("## The size/accuracy front")[1].split("## Every trial")[0]
    assert "on student width x8 (embedding 8, hidden [8])" in (out / REPORT).read_text()
