"""Validation-driven training: keep the best epoch's weights, stop after `patience` epochs without gain.

Why not `keras.callbacks.EarlyStopping(restore_best_weights=True)`: edgerec calls `model.fit` once
per epoch, because every epoch brings freshly sampled negatives, candidate groups and cached
teacher logits (`train.fit`); Keras resets a callback's state at the start of each `fit`, so its
patience would never count past one epoch. The tracker below is the same rule, kept across calls.

The monitored value is the task's selection metric on the validation split carved from the
training data (NDCG@10 when the task ranks candidate lists, AUC for CTR rows): never the held-out
set the bundle reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

# Why a stage's training ended (`Curve.stopped`); the report names them to the reader.
PATIENCE = "patience"  # `patience` epochs in a row without gain on validation
EPOCH_CAP = "max_epochs"  # ran every epoch it was allowed (`max_epochs`, or fewer under `max_steps`)


@dataclass
class Tracker:
    """The best value so far, the epoch it came from and a snapshot of the weights then.

    `update(value, snapshot)` is called after each epoch; it returns True when training should
    stop: `patience` epochs in a row did not beat the best by more than `min_delta`.
    `snapshot` is only called when the epoch is the new best, so copying weights costs one copy
    per improvement.
    """

    patience: int
    higher_is_better: bool = True
    min_delta: float = 0.0
    best_value: float | None = None
    best_epoch: int = 0  # 1-based; 0 until the first update
    best_weights: object = None
    epochs_seen: int = 0

    def update(self, value: float, snapshot: Callable[[], object]) -> bool:
        self.epochs_seen += 1
        if self._improves(value):
            self.best_value, self.best_epoch, self.best_weights = value, self.epochs_seen, snapshot()
        return self.epochs_seen - self.best_epoch >= self.patience

    def _improves(self, value: float) -> bool:
        if self.best_value is None:
            return True
        gain = value - self.best_value if self.higher_is_better else self.best_value - value
        return gain > self.min_delta


@dataclass
class Curve:
    """One stage's learning curve, for the manifest and the report's plot.

    `epochs` holds per epoch {"epoch", "loss", "validation", "seconds"}; `best_epoch` is the one
    whose weights were kept (the last epoch when nothing was monitored); `stopped` says why
    training ended: PATIENCE or EPOCH_CAP.
    """

    monitor: str | None
    epochs: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    stopped: str = EPOCH_CAP

    def to_dict(self) -> dict:
        return {"monitor": self.monitor, "best_epoch": self.best_epoch, "stopped": self.stopped, "epochs": self.epochs}
