"""Held-out ranking accuracy split by how popular the held-out item was in training.

An average over every held-out list is dominated by popular items, the ones interaction counts
already describe well; what side knowledge (item text, a teacher) adds shows on the long tail.
`GROUPS` are the usual head / torso / tail cut by training interactions of the held-out item:
more than 50, 6 to 50, at most 5 (on MovieLens latest-small two items in three are in the tail).
Each group reports how many lists it holds, so a group too small to say anything is seen as such.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from device_bench import metrics

# (name, fewest, most) training interactions of the held-out item; bounds inclusive
GROUPS: tuple[tuple[str, int, float], ...] = (("head", 51, np.inf), ("torso", 6, 50), ("tail", 0, 5))


def groups(item_counts: np.ndarray, holdout_item: np.ndarray) -> dict[str, np.ndarray]:
    """Group name -> boolean mask over the held-out lists (one per held-out item)."""
    counts = item_counts[holdout_item]
    return {name: (counts >= low) & (counts <= high) for name, low, high in GROUPS}


def by_group(ranking_scores: np.ndarray, masks: dict[str, np.ndarray], k: int = 10) -> dict[str, dict]:
    """Per group: its number of lists and `metrics.ranking_metrics` on them (none for an empty group)."""
    return {name: {"lists": int(mask.sum()), **(metrics.ranking_metrics(ranking_scores[mask], k) if mask.any() else {})}
            for name, mask in masks.items()}


def of_task(predict: Callable[[dict[str, np.ndarray]], np.ndarray], task) -> dict[str, dict]:
    """The held-out ranking accuracy of `predict` (rows -> logits) on a ranking task, by group."""
    scores = predict(task.ranking_eval()).reshape(task.candidates.shape)
    return by_group(scores, groups(task.train_item_counts(), task.holdout_item))
