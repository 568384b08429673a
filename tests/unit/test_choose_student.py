"""The shipped student is the best distillation candidate on validation, and never worse than the
student trained alone."""

from __future__ import annotations

import dataclasses

import pytest

def _task(users: int, per_user: int):
    from edgerec.data.task import RankingTask
    from edgerec.recipe import DataConfig
    from tests.utils import tiny_interactions

    return RankingTask(tiny_interactions(users=users, per_user=per_user),
                       DataConfig(negatives_per_positive=2, eval_candidates=10), seed=0, validation=True)


@pytest.fixture(scope="module")
def task():
    return _task(users=40, per_user=8)


@pytest.fixture(scope="module")
def wider_task():
    """Enough users (a validation interaction each) that a random teacher's harm stands out of the noise."""
    return _task(users=100, per_user=10)


def _tiny_recipe(epochs: int = 1, **distill):
    """A tiny teacher (one epoch) and student (`epochs`); `distill` sets the distillation section (lists give candidates)."""
    from edgerec.recipe import DistillConfig, ModelConfig, Recipe, TrainConfig

    config = TrainConfig(max_epochs=epochs, patience=epochs, batch_size=64, learning_rate=0.02)
    return Recipe(name="tiny", teacher=ModelConfig(embedding_dim=8, hidden=(16,)),
                  student=ModelConfig(embedding_dim=4, hidden=(8,)), teacher_training=dataclasses.replace(config, max_epochs=1),
                  student_training=config, distill=DistillConfig(**distill))


@pytest.fixture(scope="module")
def candidates(wider_task):
    """A random teacher (weights of unit scale: it prefers items at random, and strongly), the student
    trained alone and one student distilled from it at each of two alphas, imitating it with all or
    almost all the weight, as `sequence.Candidate`s."""
    import numpy as np

    from edgerec.models.zoo import build_ranker
    from edgerec.sequence import Candidate
    from edgerec.stages import Stage, distill, seed_stage, train_alone

    recipe = _tiny_recipe(epochs=4, alpha=(0.0, 0.05))
    teacher = build_ranker(wider_task.features, recipe.teacher, "teacher", seed=3)
    rng = np.random.default_rng(7)
    teacher.set_weights([rng.normal(0.0, 1.0, w.shape).astype(w.dtype) for w in teacher.get_weights()])
    seed_stage(recipe.seed, "student_scratch")  # as the build does: the same numbers in any test order
    alone = build_ranker(wider_task.features, recipe.student, "student_scratch", seed=0)
    train_alone(alone, wider_task, recipe.student, recipe.student_training, "alone", _quiet)
    distilled = []
    for index, setting in enumerate(recipe.distill.candidates()):
        seed_stage(recipe.seed, f"student_c{index}")
        student = build_ranker(wider_task.features, recipe.student, f"student_c{index}", seed=0)
        distill(teacher, student, wider_task, dataclasses.replace(recipe, distill=setting),
                recipe.student_training.max_epochs, "distill", _quiet)
        distilled.append(Candidate(setting, student, Stage(f"distilled {index}", {})))
    return Candidate(None, alone, Stage("alone", {})), distilled


def _quiet(_message: str) -> None:
    pass


def _scripted(monkeypatch, scores: dict[str, float]) -> None:
    """Validation scores by model name (every other model scores 0.1), in place of the real evaluation."""
    from edgerec import train

    monkeypatch.setattr(train, "evaluate_on",
                        lambda model, data: dict.fromkeys(("auc", "ndcg@10"), scores.get(model.name, 0.1)))


def _supervised(task, recipe):
    """`train_supervised` on the tiny task; returns what it trained and the stage keys it ran, in order."""
    from edgerec.sequence import CheckpointedRunner, train_supervised

    runner = CheckpointedRunner(None, task, recipe.seed, _quiet)
    keys = []

    def recording(key, *args, **kwargs):
        keys.append(key)
        return runner(key, *args, **kwargs)

    return train_supervised(recipe, task, recording, _quiet), keys


