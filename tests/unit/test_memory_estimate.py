"""The memory refusal: exact parameter counts without allocating, and a clear exit 2 before training."""

import dataclasses

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from converters import tflite
from edgerec import memory_estimate, recipe
from edgerec.cli import main
from edgerec.models import architectures
from edgerec.models.zoo import build_ranker
from edgerec.recipe import ModelConfig


@pytest.mark.parametrize("architecture", sorted(architectures.REGISTRY))
def test_the_estimate_counts_exactly_the_weights_build_ranker_makes(tiny_task, architecture):
    cross = 1 if architectures.REGISTRY[architecture].cross else 0
    config = ModelConfig(embedding_dim=6, hidden=(5, 3), architecture=architecture, cross_layers=cross)
    weights = memory_estimate.model_weights(tiny_task.features, config, "teacher")
    model = build_ranker(tiny_task.features, config, "teacher")
    assert sum(w.params for w in weights) == model.count_params()
    assert {w.name for w in weights if w.table} == {
        v.name.split(":")[0] for layer in model.layers if layer.__class__.__name__ == "Embedding" for v in layer.weights}


def test_a_text_teachers_frozen_item_vectors_count_once(tiny_task):
    # setup
    vectors = np.ones((tiny_task.data.num_items, 7), np.float32)
    config = ModelConfig(embedding_dim=6, hidden=(5,), item_text=True)
    # execute
    weights = memory_estimate.model_weights(tiny_task.features, config, "teacher", vectors)
    # assert: the frozen table is the only weight not trained, so it gets no optimizer slots
    assert [(w.name, w.shape) for w in weights if not w.trainable] == [("item_text_vectors/embeddings", vectors.shape)]


def test_models_made_before_the_estimate_still_convert(tiny_task):
    # a model built eagerly, then an estimate (tf_keras swaps layer classes process-wide in graph mode)
    made_before = build_ranker(tiny_task.features, ModelConfig(embedding_dim=4, hidden=(3,)), "student")
    memory_estimate.model_weights(tiny_task.features, ModelConfig(embedding_dim=10**8, hidden=(8,)), "teacher")
    assert tflite.convert(made_before, "fp32")[4:8] == b"TFL3"


def test_a_model_larger_than_the_memory_is_refused_naming_its_largest_table(tiny_task):
    smoke = recipe.load("smoke")
    wide = dataclasses.replace(smoke, teacher=dataclasses.replace(smoke.teacher, embedding_dim=4096))
    found = memory_estimate.check(wide, tiny_task, available=2**40)  # fits in a TiB
    assert found.peak_stage == "teacher" and found.peak_bytes > 4 * found.params("teacher")
    with pytest.raises(memory_estimate.MemoryFitError) as refused:
        memory_estimate.check(wide, tiny_task, available=found.peak_bytes - 1)
    message = str(refused.value)
    assert "the build needs at least" in message and "to train teacher" in message
    largest_table = max((w for w in found.weights if w.table), key=lambda w: w.params)
    assert f"teacher {largest_table.name} {largest_table.shape[0]:,} x 4,096" in message


def test_the_build_refuses_an_embedding_that_cannot_fit_before_training(tmp_path):
    (tmp_path / "huge.yaml").write_text(yaml.safe_dump({"extends": "smoke", "teacher": {"embedding_dim": 100_000_000}}))
    result = CliRunner().invoke(main, ["build", "--recipe", str(tmp_path / "huge.yaml"), "--out", str(tmp_path / "b")])
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: the build needs at least") and "the largest table is teacher embedding_" in last
    assert "lower teacher.embedding_dim" in last and "Traceback" not in result.output
    assert "[teacher]" not in result.output and not (tmp_path / "b").exists()
