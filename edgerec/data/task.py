"""The pointwise ranking task built from interactions: what every model trains and is scored on.

Training: observed (training-split) interactions are positives; `negatives_per_positive`
sampled unseen items per positive are negatives, resampled each epoch (seeded by epoch).
Evaluation, fixed once per dataset and seed so every model sees the same candidates:
- ranking (NCF protocol): each held-out interaction's item ranked among `eval_candidates - 1`
  sampled items its user never interacted with -> HR@10, NDCG@10;
- pointwise: the held-out positives plus `negatives_per_positive` sampled negatives each ->
  AUC, LogLoss at the training class balance.
Negatives never include any of the user's interactions, held-out ones included, nor the OOV
item. The task owns the model vocabularies: index 0 of each is OOV (see data/vocab.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgerec.data import splits
from edgerec.data.negatives import PositiveSet, item_weights, sample_candidates, sample_negatives
from edgerec.data.schema import DataError, FeatureSpec, Interactions
from edgerec.data.vocab import OOV_INDEX, with_oov
from edgerec.io import atomic_path
from edgerec.recipe import DataConfig


class RankingTask:
    def __init__(self, data: Interactions, config: DataConfig, seed: int):
        data = with_oov(data, config.min_count)
        self.data = data
        self.config = config
        self.features: list[FeatureSpec] = data.features()
        self.negatives_per_positive = config.negatives_per_positive
        self.seed = seed
        counts = np.bincount(data.user, minlength=data.num_users)[1:]  # index 0 is OOV
        if counts.min() < 2:
            raise DataError(
                f"{int((counts < 2).sum())} users have fewer than 2 interactions; the split needs at least "
                "one to train on and one to hold out (filter them out before preparing)"
            )
        rng = np.random.default_rng([seed, 1])
        train_idx, holdout_idx = splits.split(
            config.split, data.user, data.timestamp, config.holdout_fraction, config.time_quantile, rng
        )
        self.train_user = data.user[train_idx]
        self.train_item = data.item[train_idx]
        self.holdout_user = data.user[holdout_idx]
        self.holdout_item = data.item[holdout_idx]
        self.positives = PositiveSet(data.user, data.item, data.num_items, first_item=OOV_INDEX + 1)
        counts, exponent = self.train_item_counts(), config.popularity_exponent
        self.train_weights = item_weights(config.negative_sampling, counts, exponent, OOV_INDEX + 1)
        eval_weights = item_weights(config.eval_negative_sampling, counts, exponent, OOV_INDEX + 1)

        negatives = sample_candidates(
            self.holdout_user, config.eval_candidates - 1, self.positives, rng, eval_weights, data.vocabularies["user_id"]
        )
        self.candidates = np.concatenate([self.holdout_item[:, None], negatives], axis=1)
        k = config.negatives_per_positive
        per_row = np.empty((len(holdout_idx), 1 + k), dtype=np.int32)
        per_row[:, 0] = self.holdout_item
        per_row[:, 1:] = sample_negatives(np.repeat(self.holdout_user, k), self.positives, rng, eval_weights).reshape(-1, k)
        self.pointwise_users = np.repeat(self.holdout_user, 1 + k)
        self.pointwise_items = per_row.reshape(-1)
        self.pointwise_labels = np.zeros(len(self.pointwise_users), dtype=np.float32)
        self.pointwise_labels[:: 1 + k] = 1.0

    @property
    def input_names(self) -> list[str]:
        return [f.name for f in self.features]

    def describe(self) -> str:
        """The evaluation protocol in one sentence, for the manifest and the report."""
        c = self.config
        split = {
            "leave_last_out": "leave-last-out per user by timestamp",
            "random": f"random {c.holdout_fraction:.0%} of each user's interactions held out",
            "time": f"global time cut-off at the {c.time_quantile:.0%} quantile",
        }[c.split]
        return (
            f"{split}; {len(self.holdout_item)} held-out interactions, each ranked among "
            f"{c.eval_candidates - 1} {c.eval_negative_sampling}-sampled unseen items; pointwise with "
            f"{c.negatives_per_positive} sampled negatives per held-out positive"
        )

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
        neg_items = sample_negatives(neg_users, self.positives, rng, self.train_weights)
        users = np.concatenate([self.train_user, neg_users])
        items = np.concatenate([self.train_item, neg_items])
        labels = np.r_[np.ones(len(self.train_user), np.float32), np.zeros(len(neg_users), np.float32)]
        order = rng.permutation(len(users))
        return self.rows(users[order], items[order]), labels[order]

    def candidate_groups(self, epoch: int, size: int) -> dict[str, np.ndarray]:
        """One group per training user, shuffled: `size` distinct items the user never interacted with.

        Model inputs, each of shape (users, size). Ranking distillation (Tang & Wang, KDD 2018)
        lets the teacher rank each group and makes its top items positives for the student;
        the groups carry no labels, and exclude held-out items like every negative does.
        """
        rng = np.random.default_rng([self.seed, 4, epoch])
        users = rng.permutation(np.unique(self.train_user))
        items = sample_candidates(
            users, size, self.positives, rng, self.train_weights, self.data.vocabularies["user_id"],
            remedy="lower the ranking distillation's candidates",
        )
        rows = self.rows(np.repeat(users, size), items.reshape(-1))
        return {name: values.reshape(len(users), size) for name, values in rows.items()}

    def pointwise_eval(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        return self.rows(self.pointwise_users, self.pointwise_items), self.pointwise_labels

    def ranking_eval(self) -> dict[str, np.ndarray]:
        """Rows grouped by held-out interaction, `candidates.shape[1]` each, the positive first."""
        users = np.repeat(self.holdout_user, self.candidates.shape[1])
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
