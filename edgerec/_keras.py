"""The one place edgerec imports Keras.

TFMOT 0.8 only works with Keras 2, which TensorFlow 2.16+ ships as the separate `tf_keras`
package. `TF_USE_LEGACY_KERAS=1` must be set before TensorFlow is first imported so that
`tf.keras` (used inside TFMOT and the TFLite converter) is that same Keras 2. Every module
that needs Keras does `from edgerec._keras import keras, tf`, so the ordering cannot be
got wrong elsewhere. A user who already imported TensorFlow with Keras 3 gets a clear error.

TensorFlow's native libraries also print start-up chatter on file descriptor 2 as they load
(absl's "All log messages before absl::InitializeLog()" and "Could not find cuda drivers" on a
CPU-only machine), which `TF_CPP_MIN_LOG_LEVEL` cannot silence because it comes before logging
is configured. It would precede every message edgerec prints, errors included, so those two
lines are dropped; anything else written during the import is passed on.
"""

import contextlib
import os
import sys
import tempfile
from typing import Iterator

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

IMPORT_NOISE = ("All log messages before absl::InitializeLog()", "cudart_stub.cc")


@contextlib.contextmanager
def _without_native_noise(noise: tuple[str, ...]) -> Iterator[None]:
    """Captures fd 2 while the block runs, then re-emits every line not matching `noise`."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines(keepends=True):
                if not any(marker in line for marker in noise):
                    sys.stderr.write(line)


with _without_native_noise(IMPORT_NOISE):
    import tensorflow as tf
    import tf_keras as keras

if not tf.keras.__name__.startswith("tf_keras"):
    raise ImportError(
        "TensorFlow was imported before edgerec with Keras 3 active; TFMOT needs Keras 2. "
        "Set TF_USE_LEGACY_KERAS=1 before importing TensorFlow."
    )

__all__ = ["keras", "tf"]
