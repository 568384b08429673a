"""The one place edgerec imports Keras.

TFMOT 0.8 only works with Keras 2, which TensorFlow 2.16+ ships as the separate `tf_keras`
package. `TF_USE_LEGACY_KERAS=1` must be set before TensorFlow is first imported so that
`tf.keras` (used inside TFMOT and the TFLite converter) is that same Keras 2. Every module
that needs Keras does `from edgerec._keras import keras, tf`, so the ordering cannot be
got wrong elsewhere. A user who already imported TensorFlow with Keras 3 gets a clear error.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

if not tf.keras.__name__.startswith("tf_keras"):
    raise ImportError(
        "TensorFlow was imported before edgerec with Keras 3 active; TFMOT needs Keras 2. "
        "Set TF_USE_LEGACY_KERAS=1 before importing TensorFlow."
    )

__all__ = ["keras", "tf"]
