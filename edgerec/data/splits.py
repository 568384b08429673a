"""Train / held-out splits."""

from __future__ import annotations

import numpy as np


def leave_last_out(user: np.ndarray, timestamp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NCF protocol: each user's latest interaction (by time) is held out.

    Returns (train_index, holdout_index) into the interaction arrays; holdout_index has one
    entry per user, ordered by user id. Ties in time are broken by position, last wins, so the
    split is deterministic. Users with a single interaction have nothing to train on and are
    rejected by the caller's minimum-interactions check, not here.
    """
    order = np.lexsort((np.arange(len(user)), timestamp, user))
    sorted_user = user[order]
    is_last = np.r_[sorted_user[1:] != sorted_user[:-1], True]
    holdout = order[is_last]
    train_mask = np.ones(len(user), dtype=bool)
    train_mask[holdout] = False
    return np.flatnonzero(train_mask), holdout[np.argsort(user[holdout], kind="stable")]
