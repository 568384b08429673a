"""Held-out ranking accuracy split by how popular the held-out item was in training.

An average over every held-out list is dominated by popular items, the ones interaction counts
already describe well; what side knowledge (item text, a teacher) adds, and what quantisation
takes away from rare items, shows on the long tail. `GROUPS` are the usual head / torso / tail
cut by training interactions of the held-out item: more than 50, 6 to 50, at most 5 (on
MovieLens latest-small two items in three are in the tail). Each group reports how many lists
it holds, so a group too small to say anything is seen as such.

It lives in ``device_bench`` because the device scores artifacts by group from the eval set's
``popularity/train_count`` (``device_bench.evalset``); ``edgerec.popularity`` scores Keras models
with the same groups at build time.
"""

from __future__ import annotations

import numpy as np

from device_bench import metrics

# (name, fewest, most) training interactions of the held-out item; bounds inclusive
GROUPS: tuple[tuple[str, int, float], ...] = (("head", 51, np.inf), ("torso", 6, 50), ("tail", 0, 5))


def bounds() -> dict[str, str]:
    """Each group's training interactions as text: {"head": "51+", "torso": "6-50", "tail": "0-5"}."""
    return {name: f"{low}+" if high == np.inf else f"{low}-{int(high)}" for name, low, high in GROUPS}


def groups(list_counts: np.ndarray) -> dict[str, np.ndarray]:
    """Group name -> boolean mask over the held-out lists, from each list's held-out item's training count."""
    return {name: (list_counts >= low) & (list_counts <= high) for name, low, high in GROUPS}


def by_group(ranking_scores: np.ndarray, list_counts: np.ndarray, k: int = 10) -> dict[str, dict]:
    """Per group: its number of lists and `metrics.ranking_metrics` on them (none for an empty group)."""
    return {name: {"lists": int(mask.sum()), **(metrics.ranking_metrics(ranking_scores[mask], k) if mask.any() else {})}
            for name, mask in groups(np.asarray(list_counts)).items()}


def by_artifact(rows: list[dict]) -> dict[str, dict]:
    """Bench rows -> {artifact: its groups}, from the first of its rows that has them (accuracy is
    measured once per artifact and repeated on its other rows)."""
    found: dict[str, dict] = {}
    for row in rows:
        if row.get("by_popularity") and row.get("artifact") not in found:
            found[row["artifact"]] = row["by_popularity"]
    return found
