"""Keras model -> .tflite bytes in one of the supported modes.

| mode    | weights      | activations | needs representative data |
| fp32    | float32      | float32     | no  |
| fp16    | float16      | float32     | no  |
| dynamic | int8         | float32     | no  |
| int8    | int8 (incl. embedding tables) | int8 | yes: full-integer, every op int8 |
| int16x8 | int8 (embedding tables int16) | int16 | yes: full-integer, 16-bit activations |

The integer modes keep the int32 id inputs (they are indices, not quantizable values) and a
float32 logit output, so an app feeds and reads the same tensors for every mode. A model
trained with QAT brings its own 8-bit ranges for the layers it fake-quantized; the
representative data calibrates the rest (embeddings, concatenations). Such a model converts
only to int8: the int16x8 quantizer refuses its 8-bit fake-quant ops.

Every int8 FULLY_CONNECTED leaves with a bias tensor, a zero one where the converter left none:
tflite-runtime 2.14's ARM builds crash on one without at batch > 1 (`fc_bias`).

int16x8 (TFLite's EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8) runs every op of
the zoo, GATHER included; a GATHER's output has its table's type, so embedding tables are
stored int16 (2 bytes per value) while dense weights are int8.

`keep_float` (int8 only) names Keras layers whose ops stay in float32 while the rest of the
graph is full-integer: selective quantization through TFLite's QuantizationDebugger, which
re-quantizes the calibrated model with those layers' ops denylisted.

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

from typing import Callable, Iterator, Sequence

from converters import fc_bias
from converters import inspect as inspect_mod
from edgerec._keras import keras, tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TF loads)

MODES = ("fp32", "fp16", "dynamic", "int8", "int16x8")
CALIBRATED_MODES = ("int8", "int16x8")  # full-integer: need representative data


class ConversionError(RuntimeError):
    """The converter rejected the model; the message carries the converter's reason."""


def convert(
    model: keras.Model,
    mode: str,
    representative: Callable[[], Iterator[dict]] | None = None,
    keep_float: Sequence[str] = (),
    sparse: bool = False,
) -> bytes:
    """The .tflite bytes of `model` in `mode`; `keep_float` layers stay float32 (int8 only);
    `sparse` stores sparse-enough weights in TFLite's sparse encoding (see above)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}. Received: mode={mode!r}")
    if mode in CALIBRATED_MODES and representative is None:
        raise ValueError(f"mode '{mode}' needs representative data for calibration")
    if keep_float and mode != "int8":
        raise ValueError(f"keep_float applies to mode 'int8' only. Received: mode={mode!r}, keep_float={list(keep_float)}")
    scopes = _scopes(model, keep_float)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode in CALIBRATED_MODES:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if mode == "int8"
            else tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
    if sparse:
        converter.optimizations = [*converter.optimizations, tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    try:
        data = _int8_keeping_float(converter, scopes) if scopes else converter.convert()
    except Exception as exc:  # the converter raises several unrelated types
        raise ConversionError(f"TFLite conversion ({mode}) of '{model.name}' failed: {exc}") from exc
    return fc_bias.add_missing_biases(data) if mode == "int8" else data


def _scopes(model: keras.Model, names: Sequence[str]) -> dict[str, str]:
    """{graph name scope: layer name} of the layers `names`: the layer's own name, or its QAT wrapper's.

    A layer QAT annotated lives in the model as `QuantizeWrapper(name='quant_<name>')`; it is
    found by the name the user knows.
    """
    scopes = {}
    by_name = {layer.name: layer.name for layer in model.layers}
    wrapped = [layer for layer in model.layers if isinstance(getattr(layer, "layer", None), keras.layers.Layer)]
    by_name.update({layer.layer.name: layer.name for layer in wrapped})
    for name in names:
        if name not in by_name:
            raise ValueError(f"keep_float: '{name}' is not a layer of model '{model.name}'. Layers: {', '.join(by_name)}")
        scopes[by_name[name]] = name
    return scopes


def _int8_keeping_float(converter, scopes: dict[str, str]) -> bytes:
    """Full-integer int8 except the ops of the layers in `scopes`, which run in float32.

    The debugger calibrates once; the ops to keep are then found in the calibrated model by the
    layer scope in their tensor names, and denylisted by their output tensor (what TFLite's
    `denylisted_nodes` expects). TFLITE_BUILTINS is allowed next to the int8 set for the float ops.
    """
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    options = tf.lite.experimental.QuantizationDebugOptions
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_options=options())
    calibrated = inspect_mod.inspect_bytes(debugger.calibrated_model, "calibrated model")
    nodes = sorted({op["outputs"][0] for scope in scopes for op in inspect_mod.layer_ops(calibrated, scope)})
    missing = [name for scope, name in scopes.items() if not inspect_mod.layer_ops(calibrated, scope)]
    if missing:
        raise ValueError(f"keep_float: no TFLite op computes layer(s) {', '.join(sorted(missing))}")
    debugger.options = options(denylisted_nodes=nodes)
    data = debugger.get_nondebug_quantized_model()
    # The denylist only governs calibration-based quantization: weights QAT fake-quantized stay int8.
    result = inspect_mod.inspect_bytes(data, "converted model")
    still_integer = sorted(
        name for scope, name in scopes.items()
        if any(op["output_dtype"] not in inspect_mod.FLOAT_TYPES for op in inspect_mod.layer_ops(result, scope))
    )
    if still_integer:
        raise ValueError(
            f"keep_float: layer(s) {', '.join(still_integer)} still run in integer; a layer with QAT fake-quantized "
            "weights cannot be kept in float (leave it out of QAT's layers)"
        )
    return data
