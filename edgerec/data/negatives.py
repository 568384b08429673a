"""Negative sampling that never returns a user's own positives, reproducible by seed."""

from __future__ import annotations

import numpy as np

from edgerec.data.schema import DataError


class PositiveSet:
    """All (user, item) pairs a user interacted with, as sorted int64 keys for fast lookup."""

    def __init__(self, user: np.ndarray, item: np.ndarray, num_items: int):
        self.num_items = num_items
        self._keys = np.unique(user.astype(np.int64) * num_items + item)
        self._users = user
        self._items = item

    def contains(self, user: np.ndarray, item: np.ndarray) -> np.ndarray:
        keys = user.astype(np.int64) * self.num_items + item
        pos = np.searchsorted(self._keys, keys)
        pos[pos == len(self._keys)] = 0
        return self._keys[pos] == keys

    def items_of(self, user: int) -> np.ndarray:
        lo, hi = np.searchsorted(self._keys, [user * self.num_items, (user + 1) * self.num_items])
        return (self._keys[lo:hi] - user * self.num_items).astype(np.int64)


def sample_uniform(users: np.ndarray, positives: PositiveSet, rng: np.random.Generator) -> np.ndarray:
    """One uniformly drawn non-positive item per entry of `users` (with replacement across entries).

    Rejection sampling: redraw only the collisions until none is left. Every user must have at
    least one item they did not interact with (the dataset checks this).
    """
    items = rng.integers(0, positives.num_items, size=len(users))
    clash = np.flatnonzero(positives.contains(users, items))
    while clash.size:
        items[clash] = rng.integers(0, positives.num_items, size=clash.size)
        clash = clash[positives.contains(users[clash], items[clash])]
    return items.astype(np.int32)


def sample_candidates(num_users: int, count: int, positives: PositiveSet, rng: np.random.Generator) -> np.ndarray:
    """`count` distinct non-positive items per user, shape (num_users, count) — fixed eval candidates."""
    out = np.empty((num_users, count), dtype=np.int32)
    all_items = np.arange(positives.num_items)
    for u in range(num_users):
        unseen = np.setdiff1d(all_items, positives.items_of(u), assume_unique=True)
        if unseen.size < count:
            raise DataError(
                f"user {u} has only {unseen.size} items they never interacted with; "
                f"{count} eval negatives are needed (lower data.eval_candidates)"
            )
        out[u] = rng.choice(unseen, size=count, replace=False)
    return out
