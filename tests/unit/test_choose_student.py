"""The shipped student is never worse than the student trained alone on validation."""

from __future__ import annotations

import dataclasses

import pytest


@pytest.fixture(scope="module")
def task():
    from edgerec.data.task import RankingTask
    from edgerec.recipe import DataConfig
    from tests.utils import tiny_interactions

    return RankingTask(tiny_interactions(), DataConfig(negatives_per_positive=2, eval_candidates=10), seed=0,
                       validation=True)


def _trained(task, teacher_epochs: int, alpha: float):
    """A teacher trained `teacher_epochs` epochs (0: random weights of unit scale, so it prefers items at
    random, and strongly), a student trained alone and one distilled at `alpha`, as `sequence.Trained`."""
    import numpy as np

    from edgerec.distill.teacher_logits import TeacherLogits
    from edgerec.models.zoo import build_ranker
    from edgerec.recipe import ModelConfig, Recipe, TrainConfig
    from edgerec.sequence import Trained
    from edgerec.stages import Stage, distill, train_alone

    config = TrainConfig(max_epochs=4, patience=4, batch_size=64, learning_rate=0.02)
    recipe = Recipe(name="tiny", student_training=config)
    recipe = dataclasses.replace(recipe, distill=dataclasses.replace(recipe.distill, alpha=alpha))
    big = ModelConfig(embedding_dim=8, hidden=(16,))
    teacher = build_ranker(task.features, big, "teacher", seed=3)
    if not teacher_epochs:
        rng = np.random.default_rng(7)
        teacher.set_weights([rng.normal(0.0, 1.0, w.shape).astype(w.dtype) for w in teacher.get_weights()])
    else:
        train_alone(teacher, task, big, dataclasses.replace(config, max_epochs=teacher_epochs), "t", _quiet)
    small = ModelConfig(embedding_dim=4, hidden=(8,))
    alone = build_ranker(task.features, small, "student_scratch", seed=0)
    train_alone(alone, task, small, config, "alone", _quiet)
    student = build_ranker(task.features, small, "student", seed=0)
    distill(teacher, student, task, recipe, config.max_epochs, "distill", _quiet)
    stage = Stage("s", {})
    return Trained(teacher, stage, teacher, TeacherLogits(teacher, task), student, stage, [], alone, Stage("alone", {}))


def _quiet(_message: str) -> None:
    pass


def test_a_useless_teacher_loses_to_the_student_trained_alone(task):
    from edgerec import train
    from edgerec.sequence import choose_student

    # setup: an untrained (random) teacher, imitated with almost all the weight
    trained = _trained(task, teacher_epochs=0, alpha=0.05)
    distilled, alone = trained.student, trained.scratch
    # execute
    chosen = choose_student(trained, task, _quiet)
    # assert: the student trained alone ships, its stage with it, and the record shows both scores
    metric = train.selection_metric(task)
    scores = {c["candidate"]: c["validation"][metric] for c in chosen.candidates}
    assert scores["no teacher"] > scores["distilled"]
    assert scores["distilled"] == train.evaluate_on(distilled, task.validation)[metric]
    assert chosen.student is alone and chosen.student_stage.name == "alone" and not chosen.teacher_helps
    assert [c["chosen"] for c in chosen.candidates] == [False, True]


def test_a_tie_or_a_loss_never_ships_the_distilled_student(task, monkeypatch):
    from edgerec import train
    from edgerec.sequence import choose_student

    # setup: scores scripted so the distilled student only ties
    trained = _trained(task, teacher_epochs=1, alpha=0.5)
    monkeypatch.setattr(train, "evaluate_on", lambda model, data: {"ndcg@10": 0.5, "auc": 0.5})
    # execute / assert
    assert choose_student(trained, task, _quiet).student is trained.scratch
