"""The ranking task of a log too large for memory: training rows streamed from Parquet shards by tf.data.

`StreamingTask` reads a prepared interactions folder (best written with `edgerec data prepare
--shard-rows`, one Parquet file works too) without loading its log. Memory holds per-user and
per-item counts, the side-feature tables, the evaluated users' histories and the shuffle buffer:
it grows with the numbers of users and items, not of interactions (`bench/scale.py` measures it).

Two passes over the shards when the task is made (the first counts each user's and item's
interactions, the second collects the interactions of the users it evaluates), then one pipeline per training run:

    shard files (reshuffled each pass) -> interleave, record batch by record batch -> drop the
    held-out rows -> per-row shuffle buffer -> global batches of positives -> `negatives_per_positive`
    negatives each, drawn in the pipeline -> this worker's slice -> side features -> prefetch

Where the protocol departs from `RankingTask`, it is for bounded memory:
- held out: the latest interaction (by timestamp, then file order; a seeded random one for a log
  without time) of up to EVAL_USERS users drawn with the recipe seed among those with two or
  more interactions, not of every user, and fewer when their histories (held in memory, so that
  candidates exclude what the user saw) pass HISTORY_ROWS interactions; the other users' latest
  interactions are trained on.
  Each held-out item is ranked among `eval_candidates - 1` sampled items its user never
  interacted with and scored pointwise against sampled negatives, as `RankingTask` does.
- validation: the latest interaction of up to VALIDATION_USERS other users, drawn the same way.
- training negatives are drawn from the item weights (uniform or popularity) without checking the
  user's history, which would need the whole log in memory: a uniform negative is one of the
  user's own items with probability (the user's items / the catalogue), on average the log's
  density (0.3% to 6% on the public-data profiles), more for heavy users and under popularity
  sampling. The evaluation candidates above are checked.
- only `data.split: leave_last_out`; users with one interaction are trained on, never evaluated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device_bench import metrics
from edgerec.data import prepared, shards
from edgerec.data.negatives import PositiveSet, item_weights, negatives_per_positive
from edgerec.data.schema import DataError, FeatureSpec
from edgerec.data.task import VALIDATION_USERS, EvalData, draw_eval, pointwise_labels
from edgerec.data.vocab import OOV_INDEX, with_oov
from edgerec.recipe import DataConfig

EVAL_USERS = 10_000
HISTORY_ROWS = 2_000_000  # at most this many interactions of the evaluated users are held in memory
SHUFFLE_ROWS = 100_000  # the per-row shuffle buffer: rows, not bytes (two int32 each)
LOG_COLUMNS = ("user", "item")


class StreamingTask:
    """See the module docstring. Offers what training and scoring a teacher read from a task."""

    metric_names = metrics.keys(ranking=True)
    label = "implicit feedback: observed interaction = 1, sampled item = 0"

    def __init__(self, folder: Path, config: DataConfig, seed: int, validation: bool = True):
        folder = Path(folder)
        if config.split != "leave_last_out":
            raise DataError(f"{folder}: data.split '{config.split}': a streamed log holds out each evaluated user's "
                            "latest interaction (leave_last_out) only")
        if not prepared.is_prepared(folder):
            raise DataError(f"{folder}: not a prepared dataset (no {prepared.SCHEMA}); prepare it first: edgerec data "
                            f"prepare --source parquet --path LOG --out {folder} --shard-rows 1000000")
        schema = prepared.read_schema(folder)
        log = prepared.log_path(folder, schema)
        self.paths = shards.files(log) if log.is_dir() else [log]
        self.first_rows = np.r_[0, np.cumsum(shards.row_counts(self.paths))[:-1]].astype(np.int64)
        self.timed = bool(schema.get("timed", True))
        self.data = with_oov(prepared.catalogue(folder), config.min_count)
        self.features: list[FeatureSpec] = self.data.features()
        self.config, self.seed, self.folder = config, seed, folder

        user_counts, item_counts = self._count()
        self.interactions = int(user_counts.sum())
        rng = np.random.default_rng([seed, 1])
        eligible = np.flatnonzero(user_counts >= 2)
        if eligible.size == 0:
            raise DataError(f"{folder}: no user has two interactions: nothing to hold out and still train on")
        drawn = rng.permutation(eligible)
        drawn = drawn[:max(2, int(np.searchsorted(np.cumsum(user_counts[drawn]), HISTORY_ROWS, side="right")))]
        val_count = min(VALIDATION_USERS, drawn.size // 5) if validation else 0
        eval_count = min(EVAL_USERS, drawn.size - val_count)
        if validation and val_count == 0:
            raise DataError(f"{folder}: {drawn.size} users with two or more interactions: too few to hold out some "
                            "and validate on others")
        eval_users, val_users = np.sort(drawn[:eval_count]), np.sort(drawn[eval_count:eval_count + val_count])
        history = self._histories(np.r_[eval_users, val_users])
        held = self._latest(history, rng)  # (user, item, row) of each chosen user's held-out interaction
        self.excluded_rows = np.sort(held[2])
        train_counts = item_counts - np.bincount(held[1], minlength=len(item_counts))
        self.train_positives = self.interactions - len(self.excluded_rows)
        self.train_item_count = train_counts
        self.train_weights = item_weights(config.negative_sampling, train_counts, config.popularity_exponent,
                                          OOV_INDEX + 1)
        eval_weights = item_weights(config.eval_negative_sampling, train_counts, config.popularity_exponent,
                                    OOV_INDEX + 1)
        self.negatives_per_positive = negatives_per_positive(config.negatives_per_positive, self.train_positives)
        positives = PositiveSet(history[0], history[1], self.data.num_items, first_item=OOV_INDEX + 1)
        is_eval = np.isin(held[0], eval_users)
        user_vocab = self.data.vocabularies["user_id"]
        k = self.negatives_per_positive

        self.holdout_user, self.holdout_item = held[0][is_eval], held[1][is_eval]
        self.candidates, per_row = draw_eval(self.holdout_user, self.holdout_item, config.eval_candidates, k,
                                             positives, rng, eval_weights, user_vocab)
        self.pointwise_users = np.repeat(self.holdout_user, 1 + k)
        self.pointwise_items = per_row.reshape(-1)
        self.pointwise_labels = pointwise_labels(len(self.holdout_user), k)
        self.validation = None
        if val_count:
            val_user, val_item = held[0][~is_eval], held[1][~is_eval]
            lists, items = draw_eval(val_user, val_item, config.eval_candidates, k, positives, rng, eval_weights,
                                     user_vocab)
            self.validation = EvalData(
                pointwise=self.rows(np.repeat(val_user, 1 + k), items.reshape(-1)),
                labels=pointwise_labels(len(val_user), k),
                ranking=self.rows(np.repeat(val_user, lists.shape[1]), lists.reshape(-1)),
                num_candidates=int(lists.shape[1]),
            )

    def _count(self) -> tuple[np.ndarray, np.ndarray]:
        """Pass 1: interactions per user and per item (model ids: the log's ids + 1, 0 being OOV)."""
        users = np.zeros(self.data.num_users, dtype=np.int64)
        items = np.zeros(self.data.num_items, dtype=np.int64)
        for chunk in shards.chunks(self.paths, LOG_COLUMNS, first_rows=self.first_rows):
            user, item = self._model_ids(chunk)
            users += np.bincount(user, minlength=len(users))
            items += np.bincount(item, minlength=len(items))
        return users, items

    def _model_ids(self, chunk: shards.Chunk) -> tuple[np.ndarray, np.ndarray]:
        user = chunk.columns["user"].astype(np.int64) + 1
        item = chunk.columns["item"].astype(np.int64) + 1
        for name, ids, size in (("user", user, self.data.num_users), ("item", item, self.data.num_items)):
            bad = (ids < 1) | (ids >= size)
            if bad.any():
                row = chunk.first_row + int(np.flatnonzero(bad)[0])
                raise DataError(f"{chunk.path}: row {row}: {name} id {int(ids[bad][0]) - 1} is outside the "
                                f"vocabulary (0..{size - 2} as vocab/{name}_id.txt has)")
        return user, item

    def _histories(self, users: np.ndarray) -> tuple[np.ndarray, ...]:
        """Pass 2: (user, item, time, row) of every interaction of `users`."""
        chosen = np.zeros(self.data.num_users, dtype=bool)
        chosen[users] = True
        columns = LOG_COLUMNS + (("timestamp",) if self.timed else ())
        parts = []
        for chunk in shards.chunks(self.paths, columns, first_rows=self.first_rows):
            user, item = self._model_ids(chunk)
            keep = np.flatnonzero(chosen[user])
            time = chunk.columns["timestamp"][keep].astype(np.int64) if self.timed else np.zeros(len(keep), np.int64)
            parts.append((user[keep], item[keep], time, chunk.first_row + keep))
        return tuple(np.concatenate([part[i] for part in parts]) for i in range(4))

    def _latest(self, history: tuple[np.ndarray, ...], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """Each user's latest interaction in `history` (by time, then row; without time, a random one)."""
        user, item, time, row = history
        key = time if self.timed else rng.random(len(user))
        order = np.lexsort((row, key, user))
        last = order[np.r_[user[order][1:] != user[order][:-1], True]]
        return user[last], item[last], row[last]

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
        return self.train_positives * (1 + self.negatives_per_positive)

    @property
    def item_vectors(self) -> np.ndarray | None:
        return self.data.item_vectors

    def summary(self) -> str:
        return (f"{self.data.num_users} users, {self.data.num_items} items, {self.interactions} interactions in "
                f"{len(self.paths)} shard(s), streamed; {self.train_positives} train positives x "
                f"(1 + {self.negatives_per_positive} negatives) per epoch")

    def describe(self) -> str:
        c = self.config
        order = "by timestamp" if self.timed else f"at random (no timestamps; seed {self.seed})"
        return (f"the latest interaction {order} of {self.held_out} users drawn with seed {self.seed}, each ranked "
                f"among {c.eval_candidates - 1} {c.eval_negative_sampling}-sampled unseen items; pointwise with "
                f"{self.negatives_per_positive} sampled negatives per held-out positive")

    def rows(self, user: np.ndarray, item: np.ndarray) -> dict[str, np.ndarray]:
        out = {"user_id": user.astype(np.int32), "item_id": item.astype(np.int32)}
        out.update({n: t[user].astype(np.int32) for n, t in self.data.user_features.items()})
        out.update({n: t[item].astype(np.int32) for n, t in self.data.item_features.items()})
        return {f.name: out[f.name] for f in self.features}

    def pointwise_eval(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        return self.rows(self.pointwise_users, self.pointwise_items), self.pointwise_labels

    def ranking_eval(self) -> dict[str, np.ndarray]:
        users = np.repeat(self.holdout_user, self.candidates.shape[1])
        return self.rows(users, self.candidates.reshape(-1))

    def held_out_eval(self) -> EvalData:
        return EvalData(*self.pointwise_eval(), self.ranking_eval(), self.num_candidates)

    def train_item_counts(self) -> np.ndarray:
        return self.train_item_count

    def holdout_item_counts(self) -> np.ndarray:
        return self.train_item_count[self.holdout_item].astype(np.int32)

    def positives_per_batch(self, batch_size: int) -> int:
        """Positives in a global batch of about `batch_size` rows (each brings its negatives)."""
        return max(1, batch_size // (1 + self.negatives_per_positive))

    def dataset(self, batch_size: int, workers: int = 1, worker: int = 0):
        """The endless training stream: ((features), labels) batches of this worker's slice of global
        batches of about `batch_size` rows.

        Every worker reads every shard in the same order and keeps its slice of each global batch (its
        share of the positives, each with its negatives; shares differ by at most one positive), so a
        run trains on the same batches whatever the number of workers, and two workers give about the
        model one process gives: only the order of floating-point sums differs, and the weight of a
        row in a share one positive smaller. Each pass over the shards reads them in a new order and reshuffles rows
        through the buffer; negatives are drawn per global batch from (seed, batch number).
        """
        from edgerec._keras import tf

        k = self.negatives_per_positive
        per_batch = self.positives_per_batch(batch_size)
        if per_batch < workers:
            raise DataError(f"{self.folder}: a batch of {batch_size} rows has {per_batch} positive(s) for {workers} "
                            "workers; raise teacher_training.batch_size")
        first, last = worker * per_batch // workers, (worker + 1) * per_batch // workers
        files = tf.data.Dataset.from_tensor_slices(([str(p) for p in self.paths], self.first_rows))
        files = files.shuffle(len(self.paths), seed=self.seed, reshuffle_each_iteration=True)
        signature = (tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32))

        def read(path, first_row):
            return tf.data.Dataset.from_generator(self._positives, args=(path, first_row), output_signature=signature)

        rows = files.repeat().interleave(read, cycle_length=min(4, len(self.paths)))
        rows = rows.unbatch().shuffle(SHUFFLE_ROWS, seed=self.seed, reshuffle_each_iteration=True)
        batches = rows.batch(per_batch, drop_remainder=True).enumerate()
        sampler = _NegativeSampler(self)
        user_tables = {n: tf.constant(t) for n, t in self.data.user_features.items()}
        item_tables = {n: tf.constant(t) for n, t in self.data.item_features.items()}
        names = self.input_names

        def with_negatives(step, positives):
            user, item = positives
            negatives = tf.reshape(sampler(step, per_batch * k), [per_batch, k])
            mine = slice(first, last)
            user, item, negatives = user[mine], item[mine], tf.reshape(negatives[mine], [-1])
            users = tf.concat([user, tf.repeat(user, k)], 0)
            items = tf.concat([item, negatives], 0)
            out = {"user_id": users, "item_id": items}
            out.update({n: tf.gather(t, users) for n, t in user_tables.items()})
            out.update({n: tf.gather(t, items) for n, t in item_tables.items()})
            labels = tf.concat([tf.ones_like(user, tf.float32), tf.zeros_like(negatives, tf.float32)], 0)
            return {n: out[n] for n in names}, labels

        return batches.map(with_negatives, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(
            tf.data.AUTOTUNE)

    def _positives(self, path: bytes, first_row: int):
        """One shard's training positives (model ids), record batch by record batch, held-out rows dropped."""
        chunks = shards.chunks([Path(path.decode())], LOG_COLUMNS, first_rows=[int(first_row)])
        for chunk in chunks:
            user, item = self._model_ids(chunk)
            rows = chunk.first_row + np.arange(len(chunk))
            at = np.searchsorted(self.excluded_rows, rows).clip(max=max(len(self.excluded_rows) - 1, 0))
            keep = self.excluded_rows[at] != rows if len(self.excluded_rows) else np.ones(len(rows), bool)
            yield user[keep].astype(np.int32), item[keep].astype(np.int32)


class _NegativeSampler:
    """Items for negatives, `count` per call, from the task's training weights (uniform without them),
    never the OOV item; drawn from (seed, step) so every global batch's draw is repeatable."""

    def __init__(self, task: StreamingTask):
        from edgerec._keras import tf

        self.tf = tf
        self.low, self.high = OOV_INDEX + 1, task.data.num_items
        self.seed = task.seed
        self.cdf = None if task.train_weights is None else tf.constant(np.cumsum(task.train_weights), tf.float64)

    def __call__(self, step, count):
        tf = self.tf
        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])
        if self.cdf is None:
            return tf.random.stateless_uniform([count], seed, minval=self.low, maxval=self.high, dtype=tf.int32)
        draws = tf.random.stateless_uniform([count], seed, dtype=tf.float64)
        items = tf.searchsorted(self.cdf, draws, side="right", out_type=tf.int32)
        return tf.clip_by_value(items, self.low, self.high - 1)