def test_a_random_teacher_loses_to_the_student_trained_alone_at_every_setting(wider_task, candidates):
    from edgerec import train
    from edgerec.sequence import choose_student

    # setup: an untrained (random) teacher, at two settings
    alone, distilled = candidates
    # execute
    chosen, records = choose_student(alone, distilled, wider_task, _quiet)
    # assert: the student trained alone ships, and the records show every candidate's score, distilled first
    metric = train.selection_metric(wider_task)
    scores = {r["candidate"]: r["validation"][metric] for r in records}
    assert list(scores) == ["alpha 0, T 2, logits", "alpha 0.05, T 2, logits", "no teacher"]
    assert scores["no teacher"] > max(scores["alpha 0, T 2, logits"], scores["alpha 0.05, T 2, logits"])
    assert scores["alpha 0.05, T 2, logits"] == train.evaluate_on(distilled[1].model, wider_task.validation)[metric]
    assert chosen is alone
    assert [r["chosen"] for r in records] == [False, False, True]
    assert [r["settings"] for r in records] == [c.setting.settings() for c in distilled] + [None]


@pytest.mark.parametrize("scores, shipped", [
    ({"student_scratch": 0.5, "student_c0": 0.5, "student_c1": 0.5}, "alone"),  # ties go to the student alone
    ({"student_scratch": 0.4, "student_c0": 0.5, "student_c1": 0.5}, 0),  # then to the earlier candidate
    ({"student_scratch": 0.4, "student_c0": 0.5, "student_c1": 0.6}, 1),
])
def test_ties_go_to_the_student_alone_then_to_the_earlier_candidate(wider_task, candidates, monkeypatch, scores,
                                                                    shipped):
    from edgerec.sequence import choose_student

    # setup
    alone, distilled = candidates
    _scripted(monkeypatch, scores)
    # execute
    chosen, _ = choose_student(alone, distilled, wider_task, _quiet)
    # assert
    assert chosen is (alone if shipped == "alone" else distilled[shipped])


def test_the_better_of_two_alphas_ships_and_every_later_fine_tune_uses_its_setting(task, monkeypatch):
    # setup: two alpha candidates, the second scripted best on validation
    recipe = _tiny_recipe(alpha=(0.3, 0.7), temperature=3.0)
    _scripted(monkeypatch, {"student_scratch": 0.4, "student_c0": 0.5, "student_c1": 0.6})
    # execute
    trained, keys = _supervised(task, recipe)
    # assert: one stage (checkpoint key) per candidate, the second ships with its stage and setting
    assert keys == ["teacher", "student_scratch", "student_c0", "student_c1"]
    assert [s.name for s in trained.stages[-2:]] == ["student distilled (alpha 0.3, T 3, logits)",
                                                     "student distilled (alpha 0.7, T 3, logits)"]
    assert trained.student.name == "student_c1" and trained.student_stage is trained.stages[-1]
    students = trained.students_recipe(recipe)
    assert students.distill == recipe.distill.candidates()[1]
    assert (students.distill.alpha, students.distill.temperature) == (0.7, 3.0)
    assert students.distill.candidates() == (students.distill,)
    assert [(r["candidate"], r["chosen"]) for r in trained.candidates] == [
        ("alpha 0.3, T 3, logits", False), ("alpha 0.7, T 3, logits", True), ("no teacher", False)]
    assert trained.candidates[1]["stage"] == trained.student_stage.name


