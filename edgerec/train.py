"""Training and evaluation loops shared by every stage of the pipeline.

Each epoch gets its data from the task (freshly sampled negatives, or reshuffled CTR rows,
seeded by epoch, so every model sees the same data), and evaluation always uses the task's
fixed held-out sets and the one metrics implementation in `device_bench.metrics`, so
Keras-side and device-side numbers are comparable.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from device_bench import metrics
from edgerec import progress
from edgerec._keras import keras, tf
from edgerec.data.task import CtrTask, EvalData, RankingTask
from edgerec.early_stopping import PATIENCE, Curve, Tracker
from edgerec.recipe import TrainConfig

Log = Callable[[str], None]
PREDICT_BATCH = 8192


def fit(
    model: keras.Model,
    task: RankingTask | CtrTask,
    config: TrainConfig,
    max_epochs: int,
    label: str,
    log: Log,
    callbacks: list | None = None,
    epoch_data: Callable[[int], dict] | None = None,
    scored: keras.Model | None = None,
) -> Curve:
    """Trains `model` (already compiled) for up to `max_epochs` epochs of resampled data; returns the learning curve.

    With a validation split (every build carves one), `scored` (default: `model`; a Distiller's
    student) is scored on it after each epoch; the best epoch's weights of `scored` are kept and
    training stops after `config.patience` epochs without gain (see `edgerec.early_stopping`).
    `epoch_data(epoch)` gives the `model.fit` keyword arguments of an epoch when the model
    needs more than (rows, labels), as a `Distiller` does (`Distiller.epoch_data`).
    """
    scored = scored or model
    max_epochs = min(max_epochs, epoch_cap(task, config))
    monitor = selection_metric(task) if task.validation is not None else None
    tracker = Tracker(config.patience)
    curve = Curve(monitor)
    for epoch in range(max_epochs):
        start = time.perf_counter()
        if epoch_data is None:
            features, labels = task.train_epoch(epoch)
            data = {"x": features, "y": labels, "batch_size": batch_size(task, config)}
        else:
            data = epoch_data(epoch)
        bar = progress.epoch_callbacks(f"{label} epoch {epoch + 1}/{max_epochs}",
                                       steps_per_epoch(task, config) if epoch_data is None else None)
        history = model.fit(**data, epochs=1, verbose=0, callbacks=[*(callbacks or []), *bar])
        record = {"epoch": epoch + 1, "loss": round(float(history.history["loss"][-1]), 6)}
        stop = False
        if monitor is not None:
            record["validation"] = evaluate_on(scored, task.validation)[monitor]
            stop = tracker.update(record["validation"], scored.get_weights)
        record["seconds"] = round(time.perf_counter() - start, 1)
        curve.epochs.append(record)
        shown = f" validation {monitor} {record['validation']:.4f}" if monitor is not None else ""
        log(f"  {label}: epoch {epoch + 1}/{max_epochs} loss {record['loss']:.4f}{shown} ({record['seconds']:.0f}s)")
        if stop:
            curve.stopped = PATIENCE
            break
    curve.best_epoch = tracker.best_epoch if monitor is not None else len(curve.epochs)
    if monitor is not None and curve.best_epoch != len(curve.epochs):
        scored.set_weights(tracker.best_weights)
        log(f"  {label}: kept epoch {curve.best_epoch} (best validation {monitor} {tracker.best_value:.4f})")
    return curve


def selection_metric(task: RankingTask | CtrTask) -> str:
    """The validation metric every choice is made on: NDCG@10 when the task ranks candidate lists, else AUC."""
    return "ndcg@10" if task.num_candidates else "auc"


def with_candidate_groups(
    rows: tuple[dict[str, np.ndarray], dict[str, np.ndarray]],
    labels: np.ndarray,
    groups: dict[str, np.ndarray],
    batch_size: int,
) -> tf.data.Dataset:
    """Batches ((features, extras), labels): the pointwise rows in order, next to an equal share of groups.

    `rows` is (features, per-row extras); `groups` holds arrays with one entry per group
    (one group per user), merged into the extras. Groups are spread over the epoch's steps,
    ceil(groups / steps) per batch, repeating if needed, so every user's group is seen about
    once per epoch whatever the batch.
    """
    steps = max(1, -(-len(labels) // batch_size))
    count = len(tf.nest.flatten(groups)[0])
    per_batch = -(-count // steps)
    # Slices of whole tensors per step, not from_tensor_slices(...).batch(...): that builds every
    # batch row by row, which on the default dataset's 5M rows cost ~30 s an epoch.
    (features, extras), y = tf.nest.map_structure(tf.constant, (rows, labels))
    grouped = tf.nest.map_structure(tf.constant, groups)

    def batch(step):
        start = step * batch_size
        cut = lambda t: t[start:start + batch_size]  # noqa: E731
        picks = (step * per_batch + tf.range(per_batch, dtype=tf.int64)) % count  # groups repeat round-robin
        share = tf.nest.map_structure(lambda t: tf.gather(t, picks), grouped)
        return (tf.nest.map_structure(cut, features), {**tf.nest.map_structure(cut, extras), **share}), cut(y)

    return tf.data.Dataset.range(steps).map(batch)


def compile_ranker(model: keras.Model, config: TrainConfig, task: RankingTask | CtrTask | None = None) -> None:
    model.compile(optimizer=optimizer(config, task), loss=keras.losses.BinaryCrossentropy(from_logits=True))


def optimizer(config: TrainConfig, task: RankingTask | CtrTask | None = None) -> keras.optimizers.Optimizer:
    """Adam at the config's learning rate, or AdamW with `weight_decay`; with `lr_schedule: cosine`
    the rate decays to a tenth over the stage's epoch cap on `task` (`epoch_cap`).

    Decoupled weight decay (Loshchilov & Hutter, 2019) shrinks every embedding row a little each
    step, the regulariser sparse logs need: rows of rare ids otherwise keep whatever their few
    updates gave them, and the teacher grows over-confident on them.
    """
    rate = config.learning_rate
    if config.lr_schedule == "cosine":
        if task is None:
            raise ValueError("lr_schedule 'cosine' needs the task to know how many steps it decays over")
        steps = steps_per_epoch(task, config) * epoch_cap(task, config)
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=steps, alpha=0.1)
    if config.weight_decay:
        return keras.optimizers.AdamW(rate, weight_decay=config.weight_decay)
    return keras.optimizers.Adam(rate)


def batch_size(task: RankingTask | CtrTask, config: TrainConfig) -> int:
    """`config.batch_size`, lowered on small data so an epoch has `min_steps_per_epoch` steps."""
    if not config.min_steps_per_epoch:
        return config.batch_size
    return max(1, min(config.batch_size, task.train_rows_per_epoch // config.min_steps_per_epoch))


def steps_per_epoch(task: RankingTask | CtrTask, config: TrainConfig) -> int:
    return max(1, -(-task.train_rows_per_epoch // batch_size(task, config)))


def epoch_cap(task: RankingTask | CtrTask, config: TrainConfig) -> int:
    """`max_epochs`, lowered by `max_steps` on large data (at least one epoch)."""
    if not config.max_steps:
        return config.max_epochs
    return max(1, min(config.max_epochs, -(-config.max_steps // steps_per_epoch(task, config))))


def predict_logits(model: keras.Model, features: dict[str, np.ndarray]) -> np.ndarray:
    return np.asarray(model.predict(features, batch_size=PREDICT_BATCH, verbose=0), dtype=np.float64).reshape(-1)


def evaluate(model: keras.Model, task: RankingTask | CtrTask) -> dict[str, float]:
    """`metrics.score` of the model on the task's held-out sets: the pointwise rows, and the NCF
    candidates when the task has them (a CTR task has none: its metrics have no ranking keys)."""
    labels, pointwise, ranking = held_out_logits(model, task)
    return metrics.score(labels, pointwise, ranking)


def held_out_logits(model: keras.Model, task: RankingTask | CtrTask) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The pointwise labels and the model's logits on them, and its logits on the candidate lists
    (lists x candidates, the held-out item first; None for a task without lists)."""
    features, labels = task.pointwise_eval()
    pointwise = predict_logits(model, features)
    ranking = None
    if task.num_candidates:
        ranking = predict_logits(model, task.ranking_eval()).reshape(task.candidates.shape)
    return labels, pointwise, ranking


def evaluate_on(model: keras.Model, data: EvalData) -> dict[str, float]:
    """The task's metrics of `model` on one evaluation set (the validation split, say)."""
    return score_eval(lambda rows: predict_logits(model, rows), data)


def score_eval(predict: Callable[[dict[str, np.ndarray]], np.ndarray], data: EvalData) -> dict[str, float]:
    """The metrics of the logits `predict` gives on `data` (a Keras model's, or a .tflite file's)."""
    pointwise = predict(data.pointwise)
    ranking = predict(data.ranking).reshape(-1, data.num_candidates) if data.num_candidates else None
    return metrics.score(data.labels, pointwise, ranking)
