"""The tasks every model trains and is scored on: ranking from interactions, CTR from labelled rows.

`make_task` picks the task for what a source produced. Both offer the same methods to the
pipeline and the training loop; `num_candidates` is 0 when there are no candidate lists,
and `metric_names` says which metrics the task's evaluation can give.

RankingTask (interactions, implicit feedback):

Training: observed (training-split) interactions are positives; `negatives_per_positive`
sampled unseen items per positive are negatives, resampled each epoch (seeded by epoch); "auto"
picks the count from the number of training positives (data/negatives.py).
Evaluation, fixed once per dataset and seed so every model sees the same candidates:
- ranking (NCF protocol): each held-out interaction's item ranked among `eval_candidates - 1`
  sampled items its user never interacted with -> HR@10, NDCG@10;
- pointwise: the held-out positives plus `negatives_per_positive` sampled negatives each ->
  AUC, LogLoss at the training class balance.
Negatives never include any of the user's interactions, held-out ones included, nor the OOV
item. The task owns the model vocabularies: index 0 of each is OOV (see data/vocab.py).
Users with fewer than `splits.MIN_USER_INTERACTIONS` interactions are dropped first (the split
cannot use them; `summary` says how many), the same k-core rule `edgerec data prepare` applies.
Data without time (`Interactions.timed` False) gets a random order per user drawn with the
recipe seed in place of timestamps: "latest" then means a random interaction, so leave-last-out
becomes a seeded random leave-one-out per user (and so does the validation carve); the `time`
split is refused.

Validation (`validation=True`, which every build asks for): each training stage's best epoch, the
distillation candidates and the compressed models are chosen on data carved from the *training*
split, so that the held-out numbers the bundle reports are not the ones that picked the model. For
ranking, the latest training interaction of up to VALIDATION_USERS users (drawn with the recipe
seed) who keep at least one other training interaction is moved out of training and scored like
a held-out one (its own sampled candidates and pointwise negatives); for CTR, up to
VALIDATION_ROWS training rows (drawn with the recipe seed, at most a tenth). The held-out sets are
sampled before the carve and are identical with or without it; only the training data shrinks.

CtrTask (labelled rows such as Criteo impressions, no users to rank for):
every row is one example with its own 0/1 label; training shuffles the training rows each
epoch (seeded by epoch); evaluation is pointwise only, AUC and LogLoss on every held-out row
at the data's own click rate. There are no candidate lists, hence no HR@10 / NDCG@10.
"""

from __future__ import annotations

import dataclasses
import functools

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device_bench import evalset, metrics
from edgerec.data import filtering, splits
from edgerec.data.negatives import PositiveSet, item_weights, negatives_per_positive, sample_candidates, sample_negatives
from edgerec.data.schema import DataError, FeatureSpec, Interactions, LabeledRows
from edgerec.data.vocab import OOV_INDEX, with_oov
from edgerec.io import atomic_path
from edgerec.recipe import DataConfig


VALIDATION_USERS = 1000
VALIDATION_ROWS = 20_000


@dataclass(frozen=True)
class EvalData:
    """One evaluation set in model-input form: pointwise rows with labels, and candidate lists
    (rows grouped by list, the positive first) when the task ranks."""

    pointwise: dict[str, np.ndarray]
    labels: np.ndarray
    ranking: dict[str, np.ndarray] | None = None
    num_candidates: int = 0

    def describe(self) -> str:
        text = f"{len(self.labels)} pointwise rows"
        if self.ranking:
            lists = len(next(iter(self.ranking.values()))) // self.num_candidates
            text += f", {lists} candidate lists of {self.num_candidates}"
        return text


