"""Every int8 FULLY_CONNECTED gets a bias tensor: a zero int32 bias where the converter left none.

Why: tflite-runtime 2.14's ARM builds (the interpreter of Raspberry Pi images that pin numpy < 2,
and the only one with armv7 wheels) run an int8 FULLY_CONNECTED at batch > 1 through gemmlowp's
per-channel output stage, which reads the bias without checking that there is one: an int8
FULLY_CONNECTED with no bias tensor segfaults there. Reproduced under qemu-system-aarch64 as well as
qemu-user, the NULL pointer found with gdb (docs/arm_emulation.md); tflite-runtime is frozen, so it
will not be fixed upstream. Keras layers without a bias convert to exactly that (`LowRankDense`'s
first factor x @ U, a factorised table's projection), and so does a Dense whose bias is all zeros.

A zero bias adds nothing to any output. Its scale is input scale x weight scale (per output channel
when the weights are per-channel), the scale TFLite requires of an int8 FULLY_CONNECTED's bias.
"""

from __future__ import annotations

import numpy as np

from edgerec._keras import tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TF loads)
from tensorflow.lite.python import schema_py_generated as schema  # noqa: E402
from tensorflow.lite.tools import flatbuffer_utils  # noqa: E402


def add_missing_biases(data: bytes) -> bytes:
    """`data` (a .tflite flatbuffer) with a zero bias on every int8 FULLY_CONNECTED that has none;
    `data` itself when there is none to add."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    fully_connected = {
        index for index, code in enumerate(model.operatorCodes)
        if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.FULLY_CONNECTED
    }
    added = 0
    for graph in model.subgraphs:
        for op in graph.operators:
            if op.opcodeIndex not in fully_connected:
                continue
            inputs = [int(i) for i in op.inputs]
            has_bias = len(inputs) > 2 and inputs[2] >= 0
            x, w = graph.tensors[inputs[0]], graph.tensors[inputs[1]]
            if has_bias or x.type != schema.TensorType.INT8 or w.type != schema.TensorType.INT8:
                continue
            graph.tensors.append(_zero_bias(model, x, w))
            op.inputs = np.asarray([inputs[0], inputs[1], len(graph.tensors) - 1], dtype=np.int32)
            added += 1
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)) if added else data


def _zero_bias(model: schema.ModelT, x: schema.TensorT, w: schema.TensorT) -> schema.TensorT:
    """An int32 zero vector of one value per output unit, in a new buffer of `model`."""
    units = int(w.shape[0])
    weight_scales = np.asarray(w.quantization.scale, dtype=np.float64)
    buffer = schema.BufferT()
    buffer.data = np.zeros(units, dtype=np.int32).view(np.uint8)
    model.buffers.append(buffer)
    quantization = schema.QuantizationParametersT()
    quantization.scale = (float(x.quantization.scale[0]) * weight_scales).astype(np.float32).tolist()
    quantization.zeroPoint = [0] * len(quantization.scale)
    quantization.quantizedDimension = 0
    bias = schema.TensorT()
    bias.shape = np.asarray([units], dtype=np.int32)
    bias.type = schema.TensorType.INT32
    bias.buffer = len(model.buffers) - 1
    bias.name = (w.name or b"fully_connected") + b"/zero_bias"
    bias.quantization = quantization
    return bias
