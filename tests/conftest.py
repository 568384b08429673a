"""Session fixtures shared by the tests: a tiny task, tiny trained models, and the smoke bundle.

The smoke bundle: CI builds it once with the console script (timed, as a user would) and passes its
folder in EDGEREC_SMOKE_BUNDLE; run alone, the fixture builds it with Click's CliRunner, once per session.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.utils import tiny_interactions


@pytest.fixture(scope="session")
def tiny_task():
    from edgerec.data.task import RankingTask
    from edgerec.recipe import DataConfig

    return RankingTask(tiny_interactions(), DataConfig(negatives_per_positive=2, eval_candidates=10), seed=0)


@pytest.fixture(scope="session")
def tiny_student(tiny_task):
    """A student-sized ranker trained for one epoch on the tiny task."""
    from edgerec import train
    from edgerec.models.zoo import build_ranker
    from edgerec.recipe import ModelConfig, TrainConfig

    config = TrainConfig(max_epochs=1, batch_size=64, learning_rate=0.01)
    model = build_ranker(tiny_task.features, ModelConfig(embedding_dim=4, hidden=(16, 8)), "student", seed=0)
    train.compile_ranker(model, config)
    train.fit(model, tiny_task, config, 1, "tiny", log=lambda _: None)
    return model


@pytest.fixture(scope="session")
def tiny_teacher(tiny_task):
    from edgerec import train
    from edgerec.models.zoo import build_ranker
    from edgerec.recipe import ModelConfig, TrainConfig

    config = TrainConfig(max_epochs=1, batch_size=64, learning_rate=0.01)
    model = build_ranker(
        tiny_task.features, ModelConfig(embedding_dim=8, hidden=(16,), cross_layers=1), "teacher", seed=1
    )
    train.compile_ranker(model, config)
    train.fit(model, tiny_task, config, 1, "tiny", log=lambda _: None)
    return model


@pytest.fixture(scope="session")
def smoke_bundle(tmp_path_factory) -> Path:
    given = os.environ.get("EDGEREC_SMOKE_BUNDLE")
    if given:
        return Path(given)
    from click.testing import CliRunner

    from edgerec.cli import main

    out = tmp_path_factory.mktemp("smoke") / "bundle"
    result = CliRunner().invoke(main, ["build", "--recipe", "smoke", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out