def test_when_no_setting_helps_later_fine_tunes_train_on_labels_alone(task, monkeypatch):
    # setup: the student trained alone scripted best against two method lists
    from edgerec.recipe import DistillMethod

    methods = ((DistillMethod("logits"),), (DistillMethod("logits"), DistillMethod("ranking", weight=0.5)))
    recipe = _tiny_recipe(methods=methods)
    _scripted(monkeypatch, {"student_scratch": 0.6, "student_c0": 0.5, "student_c1": 0.5})
    # execute
    trained, _ = _supervised(task, recipe)
    # assert: one candidate setting, the first, with the teacher's weight at 0
    assert trained.student is trained.scratch and trained.chosen is None
    students = trained.students_recipe(recipe).distill
    assert students == dataclasses.replace(recipe.distill.candidates()[0], alpha=1.0)
    assert [r["candidate"] for r in trained.candidates] == [
        "alpha 0.5, T 2, logits", "alpha 0.5, T 2, logits+ranking ×0.5", "no teacher"]


def test_a_recipe_with_one_setting_trains_one_student_under_the_old_key(task, monkeypatch):
    # setup
    recipe = _tiny_recipe()
    _scripted(monkeypatch, {"student_scratch": 0.4, "student": 0.5})
    # execute
    trained, keys = _supervised(task, recipe)
    # assert: the stage key, label and fine-tuning recipe of every build before candidates
    assert keys == ["teacher", "student_scratch", "student"]
    assert trained.stages[-1].name == "student distilled" and trained.student.name == "student"
    assert trained.students_recipe(recipe) == recipe
    assert [r["candidate"] for r in trained.candidates] == ["alpha 0.5, T 2, logits", "no teacher"]


def test_a_wider_student_is_trained_as_a_build_of_that_width_and_restored_on_resume(task, tmp_path):
    import numpy as np

    from edgerec.checkpoints import BuildState
    from edgerec.recipe import ModelConfig
    from edgerec.sequence import CheckpointedRunner, train_supervised, train_width

    # setup: a tiny build (narrow student: embedding 1) with two distillation candidates, and its width x2
    recipe = dataclasses.replace(_tiny_recipe(alpha=(0.3, 0.7)), student=ModelConfig(1, (4,)))
    wide = ModelConfig(2, (8,))
    state = BuildState.start(tmp_path, {"recipe": "tiny"})
    trained = train_supervised(recipe, task, CheckpointedRunner(state, task, recipe.seed, _quiet), _quiet)
    # execute
    widened = train_width(trained, recipe, task, CheckpointedRunner(state, task, recipe.seed, _quiet).under("w/"),
                          wide, _quiet)
    rebuilt, _ = _supervised(task, dataclasses.replace(recipe, student=wide))
    logged = []
    resumed = train_width(trained, recipe, task,
                          CheckpointedRunner(BuildState.resume(tmp_path, {"recipe": "tiny"}), task, recipe.seed,
                                             logged.append).under("w/"), wide, _quiet)
    # assert: its own checkpoints, beside the build's
    assert {"student_scratch", "student_c0", "student_c1", "w/student_scratch", "w/student_c0",
            "w/student_c1"} <= set(state.stages)
    # the teacher is the build's; the students have the wider sizes and are bit for bit those of a build
    # whose recipe has that width (same stage keys, same seeds), the choice included
    assert widened.teacher is trained.teacher and widened.supervisor is trained.supervisor
    assert widened.student.get_layer("hidden_0").units == 8
    for mine, theirs in ((widened.student, rebuilt.student), (widened.scratch, rebuilt.scratch)):
        assert all(np.array_equal(a, b) for a, b in zip(mine.get_weights(), theirs.get_weights()))
    assert widened.candidates == rebuilt.candidates and widened.chosen == rebuilt.chosen
    assert [s.name for s in widened.stages] == [s.name for s in trained.stages]
    assert [s.metrics for s in widened.stages] == [s.metrics for s in rebuilt.stages]
    assert widened.stages[-1].metrics != trained.stages[-1].metrics
    # a resumed build restores them instead of training them again
    assert logged == [f"[w/{key}] restored from its checkpoint" for key in ("student_scratch", "student_c0", "student_c1")]
    assert all(np.array_equal(a, b) for a, b in zip(resumed.student.get_weights(), widened.student.get_weights()))
