"""One recipe for small and large logs: the step cap lowers the epochs, the step floor lowers the batch."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from edgerec import train
from edgerec.recipe import RecipeError, TrainConfig


def _task(rows: int) -> SimpleNamespace:
    return SimpleNamespace(train_rows_per_epoch=rows)


@pytest.mark.parametrize("rows, epochs", [(40_000, 30), (4_096_000, 3), (400_000_000, 1)])
def test_max_steps_lowers_the_epoch_cap_on_large_data_and_keeps_one_epoch(rows, epochs):
    config = TrainConfig(max_epochs=30, max_steps=3000, batch_size=4096)
    assert train.epoch_cap(_task(rows), config) == epochs


@pytest.mark.parametrize("rows, batch", [(6_400, 200), (1_000_000, 4096), (16, 1)])
def test_min_steps_per_epoch_lowers_the_batch_on_small_data_only(rows, batch):
    config = TrainConfig(batch_size=4096, min_steps_per_epoch=32)
    assert train.batch_size(_task(rows), config) == batch
    assert train.steps_per_epoch(_task(rows), config) >= min(32, rows)


def test_without_a_step_floor_the_batch_is_the_recipe_s():
    assert train.batch_size(_task(100), TrainConfig(batch_size=4096)) == 4096


def test_a_negative_step_floor_is_refused_by_name():
    with pytest.raises(RecipeError, match=r"min_steps_per_epoch: expected >= 0 \(0: off\). Received: -1"):
        TrainConfig(min_steps_per_epoch=-1)
