"""Held-out ranking accuracy of a Keras model (or any rows -> logits function) by the held-out
item's training popularity: the groups and their metrics are `device_bench.popularity`'s, the
ones the device reports for the shipped artifacts."""

from __future__ import annotations

from typing import Callable

import numpy as np

from device_bench.popularity import by_group

__all__ = ["by_group", "of_task"]


def of_task(predict: Callable[[dict[str, np.ndarray]], np.ndarray], task) -> dict[str, dict]:
    """The held-out ranking accuracy of `predict` (rows -> logits) on a ranking task, by group."""
    scores = predict(task.ranking_eval()).reshape(task.candidates.shape)
    return by_group(scores, task.holdout_item_counts())
