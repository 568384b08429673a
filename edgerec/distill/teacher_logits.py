"""A frozen teacher's logits on each training epoch, computed once and read by every student.

An epoch's rows and candidate groups depend only on the task's seed and the epoch number
(`RankingTask.train_epoch`, `candidate_groups`), and the teacher is frozen, so its logits on
them are the same for the distilled student, for every compression fine-tuning stage and for
every arm and seed of an ablation. Running the teacher inside each training step recomputed
them for each of those students: with the default teacher that made a distilled epoch cost 2–3×
an epoch of the student alone. Losses that read other teacher layers (hint, embedding) still
run the teacher, only up to those layers, inside the step.

The logits are those the step computed before (`training=False`, same rows); only the batch
the teacher is run at differs, which may change float rounding.
"""

from __future__ import annotations

import numpy as np

from edgerec import train
from edgerec._keras import keras
from edgerec.data.task import CtrTask, RankingTask


class TeacherLogits:
    """Per-epoch teacher logits for one (teacher, task) pair, computed on first use."""

    def __init__(self, teacher: keras.Model, task: RankingTask | CtrTask):
        self.teacher, self.task = teacher, task
        self._rows: dict[int, np.ndarray] = {}
        self._groups: dict[tuple[int, int], np.ndarray] = {}

    def rows(self, epoch: int) -> np.ndarray:
        """Logits of `task.train_epoch(epoch)`'s rows, shape (rows, 1), in the same order."""
        if epoch not in self._rows:
            features, _ = self.task.train_epoch(epoch)
            self._rows[epoch] = train.predict_logits(self.teacher, features).astype(np.float32).reshape(-1, 1)
        return self._rows[epoch]

    def groups(self, epoch: int, size: int) -> np.ndarray:
        """Logits of `task.candidate_groups(epoch, size)`, shape (groups, size)."""
        if (epoch, size) not in self._groups:
            groups = self.task.candidate_groups(epoch, size)
            flat = {name: ids.reshape(-1) for name, ids in groups.items()}
            logits = train.predict_logits(self.teacher, flat).astype(np.float32)
            self._groups[epoch, size] = logits.reshape(-1, size)
        return self._groups[epoch, size]
