"""The pointwise ranking task built from interactions: what every model trains and is scored on.

Training: observed interactions are positives, `negatives_per_positive` uniformly sampled
unseen items per positive are negatives, resampled each epoch (seeded by epoch).
Evaluation (NCF protocol, fixed once per dataset so all models see the same candidates):
- ranking: each user's held-out last interaction ranked among `eval_candidates - 1` sampled
  items the user never interacted with -> HR@10, NDCG@10;
- pointwise: the held-out positives plus `negatives_per_positive` sampled negatives each ->
  AUC, LogLoss at the training class balance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgerec.data.negatives import PositiveSet, sample_candidates, sample_uniform
from edgerec.data.schema import DataError, FeatureSpec, Interactions
from edgerec.data.splits import leave_last_out
from edgerec.io import atomic_path


class RankingTask:
    def __init__(self, data: Interactions, negatives_per_positive: int, eval_candidates: int, seed: int):
        self.data = data
        self.features: list[FeatureSpec] = data.features()
        self.negatives_per_positive = negatives_per_positive
        self.seed = seed
        counts = np.bincount(data.user, minlength=data.num_users)
        if counts.min() < 2:
            raise DataError(
                f"{int((counts < 2).sum())} users have fewer than 2 interactions; leave-last-out "
                "needs at least one to train on and one to hold out"
            )
        train_idx, holdout_idx = leave_last_out(data.user, data.timestamp)
        self.train_user = data.user[train_idx]
        self.train_item = data.item[train_idx]
        self.holdout_item = data.item[holdout_idx]
        self.positives = PositiveSet(data.user, data.item, data.num_items)

        rng = np.random.default_rng([seed, 1])
        negatives = sample_candidates(data.num_users, eval_candidates - 1, self.positives, rng)
        self.candidates = np.concatenate([self.holdout_item[:, None], negatives], axis=1)
        users = np.arange(data.num_users, dtype=np.int32)
        pw_users = np.repeat(users, 1 + negatives_per_positive)
        pw_items = np.empty(len(pw_users), dtype=np.int32)
        per_user = pw_items.reshape(data.num_users, 1 + negatives_per_positive)
        per_user[:, 0] = self.holdout_item
        per_user[:, 1:] = sample_uniform(np.repeat(users, negatives_per_positive), self.positives, rng).reshape(
            data.num_users, negatives_per_positive
        )
        self.pointwise_users = pw_users
        self.pointwise_items = pw_items
        self.pointwise_labels = np.zeros(len(pw_users), dtype=np.float32)
        self.pointwise_labels[:: 1 + negatives_per_positive] = 1.0

    @property
    def input_names(self) -> list[str]:
        return [f.name for f in self.features]

    def rows(self, user: np.ndarray, item: np.ndarray) -> dict[str, np.ndarray]:
        """Model inputs (one int32 array per feature) for (user, item) pairs."""
        out = {"user_id": user.astype(np.int32), "item_id": item.astype(np.int32)}
        out.update({n: t[user].astype(np.int32) for n, t in self.data.user_features.items()})
        out.update({n: t[item].astype(np.int32) for n, t in self.data.item_features.items()})
        return {f.name: out[f.name] for f in self.features}

    def train_epoch(self, epoch: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Shuffled positives + freshly sampled negatives for one epoch (same for every model)."""
        return self._sample_rows(np.random.default_rng([self.seed, 2, epoch]))

    def _sample_rows(self, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
        k = self.negatives_per_positive
        neg_users = np.repeat(self.train_user, k)
        neg_items = sample_uniform(neg_users, self.positives, rng)
        users = np.concatenate([self.train_user, neg_users])
        items = np.concatenate([self.train_item, neg_items])
        labels = np.r_[np.ones(len(self.train_user), np.float32), np.zeros(len(neg_users), np.float32)]
        order = rng.permutation(len(users))
        return self.rows(users[order], items[order]), labels[order]

    def pointwise_eval(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        return self.rows(self.pointwise_users, self.pointwise_items), self.pointwise_labels

    def ranking_eval(self) -> dict[str, np.ndarray]:
        """Rows grouped by user, `candidates.shape[1]` per user, the held-out positive first."""
        users = np.repeat(np.arange(self.data.num_users, dtype=np.int32), self.candidates.shape[1])
        return self.rows(users, self.candidates.reshape(-1))

    def representative_rows(self, count: int) -> dict[str, np.ndarray]:
        """Training rows (positives and negatives) for int8 calibration; never held-out rows."""
        features, _ = self._sample_rows(np.random.default_rng([self.seed, 3]))
        return {name: values[:count] for name, values in features.items()}

    def train_item_counts(self) -> np.ndarray:
        return np.bincount(self.train_item, minlength=self.data.num_items)

    def save_eval(self, path: Path) -> None:
        """Writes eval.npz in the layout device_bench reads (see device_bench.evalset)."""
        pointwise, labels = self.pointwise_eval()
        arrays = {f"pointwise/{k}": v for k, v in pointwise.items()}
        arrays["pointwise/label"] = labels
        arrays.update({f"ranking/{k}": v for k, v in self.ranking_eval().items()})
        arrays["ranking/num_candidates"] = np.array(self.candidates.shape[1], dtype=np.int64)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)
