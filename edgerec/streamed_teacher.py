"""`edgerec teacher`: the recipe's teacher trained on a log streamed from Parquet shards, on one process
or on a cluster of workers under `tf.distribute.MultiWorkerMirroredStrategy`.

The build (`edgerec build`) holds its task in memory; a log that outgrows one machine trains its
teacher here instead. The data is `data.stream.StreamingTask`'s: a `tf.data` pipeline whose memory
does not grow with the interactions, each worker taking its slice of every global batch. Everything else is
the build's: the recipe's teacher architecture and training settings (`teacher`,
`teacher_training`), the stage seed, the validation-driven best epoch and patience
(`early_stopping`), and `stages.measure` for the held-out scores.

An "epoch" is a pass over the training positives (`train.steps_per_epoch` steps at the global
batch), capped as the build caps it (`train.epoch_cap`); `steps` replaces that with a fixed number of
steps (`bench/scale.py`) in equal passes of at most an epoch (rounded up to a multiple of the
passes), all of them (no early stop), scored on validation after each pass and the best pass kept.

Fault tolerance is Keras's `BackupAndRestore`: every `backup_steps` steps (`cluster.BACKUP_STEPS` by default)
the model, optimizer and step counter are written under `out/backup/`; a run started again with
`resume=True` (all workers, after any of them died) continues from there, and the validation
history and best weights come back from `out/selection/`. The chief (worker 0) alone writes the
outputs: `teacher.weights.npz` (the best epoch's weights) and `teacher.json` (held-out scores, curve,
throughput, peak memory). On a cluster `out` must be one shared folder (NFS, a bucket mount).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Callable

from device_bench import memory
from edgerec import checkpoints, cluster, io, train
from edgerec._keras import keras
from edgerec.data.stream import StreamingTask
from edgerec.early_stopping import PATIENCE, Curve, Tracker
from edgerec.models.zoo import build_ranker
from edgerec.recipe import Recipe
from edgerec.stages import measure, seed_stage

Log = Callable[[str], None]
WEIGHTS = "teacher.weights.npz"  # get_weights() order (edgerec.checkpoints)
RESULT = "teacher.json"
BACKUP = "backup"
SELECTION = "selection"  # the validation history and best weights, kept across restarts
KEY = "teacher"  # the stage key: seeds the teacher as the build seeds its teacher


class RunExistsError(cluster.EdgerecError, FileExistsError):
    """`out` holds a finished or an interrupted teacher run and neither --force nor --resume said what to do."""


def run(recipe: Recipe, data: Path, out: Path, worker: cluster.Worker = cluster.Worker(), steps: int | None = None,
        resume: bool = False, force: bool = False, backup_steps: int = cluster.BACKUP_STEPS, log: Log = print) -> dict:
    """Trains, scores and (on the chief) writes the teacher; returns what teacher.json holds."""
    out = Path(out)
    if _check_out(out, resume, force, worker):
        log(f"{out / RESULT}: this run finished already; nothing to resume (--force starts over)")
        return json.loads((out / RESULT).read_text())
    strategy = cluster.strategy(worker)  # before any other TensorFlow op: the collectives start here
    log(f"[data] {data} ({worker.describe()})")
    task = StreamingTask(data, recipe.data, recipe.seed)
    log(f"  {task.summary()}")
    log(f"  held out: {task.describe()}; validation: {task.validation.describe()}")
    config = recipe.teacher_training
    batch = train.batch_size(task, config)
    per_epoch = train.steps_per_epoch(task, config)
    epochs = train.epoch_cap(task, config)
    if steps is not None:
        epochs = -(-steps // per_epoch)
        per_epoch = -(-steps // epochs)
    with strategy.scope():
        seed_stage(recipe.seed, KEY)
        model = build_ranker(task.features, recipe.teacher, KEY, seed=recipe.seed, item_vectors=task.item_vectors)
        train.compile_ranker(model, config, task)
    if worker.count == 1:
        stream = task.dataset(batch)
    else:  # every worker builds the global batches and keeps its slice (StreamingTask.dataset)
        stream = strategy.distribute_datasets_from_function(
            lambda ctx: task.dataset(batch, ctx.num_input_pipelines, ctx.input_pipeline_id))
    batch = task.positives_per_batch(batch) * (1 + task.negatives_per_positive)  # rows per global step
    patience = config.patience if steps is None else epochs  # a fixed number of steps runs them all
    selection = _Selection(task, patience, out / SELECTION, worker, log, epochs)
    meter = _Throughput()
    callbacks = [keras.callbacks.BackupAndRestore(str(out / BACKUP), save_freq=backup_steps), selection, meter]
    log(f"[{KEY}] {epochs} epoch(s) x {per_epoch} steps of {batch} rows ({worker.describe()})")
    t0 = time.perf_counter()
    with cluster.worker_loss(worker):
        model.fit(stream, epochs=epochs, steps_per_epoch=per_epoch, callbacks=callbacks, verbose=0)
    rows_per_second = meter.steps * batch / max(meter.seconds, 1e-9)
    peak = memory.peak_rss_bytes() / 2**20  # this process image's own peak, not a parent's (device_bench.memory)
    log(f"  {meter.steps} steps in this run, {rows_per_second:,.0f} rows/s; peak RSS {peak:,.0f} MiB")
    result = {
        "data": str(data), "task": task.summary(), "held_out": task.describe(), "workers": worker.count,
        "steps": int(model.optimizer.iterations.numpy()), "steps_this_run": meter.steps, "batch_size": batch,
        "rows_per_second": round(rows_per_second, 1), "peak_rss_mib": round(peak, 1), "recipe": recipe.to_dict(),
    }
    selection.keep_best(model)
    with cluster.worker_loss(worker):  # every worker scores: a prediction under the strategy is a collective op
        stage = measure(KEY, model, task, t0, log)
    stage.curve = selection.curve.to_dict()
    result["stage"] = vars(stage)
    if not worker.chief:  # the weights and scores are the same on every worker; the chief writes them
        return result
    checkpoints.write_weights(out / WEIGHTS, model.get_weights())
    io.write_json(out / RESULT, result)
    for name in (SELECTION, BACKUP):
        shutil.rmtree(out / name, ignore_errors=True)
    log(f"teacher written to {out / WEIGHTS}; scores in {out / RESULT}")
    return result


def _check_out(out: Path, resume: bool, force: bool, worker: cluster.Worker) -> bool:
    """Whether `out` holds a finished run that `resume` leaves as it is; refuses a run `out` holds when
    neither `force` nor `resume` says what to do with it (teacher.json is written last: it marks a
    finished run)."""
    if force and resume:
        raise RunExistsError("--force and --resume contradict each other: give one")
    finished = (out / RESULT).exists()
    interrupted = not finished and ((out / BACKUP).exists() or (out / SELECTION).exists())
    if resume and finished:
        return True
    if force and worker.chief:
        for name in (BACKUP, SELECTION):
            shutil.rmtree(out / name, ignore_errors=True)
        for name in (RESULT, WEIGHTS):
            (out / name).unlink(missing_ok=True)
    elif not resume and (interrupted or finished):  # every worker stops: none waits for a chief that left
        what = "an interrupted teacher run (--resume continues it)" if interrupted else "a trained teacher"
        raise RunExistsError(f"--out: {out} holds {what}; --force starts over")
    out.mkdir(parents=True, exist_ok=True)
    return False


class _Selection(keras.callbacks.Callback):
    """The build's validation-driven epoch choice (early_stopping.Tracker), kept on disk so it survives a
    restart: after each epoch the chief records the curve and, on a new best, that epoch's weights."""

    def __init__(self, task: StreamingTask, patience: int, folder: Path, worker: cluster.Worker, log: Log,
                 epochs: int):
        super().__init__()
        self.task, self.folder, self.worker, self.log, self.epochs = task, folder, worker, log, epochs
        self.monitor = train.selection_metric(task)
        self.tracker = Tracker(patience)
        self.curve = Curve(self.monitor)
        self.started = 0.0
        self.reported = False

    def on_train_batch_end(self, batch, logs=None):
        if not self.reported:  # the optimizer's step counter comes back from the backup with its first step
            self.reported = True
            done = int(self.model.optimizer.iterations.numpy()) - 1
            if done:
                self.log(f"  resumed from the backup at step {done}")

    def on_train_begin(self, logs=None):
        state = self.folder / "state.json"
        if state.is_file():  # a resumed run: the epochs before the restart count
            saved = json.loads(state.read_text())
            self.curve.epochs = saved["epochs"]
            self.tracker.epochs_seen = len(saved["epochs"])
            self.tracker.best_epoch, self.tracker.best_value = saved["best_epoch"], saved["best_value"]
            self.tracker.best_weights = str(self.folder / WEIGHTS)
            self.log(f"  resumed after epoch {len(saved['epochs'])} (best so far: epoch {saved['best_epoch']})")

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        value = train.evaluate_on(self.model, self.task.validation)[self.monitor]
        stop = self.tracker.update(value, self._snapshot)
        record = {"epoch": epoch + 1, "loss": round(float((logs or {}).get("loss", float("nan"))), 6),
                  "validation": value, "seconds": round(time.perf_counter() - self.started, 1)}
        self.curve.epochs.append(record)
        self.log(f"  {KEY}: epoch {epoch + 1}/{self.epochs} loss {record['loss']:.4f} validation {self.monitor} "
                 f"{value:.4f} ({record['seconds']:.0f}s)")
        if self.worker.chief:
            io.write_json(self.folder / "state.json", {"epochs": self.curve.epochs, "best_epoch": self.tracker.best_epoch,
                                                       "best_value": self.tracker.best_value})
        if stop:
            self.curve.stopped = PATIENCE
            self.model.stop_training = True

    def _snapshot(self) -> str:
        path = self.folder / WEIGHTS
        if self.worker.chief:
            checkpoints.write_weights(path, self.model.get_weights())
        return str(path)

    def keep_best(self, model: keras.Model) -> None:
        """Loads the best epoch's weights when training went past it (every worker reads the chief's file)."""
        self.curve.best_epoch = self.tracker.best_epoch
        if self.tracker.best_epoch != len(self.curve.epochs):
            model.set_weights(checkpoints.read_weights(Path(self.tracker.best_weights)))
            self.log(f"  {KEY}: kept epoch {self.tracker.best_epoch} (best validation {self.monitor} "
                     f"{self.tracker.best_value:.4f})")


class _Throughput(keras.callbacks.Callback):
    """Steps trained and seconds spent training in this process (validation excluded)."""

    def __init__(self):
        super().__init__()
        self.steps, self.seconds, self._start = 0, 0.0, 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        self.seconds += time.perf_counter() - self._start
