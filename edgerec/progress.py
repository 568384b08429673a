"""Progress within an epoch, on a terminal only: a tqdm bar over the epoch's batches.

A 70-second teacher epoch used to show nothing until its log line. On a terminal each
`model.fit` epoch now draws a bar (batches done, rate, time left) that clears itself when the
epoch ends, so the console keeps only the one line per epoch that logs and CI output also get;
off a terminal (a pipe, a file, a test) nothing is drawn and the output is the same as before.
"""

from __future__ import annotations

import sys

from edgerec import console
from edgerec._keras import keras


class BatchBar(keras.callbacks.Callback):
    """A tqdm bar for one `model.fit(epochs=1)` call."""

    def __init__(self, label: str, steps: int | None):
        super().__init__()
        self.label, self.steps, self.bar = label, steps, None

    def on_train_begin(self, logs=None):
        from tqdm import tqdm

        self.bar = tqdm(total=self.steps, desc=f"  {self.label}", unit="batch", leave=False, file=sys.stderr,
                        mininterval=0.5, dynamic_ncols=False, ncols=100)

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(1)
        if logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)

    def on_train_end(self, logs=None):
        self.bar.close()


def epoch_callbacks(label: str, steps: int | None) -> list[keras.callbacks.Callback]:
    """[a BatchBar] when stderr reaches a terminal, else []."""
    return [BatchBar(label, steps)] if console.stderr_is_terminal() else []
