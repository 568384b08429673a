"""Keras model -> .tflite bytes in one of the supported modes.

| mode    | weights      | activations | needs representative data |
| fp32    | float32      | float32     | no  |
| fp16    | float16      | float32     | no  |
| dynamic | int8         | float32     | no  |
| int8    | int8 (incl. embedding tables) | int8 | yes: full-integer, every op int8 |

int8 keeps the int32 id inputs (they are indices, not quantizable values) and a float32 logit
output, so an app feeds and reads the same tensors for every mode. A model trained with QAT
brings its own ranges for the layers it fake-quantized; the representative data calibrates
the rest (embeddings, concatenations).

`sparse=True` adds the converter's sparse encoding (`Optimize.EXPERIMENTAL_SPARSITY`): constant
FULLY_CONNECTED / CONV weights with at least 30 % zeros are stored as values plus CSR indices;
GATHER tables never are. Unless the zeros form the blocks a sparse kernel reads (1x4 float, 1x16
int8), the converter adds a DENSIFY op that rebuilds the dense weight at load time. Measured by
bench/sparse_encoding.py: it shrinks fp32 files (-31 % at 50 % sparsity, -74 % at 90 %) but
grows int8 ones at 50 % (a 1-byte index per 1-byte value), never lowers latency under XNNPACK,
and int8 files with DENSIFY fail to load under ai-edge-litert 2.3.0's XNNPACK delegate. Hence an
option here, not a build default.
"""

from __future__ import annotations

from typing import Callable, Iterator

from edgerec._keras import keras, tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TF loads)

MODES = ("fp32", "fp16", "dynamic", "int8")


class ConversionError(RuntimeError):
    """The converter rejected the model; the message carries the converter's reason."""


def convert(
    model: keras.Model,
    mode: str,
    representative: Callable[[], Iterator[dict]] | None = None,
    sparse: bool = False,
) -> bytes:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}. Received: mode={mode!r}")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode == "int8":
        if representative is None:
            raise ValueError("mode 'int8' needs representative data for calibration")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if sparse:
        converter.optimizations = [*converter.optimizations, tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    try:
        return converter.convert()
    except Exception as exc:  # the converter raises several unrelated types
        raise ConversionError(f"TFLite conversion ({mode}) of '{model.name}' failed: {exc}") from exc
