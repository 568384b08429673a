"""Build checkpoints: what a killed build leaves is enough to resume it, and nothing else is trusted."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from device_bench.bundle import MANIFEST
from edgerec.checkpoints import STATE_DIR, BuildState, ResumeError
from edgerec.cli import main
from tests.utils import assert_one_line_error

FINGERPRINT = {"recipe": {"name": "smoke", "seed": 0}, "data": None, "versions": {"tensorflow": "2.21.0"}}


def test_saved_weights_come_back_bit_exact_and_in_order(tmp_path):
    # setup
    state = BuildState.start(tmp_path, FINGERPRINT)
    weights = [np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32), np.arange(5, dtype=np.int64)]
    # execute
    state.save("compress/0_low_rank", {"name": "+ low_rank", "metrics": {"auc": 0.7}}, weights)
    resumed = BuildState.resume(tmp_path, FINGERPRINT)
    # assert
    assert resumed.done("compress/0_low_rank") == {"name": "+ low_rank", "metrics": {"auc": 0.7}}
    assert resumed.done("teacher") is None
    restored = resumed.weights("compress/0_low_rank")
    assert len(restored) == 2 and all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(weights, restored))


def test_a_stage_is_recorded_only_after_its_weights_file_is_whole(tmp_path, monkeypatch):
    # setup: one stage finished; the next one's weights write dies half-way, as under kill -9
    state = BuildState.start(tmp_path, FINGERPRINT)
    state.save("data", {})

    def dying_savez(fh, *arrays):
        fh.write(b"PK\x03\x04 half")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", dying_savez)
    # execute
    with pytest.raises(KeyboardInterrupt):
        state.save("teacher", {"name": "teacher"}, [np.zeros(3)])
    # assert: the state does not name the stage and no file sits under its final name
    saved = json.loads((tmp_path / STATE_DIR / "state.json").read_text())
    assert saved["stages"] == {"data": {}}
    assert not (tmp_path / STATE_DIR / "teacher.npz").exists()


def test_resume_refuses_another_recipe_and_names_what_changed(tmp_path):
    # setup
    BuildState.start(tmp_path, FINGERPRINT).save("teacher", {})
    other = {**FINGERPRINT, "recipe": {"name": "smoke", "seed": 1}}
    # execute / assert
    with pytest.raises(ResumeError, match="started with a different recipe; resume it with the same ones, or use --force"):
        BuildState.resume(tmp_path, other)


def test_finish_removes_the_checkpoints(tmp_path):
    state = BuildState.start(tmp_path, FINGERPRINT)
    state.save("teacher", {}, [np.zeros(2)])
    state.finish()
    assert not (tmp_path / STATE_DIR).exists() and not BuildState.exists(tmp_path)


def _build(*args):
    return CliRunner().invoke(main, ["build", "--recipe", "smoke", *args])


def test_a_fresh_state_writes_nothing_until_a_stage_finishes(tmp_path):
    BuildState.start(tmp_path, FINGERPRINT)
    assert not (tmp_path / STATE_DIR).exists()


def test_an_interrupted_build_is_not_overwritten_without_resume_or_force(tmp_path):
    BuildState.start(tmp_path, FINGERPRINT).save("teacher", {})
    assert_one_line_error(_build("--out", str(tmp_path)), "holds an interrupted build", "--resume", "--force")


def test_resume_of_a_complete_bundle_is_refused(tmp_path):
    (tmp_path / MANIFEST).write_text("{}")
    assert_one_line_error(_build("--out", str(tmp_path), "--resume"), "complete bundle, nothing to resume")


def test_resume_and_force_together_are_refused(tmp_path):
    assert_one_line_error(_build("--out", str(tmp_path), "--resume", "--force"), "--resume and --force")


def test_resume_with_another_recipe_is_refused_before_any_training(tmp_path):
    BuildState.start(tmp_path, {"recipe": {}, "data": None, "versions": {}}).save("teacher", {})
    assert_one_line_error(_build("--out", str(tmp_path), "--resume"), "started with a different recipe and versions")


def test_a_bad_step_parameter_fails_before_any_training(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("compress:\n  - name: low_rank\n    params: {rank: 0}\n")
    result = CliRunner().invoke(main, ["build", "--recipe", str(recipe), "--out", str(tmp_path / "o")])
    assert_one_line_error(result, "compress step 'low_rank': rank must be")
    assert not (tmp_path / "o").exists()


def test_a_layer_name_the_student_lacks_fails_before_any_training(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("data: {synthetic_size: smoke}\ncompress:\n  - name: low_rank\n    params: {layers: [hiden_0]}\n")
    result = CliRunner().invoke(main, ["build", "--recipe", str(recipe), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    error = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert error and "compress step 'low_rank': layers: 'hiden_0' is not a layer" in error[0], result.output
    assert "Did you mean 'hidden_0'" in error[0]
    assert "[teacher]" not in result.output  # after loading the data, before any training
    assert not (tmp_path / "o").exists()


def test_a_complete_bundle_is_not_overwritten_without_force(tmp_path):
    (tmp_path / MANIFEST).write_text("{}")
    assert_one_line_error(_build("--out", str(tmp_path)), "already holds a bundle (manifest.json)", "--force")


def test_compression_fine_tunes_record_their_curves_and_a_resumed_build_restores_them(tiny_teacher, tiny_student,
                                                                                     tmp_path):
    from edgerec.data.task import RankingTask
    from edgerec.recipe import DataConfig, Recipe, StepConfig, TrainConfig
    from edgerec.sequence import CheckpointedRunner
    from edgerec.stages import compress
    from tests.utils import tiny_interactions

    # setup: one fine-tuned step (through train.fit) and one calibrated step (0 epochs: no training loop)
    task = RankingTask(tiny_interactions(), DataConfig(negatives_per_positive=2, eval_candidates=10), seed=0,
                       validation=True)
    recipe = Recipe(name="tiny", student_training=TrainConfig(max_epochs=1, batch_size=64, learning_rate=0.01))
    steps = [StepConfig("low_rank", {"rank": 2, "layers": ["hidden_0"]}, finetune_epochs=1),
             StepConfig("prune", {"target_sparsity": 0.5, "layers": ["hidden_0"]}, finetune_epochs=0)]
    logged = []

    def chain(state):
        return compress(tiny_teacher, tiny_student, task, recipe, steps, logged.append,
                        CheckpointedRunner(state, task, 0, logged.append))

    # execute
    first = chain(BuildState.start(tmp_path, FINGERPRINT))
    again = chain(BuildState.resume(tmp_path, FINGERPRINT))
    # assert: the fine-tune's curve (epoch 0: the step before fine-tuning) is in its stage record, the
    # calibration has none, both survive --resume
    curve = first.stages[0].curve
    assert [e["epoch"] for e in curve["epochs"]] == [0, 1] and curve["monitor"] == "ndcg@10"
    assert curve["epochs"][0]["loss"] is None and curve["best_epoch"] in (0, 1)
    assert first.stages[1].curve is None
    assert sum("restored from its checkpoint" in line for line in logged) == len(steps)
    assert [s.curve for s in again.stages] == [s.curve for s in first.stages]