class RankingTask:
    metric_names = metrics.keys(ranking=True)
    label = "implicit feedback: observed interaction = 1, sampled unseen item = 0"

    def __init__(self, data: Interactions, config: DataConfig, seed: int, validation: bool = False):
        if not data.timed and config.split in splits.TIMED_SPLITS:
            raise DataError(
                f"{data.source}: data.split '{config.split}' needs timestamps and this data has none "
                f"(prepared with --no-time); use {' or '.join(s for s in splits.SPLITS if s not in splits.TIMED_SPLITS)}"
            )
        data, self.dropped = filtering.k_core(data, splits.MIN_USER_INTERACTIONS, 0)
        if not data.timed:
            data = dataclasses.replace(data, timestamp=np.random.default_rng([seed, 6]).permutation(len(data.user)))
        data = with_oov(data, config.min_count)
        self.data = data
        self.config = config
        self.features: list[FeatureSpec] = data.features()
        self.seed = seed
        rng = np.random.default_rng([seed, 1])
        train_idx, holdout_idx = splits.split(
            config.split, data.user, data.timestamp, config.holdout_fraction, config.time_quantile, rng
        )
        self.negatives_per_positive = negatives_per_positive(config.negatives_per_positive, len(train_idx))
        self.train_user = data.user[train_idx]
        self.train_item = data.item[train_idx]
        self.train_timestamp = data.timestamp[train_idx]
        self.holdout_user = data.user[holdout_idx]
        self.holdout_item = data.item[holdout_idx]
        self.positives = PositiveSet(data.user, data.item, data.num_items, first_item=OOV_INDEX + 1)
        counts, exponent = self.train_item_counts(), config.popularity_exponent
        self.train_weights = item_weights(config.negative_sampling, counts, exponent, OOV_INDEX + 1)
        eval_weights = item_weights(config.eval_negative_sampling, counts, exponent, OOV_INDEX + 1)

        k = self.negatives_per_positive
        self.candidates, per_row = draw_eval(self.holdout_user, self.holdout_item, config.eval_candidates, k,
                                             self.positives, rng, eval_weights, data.vocabularies["user_id"])
        self.pointwise_users = np.repeat(self.holdout_user, 1 + k)
        self.pointwise_items = per_row.reshape(-1)
        self.pointwise_labels = pointwise_labels(len(self.holdout_user), k)
        self.validation = self._carve_validation(data, eval_weights) if validation else None

    def _carve_validation(self, data: Interactions, eval_weights: np.ndarray | None) -> EvalData:
        """Moves the latest training interaction of up to VALIDATION_USERS users out of training.

        Users with a single training interaction keep it. See the module docstring.
        """
        rng = np.random.default_rng([self.seed, 5])
        order = np.lexsort((np.arange(len(self.train_user)), self.train_timestamp, self.train_user))
        users = self.train_user[order]
        last = np.r_[users[1:] != users[:-1], True]
        has_more = np.r_[False, users[1:] == users[:-1]]  # not the user's first training interaction
        eligible = order[last & has_more]
        chosen = np.sort(rng.permutation(eligible)[:VALIDATION_USERS])
        if chosen.size == 0:
            raise DataError("no user has two training interactions: nothing to carve a validation split from")
        keep = np.ones(len(self.train_user), dtype=bool)
        keep[chosen] = False
        val_user, val_item = self.train_user[chosen], self.train_item[chosen]
        self.train_user, self.train_item = self.train_user[keep], self.train_item[keep]
        self.train_timestamp = self.train_timestamp[keep]
        c = self.config
        self.train_weights = item_weights(c.negative_sampling, self.train_item_counts(), c.popularity_exponent, OOV_INDEX + 1)
        k = self.negatives_per_positive
        candidates, items = draw_eval(val_user, val_item, c.eval_candidates, k, self.positives, rng, eval_weights,
                                      data.vocabularies["user_id"])
        return EvalData(
            pointwise=self.rows(np.repeat(val_user, 1 + k), items.reshape(-1)),
            labels=pointwise_labels(len(val_user), k),
            ranking=self.rows(np.repeat(val_user, candidates.shape[1]), candidates.reshape(-1)),
            num_candidates=int(candidates.shape[1]),
        )

    @property
    def input_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def num_candidates(self) -> int:
        return int(self.candidates.shape[1])

    @property
    def held_out(self) -> int:
        return int(len(self.holdout_item))

    @property
    def train_rows_per_epoch(self) -> int:
        return len(self.train_user) * (1 + self.negatives_per_positive)

    def summary(self) -> str:
        """The data in one log line (and what the split could not use)."""
        dropped = ""
        if self.dropped.interactions:
            dropped = (f" (dropped {self.dropped.users} users with fewer than {splits.MIN_USER_INTERACTIONS} "
                       f"interactions, {self.dropped.interactions} interactions: the split needs one to train on "
                       "and one to hold out)")
        return (
            f"{self.data.num_users} users, {self.data.num_items} items, {len(self.data.user)} interactions{dropped}; "
            f"{len(self.train_user)} train positives x (1 + {self.negatives_per_positive} negatives) per epoch"
        )

    def describe(self) -> str:
        """The evaluation protocol in one sentence, for the manifest and the report."""
        c = self.config
        split = {
            "leave_last_out": "leave-last-out per user by timestamp" if self.data.timed else
            f"leave-one-out per user at random (the data has no timestamps; drawn with seed {self.seed})",
            "random": f"random {c.holdout_fraction:.0%} of each user's interactions held out",
            "time": f"global time cut-off at the {c.time_quantile:.0%} quantile",
        }[c.split]
        return (
            f"{split}; {len(self.holdout_item)} held-out interactions, each ranked among "
            f"{c.eval_candidates - 1} {c.eval_negative_sampling}-sampled unseen items; pointwise with "
            f"{self.negatives_per_positive} sampled negatives per held-out positive"
        )

    def held_out_eval(self) -> EvalData:
        """The held-out data as an EvalData (what eval.npz holds)."""
        return EvalData(*self.pointwise_eval(), self.ranking_eval(), self.num_candidates)

    def rows(self, user: np.ndarray, item: np.ndarray) -> dict[str, np.ndarray]:
        """Model inputs (one int32 array per feature) for (user, item) pairs."""
        out = {"user_id": user.astype(np.int32), "item_id": item.astype(np.int32)}
        out.update({n: t[user].astype(np.int32) for n, t in self.data.user_features.items()})
        out.update({n: t[item].astype(np.int32) for n, t in self.data.item_features.items()})
        return {f.name: out[f.name] for f in self.features}

    @functools.lru_cache(maxsize=1)
    def train_epoch(self, epoch: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Shuffled positives + freshly sampled negatives for one epoch (same for every model).

        The last epoch asked for is kept (read-only: nothing may write to the arrays): the
        search's calibration probes all read epoch 0, and sampling it costs seconds each time.
        """
        features, labels = self._sample_rows(np.random.default_rng([self.seed, 2, epoch]))
        for array in (*features.values(), labels):
            array.flags.writeable = False
        return features, labels

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

    def holdout_item_counts(self) -> np.ndarray:
        """Per held-out list, its held-out item's training interactions: the popularity groups' key
        (`device_bench.popularity`), shipped in eval.npz as `popularity/train_count`."""
        return self.train_item_counts()[self.holdout_item].astype(np.int32)

    @property
    def item_vectors(self) -> np.ndarray | None:
        """Each item id's text vector (row 0, the OOV item, zeros), or None without item text vectors."""
        return self.data.item_vectors

    @functools.cached_property
    def id_counts(self) -> dict[str, np.ndarray]:
        """Per model input, how often each index occurs among the training positives (counted once:
        the training rows are fixed at construction, and every compression chain reads them)."""
        return _counts(self.rows(self.train_user, self.train_item), self.features)

    def user_inputs(self) -> list[str]:
        """The model inputs looked up by the user (user_id first): what a retrieval model's user tower reads."""
        return [f.name for f in self.features if f.owner == "user"]

    def user_rows(self, user: np.ndarray) -> dict[str, np.ndarray]:
        """The user inputs of `user` (indices), one row each."""
        return {name: values for name, values in self.rows(user, np.zeros_like(user)).items()
                if name in self.user_inputs()}

    def catalogue_rows(self) -> dict[str, np.ndarray]:
        """The item inputs (item_id and the item side features) of every item index 0..N-1, in order."""
        items = np.arange(self.data.num_items)
        return {name: values for name, values in self.rows(np.zeros_like(items), items).items()
                if name not in self.user_inputs()}

    def retrieval_eval(self) -> dict[str, np.ndarray]:
        """The full-catalogue part of eval.npz (keys under `retrieval/` and `catalogue/`): each held-out
        interaction's user inputs and item, and everything its user interacted with, which the
        metrics exclude from the candidates as the sampled protocol does (device_bench.evalset)."""
        users, seen_row = np.unique(self.holdout_user, return_inverse=True)
        order = np.argsort(self.data.user, kind="stable")
        by_user = self.data.user[order]
        starts = np.searchsorted(by_user, users, side="left")
        stops = np.searchsorted(by_user, users, side="right")
        seen = [self.data.item[order[a:b]] for a, b in zip(starts, stops)]
        out = {f"retrieval/{k}": v for k, v in self.user_rows(self.holdout_user).items()}
        out.update({
            "retrieval/target": self.holdout_item.astype(np.int32),
            "retrieval/seen_row": seen_row.astype(np.int32),
            "retrieval/seen_offsets": np.r_[0, np.cumsum(stops - starts)].astype(np.int64),
            "retrieval/seen_items": np.concatenate(seen).astype(np.int32),
        })
        out.update({f"catalogue/{k}": v for k, v in self.catalogue_rows().items()})
        return out

    def save_eval(self, path: Path) -> None:
        """Writes eval.npz in the layout device_bench reads (see device_bench.evalset)."""
        ranking = {f"ranking/{k}": v for k, v in self.ranking_eval().items()}
        ranking["ranking/num_candidates"] = np.array(self.num_candidates, dtype=np.int64)
        popularity = {evalset.POPULARITY: self.holdout_item_counts()}
        _write_eval(path, *self.pointwise_eval(), {**ranking, **popularity, **self.retrieval_eval()})


class CtrTask:
    """Click-through-rate prediction on user-less labelled rows; see the module docstring."""

    metric_names = metrics.keys(ranking=False)
    num_candidates = 0
    item_vectors = None  # click rows have no item to describe

    def __init__(self, data: LabeledRows, config: DataConfig, seed: int, validation: bool = False):
        self.data = data
        self.config = config
        self.features: list[FeatureSpec] = data.features()
        self.label = data.label
        self.seed = seed
        rng = np.random.default_rng([seed, 1])
        self.train_idx, self.holdout_idx = splits.row_split(
            config.split, len(data.labels), config.holdout_fraction, config.time_quantile, rng
        )
        for part, index in (("training", self.train_idx), ("held-out", self.holdout_idx)):
            clicks = int(data.labels[index].sum())
            if clicks in (0, len(index)):
                raise DataError(
                    f"{data.source}: the {part} rows ({len(index)}) are all {'clicks' if clicks else 'non-clicks'}; "
                    "a CTR model needs both labels to train and AUC needs both to be defined (more rows, or "
                    "another data.split)"
                )
        self.validation = self._carve_validation() if validation else None

    def _carve_validation(self) -> EvalData:
        """Moves up to VALIDATION_ROWS training rows (at most a tenth), drawn with the seed, out of training."""
        count = min(VALIDATION_ROWS, len(self.train_idx) // 10)
        chosen = np.sort(np.random.default_rng([self.seed, 5]).permutation(self.train_idx)[:count])
        labels = self.data.labels[chosen]
        if count == 0 or labels.min() == labels.max():
            raise DataError(
                f"{self.data.source}: the validation rows carved from training ({count}) do not hold both labels; "
                "a target or a sensitivity analysis needs more training rows"
            )
        self.train_idx = np.setdiff1d(self.train_idx, chosen)
        return EvalData(self.rows(chosen), labels)

    @property
    def input_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def held_out(self) -> int:
        return int(len(self.holdout_idx))

    @property
    def train_rows_per_epoch(self) -> int:
        return int(len(self.train_idx))

    @property
    def train_click_rate(self) -> float:
        return float(self.data.labels[self.train_idx].mean())

    def summary(self) -> str:
        return (
            f"{len(self.data.labels)} rows, {len(self.features)} features, click rate {self.data.labels.mean():.3f}; "
            f"{len(self.train_idx)} train rows per epoch, {len(self.holdout_idx)} held out"
        )

    def describe(self) -> str:
        """The evaluation protocol in one sentence, for the manifest and the report."""
        c = self.config
        split = {
            "random": f"random {c.holdout_fraction:.0%} of the rows held out",
            "time": f"the last {1 - c.time_quantile:.0%} of the rows (time order) held out",
            "leave_last_out": f"no users to leave one out for: the last {1 - c.time_quantile:.0%} of the rows "
            "(time order) held out, as split 'time'",
        }[c.split]
        return f"{split}; {len(self.holdout_idx)} held-out rows scored pointwise (AUC, LogLoss), no ranking metrics"

    def rows(self, index: np.ndarray) -> dict[str, np.ndarray]:
        return {f.name: self.data.columns[f.name][index] for f in self.features}

    def train_epoch(self, epoch: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The training rows in a fresh order for each epoch (same order for every model)."""
        order = np.random.default_rng([self.seed, 2, epoch]).permutation(self.train_idx)
        return self.rows(order), self.data.labels[order]

    def pointwise_eval(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        return self.rows(self.holdout_idx), self.data.labels[self.holdout_idx]

    @functools.cached_property
    def id_counts(self) -> dict[str, np.ndarray]:
        """Per model input, how often each index occurs among the training rows (counted once, after
        the validation rows are carved out in the constructor)."""
        return _counts(self.rows(self.train_idx), self.features)

    def held_out_eval(self) -> EvalData:
        """The held-out data as an EvalData (what eval.npz holds)."""
        return EvalData(*self.pointwise_eval())

    def representative_rows(self, count: int) -> dict[str, np.ndarray]:
        """Training rows drawn at random for int8 calibration; never held-out rows."""
        chosen = np.random.default_rng([self.seed, 3]).permutation(self.train_idx)[:count]
        return self.rows(chosen)

    def save_eval(self, path: Path) -> None:
        """Writes eval.npz with the pointwise part only (device_bench.evalset allows that)."""
        _write_eval(path, *self.pointwise_eval(), {})


def draw_eval(users: np.ndarray, items: np.ndarray, candidates: int, k: int, positives: PositiveSet,
              rng: np.random.Generator, weights: np.ndarray | None, user_vocab: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The evaluation rows of held-out (user, item) pairs: NCF candidate lists (pairs x `candidates`) and
    pointwise rows (pairs x (1 + k)), the held-out item first in each, the rest sampled among the items
    the user never interacted with (`positives`), in that order from `rng`."""
    negatives = sample_candidates(users, candidates - 1, positives, rng, weights, user_vocab)
    lists = np.concatenate([items[:, None], negatives], axis=1)
    per_row = np.empty((len(users), 1 + k), dtype=np.int32)
    per_row[:, 0] = items
    per_row[:, 1:] = sample_negatives(np.repeat(users, k), positives, rng, weights).reshape(-1, k)
    return lists, per_row


def pointwise_labels(pairs: int, k: int) -> np.ndarray:
    """The labels of `draw_eval`'s pointwise rows, flattened: 1 for each held-out item, 0 for its k negatives."""
    labels = np.zeros(pairs * (1 + k), dtype=np.float32)
    labels[:: 1 + k] = 1.0
    return labels


def _counts(rows: dict[str, np.ndarray], features: list[FeatureSpec]) -> dict[str, np.ndarray]:
    return {f.name: np.bincount(np.asarray(rows[f.name]).ravel(), minlength=f.vocab_size) for f in features}


def make_task(
    data: Interactions | LabeledRows, config: DataConfig, seed: int, validation: bool = False
) -> RankingTask | CtrTask:
    """The task for what a source produced: ranking for interactions, CTR for labelled rows.

    `validation=True` carves the validation split out of the training data (module docstring).
    """
    if isinstance(data, LabeledRows):
        return CtrTask(data, config, seed, validation)
    return RankingTask(data, config, seed, validation)


def _write_eval(path: Path, features: dict[str, np.ndarray], labels: np.ndarray, extra: dict[str, np.ndarray]) -> None:
    arrays = {f"pointwise/{k}": v for k, v in features.items()}
    arrays["pointwise/label"] = labels
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays, **extra)
