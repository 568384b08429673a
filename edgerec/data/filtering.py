"""k-core filtering of interactions: keep users and items with enough interactions.

Dropping a rare item can leave a user below the user threshold and the other way round, so
the two filters alternate until neither drops anything (the iterated k-core of the
user-item graph). The survivors are re-numbered (ids stay sorted by raw value), and the
vocabularies and side-feature tables keep only them, so a prepared dataset has no user or
item without an interaction. A minimum of 0 keeps every id of that kind, used or not (the
build drops users the split cannot use and leaves the item catalogue as prepared).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgerec.data.schema import DataError, Interactions


@dataclass(frozen=True)
class Dropped:
    """What the filter removed, for the one line `edgerec data prepare` prints."""

    users: int
    items: int
    interactions: int
    rounds: int  # filter rounds that dropped something

    def describe(self, min_user: int, min_item: int) -> str:
        return (f"k-core (users >= {min_user}, items >= {min_item} interactions): dropped {self.users} users, "
                f"{self.items} items, {self.interactions} interactions in {self.rounds} round(s)")


def k_core(data: Interactions, min_user: int, min_item: int) -> tuple[Interactions, Dropped]:
    """The interactions whose user and item both keep >= the minimum count, iterated until stable."""
    keep = np.ones(len(data.user), dtype=bool)
    rounds = 0
    while True:
        rounds += 1
        user_counts = np.bincount(data.user[keep], minlength=data.num_users)
        item_counts = np.bincount(data.item[keep], minlength=data.num_items)
        enough = keep & (user_counts[data.user] >= min_user) & (item_counts[data.item] >= min_item)
        if np.array_equal(enough, keep):
            break
        keep = enough
    if not keep.any():
        raise DataError(
            f"{data.source}: no interaction is left after k-core filtering (users >= {min_user}, "
            f"items >= {min_item} interactions); lower --min-user-interactions / --min-item-interactions"
        )
    users, user_map = _survivors(data.user[keep], data.num_users, keep_all=min_user == 0)
    items, item_map = _survivors(data.item[keep], data.num_items, keep_all=min_item == 0)
    dropped = Dropped(data.num_users - len(users), data.num_items - len(items), int((~keep).sum()), rounds - 1)
    if dropped == Dropped(0, 0, 0, 0):
        return data, dropped
    vocab = dict(data.vocabularies)
    vocab["user_id"] = [data.vocabularies["user_id"][i] for i in users]
    vocab["item_id"] = [data.vocabularies["item_id"][i] for i in items]
    filtered = data.items_taken(
        items,
        user=user_map[data.user[keep]],
        item=item_map[data.item[keep]],
        timestamp=data.timestamp[keep],
        user_features={name: table[users] for name, table in data.user_features.items()},
        item_features={name: table[items] for name, table in data.item_features.items()},
        vocabularies=vocab,
    )
    return filtered, dropped


def _survivors(ids: np.ndarray, size: int, keep_all: bool) -> tuple[np.ndarray, np.ndarray]:
    """The old ids kept (ascending, so raw-value order is kept: all, or those still used) and old id -> new id."""
    used = np.arange(size) if keep_all else np.unique(ids)
    mapping = np.full(size, -1, dtype=np.int32)
    mapping[used] = np.arange(len(used), dtype=np.int32)
    return used, mapping
