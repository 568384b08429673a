"""Train / held-out splits. Each returns (train_index, holdout_index) into the interaction arrays.

- `leave_last_out` (NCF, He et al. 2017): each user's latest interaction is held out.
- `random`: a `fraction` of each user's interactions, drawn at random, is held out; every user
  keeps at least one training interaction.
- `time`: one global cut-off at the `quantile` of all timestamps; later interactions are held out
  (what a deployed model faces). Held-out rows of users with no interaction before the cut-off
  are dropped: their user embedding was never trained, so the metric would measure cold start.
Held-out rows are ordered by (user, time) so evaluation files are stable.

`row_split` does the same for user-less rows in time order (CTR logs such as Criteo):
`random` holds out a `fraction` of all rows; `time` holds out the rows after the `quantile`
position, the latest ones, and so does `leave_last_out`, its closest meaning without users.
"""

from __future__ import annotations

import numpy as np

from edgerec.data.schema import DataError

SPLITS = ("leave_last_out", "random", "time")
TIMED_SPLITS = ("time",)  # the splits that need real timestamps
MIN_USER_INTERACTIONS = 2  # one to train on and one to hold out; users below it are dropped (data/task.py)


def leave_last_out(user: np.ndarray, timestamp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ties in time are broken by position, last wins, so the split is deterministic."""
    order = _by_user_time(user, timestamp)
    sorted_user = user[order]
    is_last = np.r_[sorted_user[1:] != sorted_user[:-1], True]
    return _complement(len(user), order[is_last]), order[is_last]


def random_fraction(user: np.ndarray, timestamp: np.ndarray, fraction: float, rng: np.random.Generator):
    order = _by_user_time(user, timestamp)
    sorted_user = user[order]
    counts = np.bincount(sorted_user)
    held = np.minimum(np.round(counts * fraction).astype(int), np.maximum(counts - 1, 0))
    # rank each interaction at random within its user; hold out the `held[u]` lowest ranks
    first = np.r_[0, np.cumsum(counts)[:-1]]
    keys = rng.random(len(order)) + sorted_user  # random order within each user's block
    within = np.argsort(keys, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[within] = np.arange(len(order)) - first[sorted_user[within]]
    holdout = np.sort(order[rank < held[sorted_user]])
    holdout = holdout[_by_user_time(user[holdout], timestamp[holdout])]
    return _complement(len(user), holdout), holdout


def time_cutoff(user: np.ndarray, timestamp: np.ndarray, quantile: float) -> tuple[np.ndarray, np.ndarray]:
    cutoff = np.quantile(timestamp, quantile)
    late = timestamp > cutoff
    seen = np.zeros(user.max() + 1, dtype=bool)
    seen[user[~late]] = True
    holdout = np.flatnonzero(late & seen[user])
    holdout = holdout[_by_user_time(user[holdout], timestamp[holdout])]
    if holdout.size == 0:
        raise DataError(f"no interaction after the time cut-off (quantile {quantile}) by a user seen before it")
    return np.flatnonzero(~late), holdout


def split(name: str, user: np.ndarray, timestamp: np.ndarray, fraction: float, quantile: float,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if name == "leave_last_out":
        return leave_last_out(user, timestamp)
    if name == "random":
        return random_fraction(user, timestamp, fraction, rng)
    if name == "time":
        return time_cutoff(user, timestamp, quantile)
    raise DataError(f"unknown split '{name}'; expected one of {', '.join(SPLITS)}")


def row_split(name: str, n: int, fraction: float, quantile: float,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if name == "random":
        holdout = np.sort(rng.permutation(n)[: int(round(n * fraction))])
    elif name in ("time", "leave_last_out"):
        holdout = np.arange(int(np.ceil(n * quantile)), n)
    else:
        raise DataError(f"unknown split '{name}'; expected one of {', '.join(SPLITS)}")
    return _complement(n, holdout), holdout


def _by_user_time(user: np.ndarray, timestamp: np.ndarray) -> np.ndarray:
    return np.lexsort((np.arange(len(user)), timestamp, user))


def _complement(n: int, holdout: np.ndarray) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    mask[holdout] = False
    return np.flatnonzero(mask)
