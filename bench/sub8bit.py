"""Sub-8-bit embedding tables that stock interpreters really run (issue #20, item 1), in one run.

    python bench/sub8bit.py [--preset lastfm] [--epochs 4] [--batch 1 256] [--keep DIR]
                            [--aeq-python PY] [--tfr-python PY]

What it measures. A 32-d `[64, 32]` student (edgerec's MLP ranker) is trained on a synthetic preset
(`lastfm`: item table 12,263 x 32, user table 1,559 x 32, 99 % of the bytes), then stored in every
sub-8-bit form tried for the issue. Each file is benchmarked by `device_bench.run.bench` (a child
process per configuration, XNNPACK on, 1 thread) under ai-edge-litert (this Python) and under
tflite-runtime 2.14 (`--tfr-python`, a TensorFlow-free virtualenv): file bytes, p50 latency at each
`--batch`, AUC and NDCG@10 on the held-out rows, top-10 overlap with the fp32 file's per-user
ranking, and max / mean |logit - fp32 logit| over the held-out pointwise rows. A file an interpreter
cannot load or run is a row with the interpreter's own error; a form that cannot even be produced
is listed with the converter's / quantizer's error. Nothing is adjusted.

The forms (`make_files`):
- `fp32`, `int8`, `dynamic`: edgerec's own export modes (`converters.tflite`), the references.
- `packed4 lut`: int4 codes packed two per byte in a uint8 table P [V, d/2], with a per-row scale
  s [V, 1] (`row scale`) or one per table, unpacked in the graph by builtin ops
  (`PackedInt4Embedding`, unpack "lut"):
      e = RESHAPE(GATHER(C, CAST int32(GATHER(P, ids))), [-1, d]) * GATHER(s, ids)
  where C = `byte_codes()` is the 256 x 2 table of the two codes of every byte. In edgerec's int8
  mode the converter stores C int8 (its -8..7 are exact at the calibrated scale 1/17) and s int8,
  and every op is int8: GATHER, CAST, RESHAPE, MUL. `packed4 lut, row scale, fp32 graph` keeps
  float scales and activations.
- `packed4 shift`: the unpack the issue proposed, with bitwise ops on an int8 table in halves
  (`pack_nibbles`): hi = RIGHT_SHIFT(b, 4), lo = b - 16 hi - 8, CONCAT; the converter leaves a
  CAST(int32 -> float32) + QUANTIZE pair, which `fold_cast_quantize` makes one CAST(int32 -> int8).
- `gather int4`: the fp32 file with each table re-typed INT4 (`gather_int4`; per table: GATHER's
  output has its table's type and quantization, so a row scale cannot ride on it) + DEQUANTIZE.
- `converter: ...`: TF 2.21's converter on `fake_quant_with_min_max_vars(num_bits=4)` tables, its
  only int4 switch (int8 mode, Optimize.DEFAULT, `_experimental_low_bit_qat`); `converter_toys`
  shows what it makes of a graph whose activations are fake-quantized too.
- `AEQ ...`: ai-edge-quantizer 0.10.0 recipes (`AEQ_RECIPES`), run in `--aeq-python` (it pins
  ai-edge-litert 2.3.0, so it gets its own virtualenv). Its 4-bit policy covers EMBEDDING_LOOKUP,
  not GATHER, so the fp32 file's GATHERs are rewritten as EMBEDDING_LOOKUPs first
  (`gather_to_embedding_lookup`; `fp32 as EMBEDDING_LOOKUP` shows it changes nothing). Each
  quantized file is kept with its recipe (.recipe.json).

Findings on lastfm and mllatest (the numbers: README, "Sub-8-bit embedding tables"), and their reasons:
- Only the packed forms run in both interpreters: they use no 4-bit tensor type, only ops that
  tflite-runtime 2.14 has on int8 / uint8 / int32. `packed4 lut, row scale, int8` is 0.55x (0.57x)
  the int8 file, at fp32's AUC and NDCG@10 within 0.2 %; its logits move 3x more than int8's (top-10
  overlap 0.963 vs 0.984). One scale per table loses more (overlap 0.926; NDCG@10 -1.1 % on
  mllatest). Latency is the price: ~1.4x int8 at batch 1, 3-4x at batch 256 (the 4,096-index code
  GATHER, and tflite-runtime's slow int8 MUL); the shift unpack is slower still on tflite-runtime.
- Every INT4 tensor fails on tflite-runtime 2.14, at load or at the first invoke: GATHER ("Type
  'INT4' is not supported by gather."), EMBEDDING_LOOKUP ("Type not currently supported.").
  ai-edge-litert 2.3.0 runs int4 GATHER and int4 / blockwise EMBEDDING_LOOKUP, but only with float
  after them, and AEQ's row-wise int4 file is 0.91x int8: each row's float32 scale and int64 zero
  point sit in the flatbuffer's quantization parameters, 12 bytes a row against 16 of codes.
- AEQ's row-wise int8 EMBEDDING_LOOKUP runs on tflite-runtime 2.14 *with wrong results* (AUC
  0.5000): its hybrid kernel does not read per-row scales. No error is raised.
- TF's converter cannot produce an int4 table: "'tfl.gather' op operand #0 must be tensor of ...
  but got 'tensor<...x!quant.uniform<i4<-7:7>...>>'" (int8 mode, Optimize.DEFAULT), "params and
  output must have same element type" (low-bit QAT). On the toy it stores an INT4 constant behind a
  QUANTIZE(INT4 -> INT8) that neither interpreter prepares; its FULLY_CONNECTED(INT8 x INT4) does
  run in both, but dense weights are ~1.5 % of a recommender's bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from converters import inspect, representative, tflite
from device_bench import bundle, run
from edgerec import train
from edgerec._keras import keras, tf
from edgerec.data import synthetic
from edgerec.data.task import make_task
from edgerec.models.tables import byte_codes, pack_bytes, quantize_rows
from edgerec.models.zoo import build_ranker
from edgerec.recipe import DataConfig, ModelConfig, TrainConfig
from tensorflow.lite.python import schema_py_generated as schema  # noqa: E402  (after edgerec._keras)
from tensorflow.lite.tools import flatbuffer_utils  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODEL = ModelConfig(embedding_dim=32, hidden=(64, 32))
AEQ_VERSION = "ai-edge-quantizer==0.10.0"

# ---------------------------------------------------------------------------------------------
# int4 codes, packing, and the Keras layer that unpacks them in the graph


def pack_nibbles(codes: np.ndarray) -> np.ndarray:
    """[V, d] codes in [-8, 7] -> [V, d/2] int8: byte = 16 * codes[:, j] + (codes[:, j + d/2] + 8).

    The high nibble is a signed code, so an arithmetic shift recovers it; the low nibble holds
    code + 8 in [0, 15]. Splitting the columns in halves (not even/odd) makes the unpack a
    CONCATENATION instead of an interleave.
    """
    if codes.shape[1] % 2:
        raise ValueError(f"packing needs an even embedding width. Received: shape={codes.shape}")
    half = codes.shape[1] // 2
    hi, lo = codes[:, :half].astype(np.int16), codes[:, half:].astype(np.int16)
    return (hi * 16 + lo + 8).astype(np.int8)


def unpack_nibbles(packed: np.ndarray) -> np.ndarray:
    """Inverse of `pack_nibbles` (numpy; the graph does the same with builtin ops)."""
    b = packed.astype(np.int32)
    hi = b >> 4
    return np.concatenate([hi, b - 16 * hi - 8], axis=1).astype(np.int8)


UNPACKS = ("shift", "lut")


@keras.utils.register_keras_serializable(package="edgerec_bench")
class PackedInt4Embedding(keras.layers.Layer):
    """An embedding table stored as int4 codes, two per byte, with a per-row (or one) scale.

    Weights (frozen): `packed` [V, d/2] and `scale` [V, 1] (row_scale) or [1, 1] float32.
    ids [B] -> [B, d]: e = codes(GATHER(packed, ids)) * GATHER(scale, ids), where `unpack` is
    - "shift" (int8 `pack_nibbles` layout): b = CAST int32; hi = RIGHT_SHIFT(b, 4);
      codes = CONCAT(hi, b - 16 hi - 8): elementwise int32 ops;
    - "lut" (uint8 `pack_bytes` layout): codes = RESHAPE(GATHER(byte_codes(), CAST int32(b)), [-1, d]):
      a second GATHER from a 256 x 2 table of codes, no arithmetic (the int8 converter stores that
      table int8; its values -8..7 are exact at the scale 1/17 that calibration gives them).
    Only builtin TFLite ops appear in the converted graph.
    """

    def __init__(self, input_dim: int, output_dim: int, row_scale: bool = True, unpack: str = "lut", **kwargs):
        super().__init__(**kwargs)
        if output_dim % 2:
            raise ValueError(f"output_dim must be even (two codes per byte). Received: output_dim={output_dim}")
        if unpack not in UNPACKS:
            raise ValueError(f"unpack must be one of {', '.join(UNPACKS)}. Received: unpack={unpack!r}")
        self.input_dim, self.output_dim, self.row_scale, self.unpack = input_dim, output_dim, row_scale, unpack

    def build(self, input_shape):
        self.packed = self.add_weight(name="packed", shape=(self.input_dim, self.output_dim // 2),
                                      dtype="int8" if self.unpack == "shift" else "uint8",
                                      initializer="zeros", trainable=False)
        self.scale = self.add_weight(name="scale", shape=(self.input_dim if self.row_scale else 1, 1),
                                     initializer="ones", trainable=False)
        super().build(input_shape)

    def call(self, ids):
        b = tf.cast(tf.gather(self.packed, ids), tf.int32)
        if self.unpack == "shift":
            hi = tf.bitwise.right_shift(b, 4)
            codes = tf.cast(tf.concat([hi, b - hi * 16 - 8], axis=-1), tf.float32)
        else:
            codes = tf.reshape(tf.gather(tf.constant(byte_codes()), b), [-1, self.output_dim])
        return codes * (tf.gather(self.scale, ids) if self.row_scale else self.scale[0])

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "row_scale": self.row_scale, "unpack": self.unpack}


class FakeQuantInt4Embedding(keras.layers.Layer):
    """A table fake-quantized to 4 bits (per tensor: TF's per-channel op quantizes the last axis,
    i.e. columns), then gathered: what TF's converter is given to produce int4 tables itself."""

    def __init__(self, table: np.ndarray, **kwargs):
        super().__init__(**kwargs)
        self.table, self.limit = tf.constant(table), float(np.abs(table).max())

    def call(self, ids):
        table = tf.quantization.fake_quant_with_min_max_vars(self.table, -self.limit, self.limit, num_bits=4,
                                                             narrow_range=True)
        return tf.gather(table, ids)


def _replace_embeddings(model: keras.Model, make) -> keras.Model:
    """A copy of `model` with every Embedding `layer` replaced by `make(layer)` (same name); others keep weights."""
    made = {}

    def clone(layer):
        if type(layer) is keras.layers.Embedding:
            made[layer.name] = make(layer)
            return made[layer.name]
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    for old, new in zip(model.layers, copy.layers):
        if old.name not in made:
            new.set_weights(old.get_weights())
    return copy


def packed_model(model: keras.Model, row_scale: bool, unpack: str = "lut") -> keras.Model:
    """`model` with its Embedding tables as PackedInt4Embedding (codes from `quantize_rows`)."""
    tables = {}

    def make(layer):
        tables[layer.name] = layer.get_weights()[0]
        return PackedInt4Embedding(layer.input_dim, layer.output_dim, row_scale, unpack, name=layer.name)

    copy = _replace_embeddings(model, make)
    for name, table in tables.items():
        codes, scale = quantize_rows(table, row_scale)
        packed = pack_nibbles(codes) if unpack == "shift" else pack_bytes(codes)
        unpacked = unpack_nibbles(packed) if unpack == "shift" else byte_codes()[packed].reshape(codes.shape)
        if not np.array_equal(unpacked, codes):
            raise AssertionError(f"{name}: packed codes do not unpack to themselves ({unpack})")
        copy.get_layer(name).set_weights([packed, scale])
    return copy


# ---------------------------------------------------------------------------------------------
# flatbuffer edits


def _code_index(model: schema.ModelT, op: int) -> int:
    """Index of builtin `op` in the model's operator codes, added (version 1) if absent."""
    for i, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == op:
            return i
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode = op, min(op, 127)  # 127: PLACEHOLDER_FOR_GREATER_OP_CODES
    code.version = 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _per_tensor(scale: float) -> schema.QuantizationParametersT:
    q = schema.QuantizationParametersT()
    q.scale, q.zeroPoint = [float(scale)], [0]
    return q


def _drop_unused_tensors(model: schema.ModelT) -> None:
    """Remove tensors no op, graph input/output or signature uses; renumber every reference."""
    graph = model.subgraphs[0]
    used = {int(t) for op in graph.operators for t in [*op.inputs, *op.outputs] if t >= 0}
    used |= {int(t) for t in [*graph.inputs, *graph.outputs]}
    new_index = {old: new for new, old in enumerate(sorted(used))}
    graph.tensors = [t for i, t in enumerate(graph.tensors) if i in new_index]
    remap = np.vectorize(lambda t: new_index[int(t)] if t >= 0 else t, otypes=[np.int32])
    for op in graph.operators:
        op.inputs, op.outputs = remap(op.inputs), remap(op.outputs)
    graph.inputs, graph.outputs = remap(graph.inputs), remap(graph.outputs)
    for signature in model.signatureDefs or []:
        for entry in [*signature.inputs, *signature.outputs]:
            entry.tensorIndex = new_index[entry.tensorIndex]


def fold_cast_quantize(data: bytes) -> bytes:
    """CAST(int32 -> float32) + QUANTIZE(-> int8) becomes CAST(int32 -> int8) with scale 1, zero point 0.

    The cast values are integer codes, so scale 1 holds them exactly (the converter's QUANTIZE
    rescales them by its calibrated scale and rounds); the consumer (an int8 MUL) reads the new
    scale. The model then has no float tensor between its inputs and its output.
    """
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    graph = model.subgraphs[0]
    kind = {i: max(c.builtinCode, c.deprecatedBuiltinCode) for i, c in enumerate(model.operatorCodes)}
    producer = {int(t): op for op in graph.operators for t in op.outputs}
    readers: dict[int, int] = {}
    for op in graph.operators:
        for t in op.inputs:
            readers[int(t)] = readers.get(int(t), 0) + 1
    folded = []
    for op in graph.operators:
        cast = producer.get(int(op.inputs[0])) if kind[op.opcodeIndex] == schema.BuiltinOperator.QUANTIZE else None
        if (cast is None or kind[cast.opcodeIndex] != schema.BuiltinOperator.CAST or readers[int(op.inputs[0])] != 1
                or graph.tensors[int(cast.inputs[0])].type != schema.TensorType.INT32
                or graph.tensors[int(op.outputs[0])].type != schema.TensorType.INT8):
            continue
        graph.tensors[int(op.outputs[0])].quantization = _per_tensor(1.0)
        cast.outputs = np.array(op.outputs, dtype=np.int32)
        cast.builtinOptionsType, cast.builtinOptions = 0, None
        folded.append(op)
    graph.operators = [op for op in graph.operators if all(op is not f for f in folded)]
    _drop_unused_tensors(model)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def gather_to_embedding_lookup(data: bytes) -> bytes:
    """Every GATHER(table [V, d], ids [B], axis 0) as EMBEDDING_LOOKUP(ids, table): same output,
    the op ai-edge-quantizer's 4-bit policy covers."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    gather = _code_index(model, schema.BuiltinOperator.GATHER)
    lookup = _code_index(model, schema.BuiltinOperator.EMBEDDING_LOOKUP)
    for op in model.subgraphs[0].operators:
        if op.opcodeIndex == gather:
            table, ids = int(op.inputs[0]), int(op.inputs[1])
            if len(model.subgraphs[0].tensors[table].shape) != 2 or op.builtinOptions.axis != 0:
                raise ValueError("only 2-D tables gathered on axis 0 map to EMBEDDING_LOOKUP")
            op.opcodeIndex, op.inputs = lookup, np.array([ids, table], dtype=np.int32)
            op.builtinOptionsType, op.builtinOptions = 0, None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def pack_int4_tflite(codes: np.ndarray) -> np.ndarray:
    """TFLite's INT4 buffer layout: element 2i in the low nibble, 2i + 1 in the high one."""
    flat = codes.reshape(-1).astype(np.int8)
    flat = np.append(flat, np.int8(0)) if flat.size % 2 else flat
    return ((flat[0::2] & 0x0F) | (flat[1::2] << 4)).astype(np.int8).view(np.uint8)


def gather_int4(data: bytes) -> bytes:
    """A float model with each GATHER table stored INT4 (per tensor) and a DEQUANTIZE after the GATHER."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    graph = model.subgraphs[0]
    gather = _code_index(model, schema.BuiltinOperator.GATHER)
    dequantize = _code_index(model, schema.BuiltinOperator.DEQUANTIZE)
    operators = []
    for op in graph.operators:
        operators.append(op)
        if op.opcodeIndex != gather:
            continue
        table = graph.tensors[int(op.inputs[0])]
        buffer = model.buffers[table.buffer]
        values = np.frombuffer(bytes(bytearray(buffer.data)), dtype=np.float32).reshape(table.shape)
        codes, scale = quantize_rows(values, row_scale=False)
        buffer.data = pack_int4_tflite(codes)
        table.type, table.quantization = schema.TensorType.INT4, _per_tensor(scale[0, 0])
        out = graph.tensors[int(op.outputs[0])]
        middle = schema.TensorT()
        middle.shape, middle.shapeSignature, middle.buffer = np.array(out.shape), out.shapeSignature, 0
        middle.type, middle.name = schema.TensorType.INT4, (out.name or b"") + b"/int4"
        middle.quantization = _per_tensor(scale[0, 0])
        graph.tensors.append(middle)
        step = schema.OperatorT()
        between = np.array([len(graph.tensors) - 1], dtype=np.int32)
        step.opcodeIndex, step.inputs, step.outputs = dequantize, between, op.outputs
        op.outputs = between
        operators.append(step)
    graph.operators = operators
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


# ---------------------------------------------------------------------------------------------
# ai-edge-quantizer, in its own virtualenv

AEQ_RECIPES = {  # file stem -> (input: "gather" | "lookup", recipe spec run by _AEQ_SCRIPT)
    "aeq_wi4_row_lookup": ("lookup", ["dynamic", 4, "EMBEDDING_LOOKUP", "CHANNELWISE"]),
    "aeq_wi4_row_lookup_fc": ("lookup", ["recipe", "dynamic_wi4_afp32"]),
    "aeq_wi4_block32_lookup": ("lookup", ["dynamic", 4, "EMBEDDING_LOOKUP", "BLOCKWISE_32"]),
    "aeq_wi8_row_lookup": ("lookup", ["dynamic", 8, "EMBEDDING_LOOKUP", "CHANNELWISE"]),
    "aeq_wi4_gather": ("gather", ["dynamic", 4, "GATHER", "CHANNELWISE"]),
    "aeq_wi4_weight_only_gather": ("gather", ["weight_only", 4, "GATHER", "CHANNELWISE"]),
}
_AEQ_SCRIPT = r"""
import json, sys
from ai_edge_quantizer import quantizer, recipe, recipe_manager, qtyping
source, target, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
try:
    if spec[0] == "recipe":
        rec = getattr(recipe, spec[1])()
    else:
        kind, bits, op, granularity = spec
        manager = recipe_manager.RecipeManager()
        add = manager.add_dynamic_config if kind == "dynamic" else manager.add_weight_only_config
        extra = {"granularity": getattr(qtyping.QuantGranularity, granularity)} if kind == "dynamic" else {}
        add(regex=".*", operation_name=getattr(qtyping.TFLOperationName, op), num_bits=bits, **extra)
        rec = manager.get_quantization_recipe()
    result = quantizer.Quantizer(source, rec).quantize()
    open(target, "wb").write(result.quantized_model)
    json.dump(rec, open(target[:-len(".tflite")] + ".recipe.json", "w"), indent=1, default=str)
    print(json.dumps({"ok": True}))
except Exception as exc:
    print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
"""


def aeq_quantize(python: str, source: Path, target: Path, spec: list) -> str | None:
    """Quantize `source` into `target` with ai-edge-quantizer; None, or the quantizer's error."""
    done = subprocess.run([python, "-c", _AEQ_SCRIPT, str(source), str(target), json.dumps(spec)],
                          capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return f"ai-edge-quantizer exited {done.returncode}: {done.stderr.strip()[-300:]}"
    answer = json.loads(lines[-1])
    return None if answer["ok"] else answer["error"]


# ---------------------------------------------------------------------------------------------
# measurements in each interpreter


_LOGIT_SCRIPT = r"""
import json, sys
import numpy as np
module = __import__(sys.argv[1] + ".interpreter", fromlist=["Interpreter"])
folder, names = sys.argv[2], sys.argv[3:]
rows = np.load(folder + "/eval.npz")
def logits(name):
    runner = module.Interpreter(model_path=folder + "/" + name, num_threads=1).get_signature_runner()
    inputs = list(runner.get_input_details())
    n = len(rows["pointwise/" + inputs[0]])
    out = [np.asarray(next(iter(runner(**{k: rows["pointwise/" + k][i:i + 4096] for k in inputs}).values()))).reshape(-1)
           for i in range(0, n, 4096)]
    return np.concatenate(out)
reference = logits("student.tflite")
result = {}
for name in names:
    try:
        d = np.abs(logits(name) - reference)
        result[name] = {"max": float(d.max()), "mean": float(d.mean())}
    except Exception as exc:
        result[name] = {"error": " ".join(f"{type(exc).__name__}: {exc}".split())[:300]}
print(json.dumps(result))
"""


def logit_errors(python: str, module: str, folder: Path, names: list[str]) -> dict:
    """{file: {max, mean} of |logit - student.tflite logit| over the pointwise held-out rows, or {error}}."""
    done = subprocess.run([python, "-c", _LOGIT_SCRIPT, module, str(folder), *names], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=1800)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {name: {"error": f"exit {done.returncode}: {done.stderr.strip()[-200:]}"} for name in names}
    return json.loads(lines[-1])


def bench_in(python: str | None, runtime: str, files: list[Path], batches: list[int], timing: dict) -> list[dict]:
    """`device_bench.run.bench` rows; in this process, or in another Python (its interpreter package)."""
    if python is None:
        return run.bench(files, batches=batches, runtime=runtime, **timing)
    code = ("import json, sys; from device_bench import run; "
            "print('ROWS' + json.dumps(run.bench(sys.argv[1:], batches=%r, runtime=%r, **%r)))" % (batches, runtime, timing))
    done = subprocess.run([python, "-c", code, *map(str, files)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=3600)
    for line in done.stdout.splitlines():
        if line.startswith("ROWS"):
            return json.loads(line[4:])
    raise RuntimeError(f"bench under {python} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")


# ---------------------------------------------------------------------------------------------


def _first_error(exc: Exception) -> str:
    """The converter's first `error:` line without its source location, else the whole message."""
    lines = [line[line.index("error:"):] for line in str(exc).splitlines() if "error:" in line]
    return " ".join((lines[0] if lines else str(exc)).split())[:700]


def _graph(path: Path) -> str:
    found = inspect.inspect(path)
    if found.all_int8:
        kind = "all int8"
    elif found.integer_only:
        kind = "integer-only"
    else:
        kind = "float activations"
    ops = ", ".join(f"{name} x{n}" for name, n in sorted(found.ops.items()))
    tables = sorted({t["dtype"] for t in found.tables})
    return f"{kind}; tables {'/'.join(tables) or '?'}; {ops}"


@contextlib.contextmanager
def _quiet_stderr():
    """The converter prints each MLIR error with its whole call-site chain on fd 2; the exception
    carries the message, so the block's fd-2 output is dropped."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _optimized(model: keras.Model, low_bit_qat: bool) -> bytes:
    """`model` converted with Optimize.DEFAULT and no calibration (how a QAT model is converted)."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter._experimental_low_bit_qat = low_bit_qat
    return converter.convert()


def make_files(model: keras.Model, task, folder: Path, aeq_python: str | None) -> tuple[dict, dict]:
    """Writes every variant into `folder`; ({file: description}, {variant: why it could not be made})."""
    calibration = representative.dataset(task.representative_rows(500))
    made, failed = {}, {}

    def write(name: str, what: str, produce) -> Path | None:
        try:
            with _quiet_stderr():
                (folder / name).write_bytes(produce())
        except Exception as exc:  # the converter / a rewrite refused: a finding
            failed[what] = _first_error(exc)
            return None
        made[name] = what
        return folder / name

    fp32 = write(bundle.artifact_file(bundle.STUDENT), "fp32 (edgerec fp32; the reference)",
                 lambda: tflite.convert(model, "fp32"))
    write("int8.tflite", "int8 (edgerec int8)", lambda: tflite.convert(model, "int8", calibration))
    write("dynamic.tflite", "dynamic (edgerec dynamic)", lambda: tflite.convert(model, "dynamic"))
    row = packed_model(model, row_scale=True, unpack="lut")
    write("packed4_lut_row_int8.tflite", "packed4 lut, row scale, int8",
          lambda: tflite.convert(row, "int8", calibration))
    write("packed4_shift_row_int8.tflite", "packed4 shift, row scale, int8 (CAST folded)",
          lambda: fold_cast_quantize(tflite.convert(packed_model(model, True, "shift"), "int8", calibration)))
    write("packed4_lut_tensor_int8.tflite", "packed4 lut, table scale, int8",
          lambda: tflite.convert(packed_model(model, row_scale=False, unpack="lut"), "int8", calibration))
    write("packed4_lut_row_fp32.tflite", "packed4 lut, row scale, fp32 graph", lambda: tflite.convert(row, "fp32"))
    write("gather_int4.tflite", "gather int4 (INT4 table, table scale, DEQUANTIZE)", lambda: gather_int4(fp32.read_bytes()))
    fake = _replace_embeddings(model, lambda layer: FakeQuantInt4Embedding(layer.get_weights()[0], name=layer.name))
    write("converter_fq4_int8.tflite", "converter: fake-quant int4 tables, int8 mode",
          lambda: tflite.convert(fake, "int8", calibration))
    write("converter_fq4_default.tflite", "converter: fake-quant int4 tables, Optimize.DEFAULT",
          lambda: _optimized(fake, False))
    write("converter_fq4_low_bit.tflite", "converter: fake-quant int4 tables, _experimental_low_bit_qat",
          lambda: _optimized(fake, True))
    lookup = write("fp32_lookup.tflite", "fp32 as EMBEDDING_LOOKUP (AEQ's input)",
                   lambda: gather_to_embedding_lookup(fp32.read_bytes()))
    for stem, (source, spec) in AEQ_RECIPES.items():
        what = f"AEQ {' '.join(map(str, spec))} on {'EMBEDDING_LOOKUP' if source == 'lookup' else 'GATHER'}"
        if aeq_python is None:
            failed[what] = f"not run: no --aeq-python (a virtualenv with {AEQ_VERSION})"
            continue
        error = aeq_quantize(aeq_python, lookup if source == "lookup" else fp32, folder / f"{stem}.tflite", spec)
        if error:
            failed[what] = error
        else:
            made[f"{stem}.tflite"] = what
    return made, failed


class _ToyInt4(tf.Module):
    """A 1000 x 32 table -> [32, 8] dense graph, fully fake-quantized (8-bit activations), with
    4-bit fake quantization on the table or on the dense kernel: the graph shape TF's converter
    needs before it stores INT4 constants at all (on the Keras student it refuses, see above)."""

    def __init__(self, where: str):
        super().__init__()
        rng = np.random.default_rng(0)
        self.where = where
        self.table = rng.normal(size=(1000, 32)).astype(np.float32) * 0.1
        self.kernel = rng.normal(size=(32, 8)).astype(np.float32) * 0.1

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="ids")])
    def __call__(self, ids):
        def fake(x, bits):
            limit = float(np.abs(x).max())
            return tf.quantization.fake_quant_with_min_max_vars(x, -limit, limit, num_bits=bits, narrow_range=True)

        table = fake(self.table, 4) if self.where == "table" else tf.constant(self.table)
        rows = tf.quantization.fake_quant_with_min_max_vars(tf.gather(table, ids), -0.5, 0.5)
        kernel = fake(self.kernel, 4) if self.where == "dense" else tf.constant(self.kernel)
        return tf.quantization.fake_quant_with_min_max_vars(tf.matmul(rows, kernel), -2.0, 2.0)


_INVOKE_SCRIPT = r"""
import json, sys
import numpy as np
module = __import__(sys.argv[1] + ".interpreter", fromlist=["Interpreter"])
result = {}
for path in sys.argv[2:]:
    try:
        runner = module.Interpreter(model_path=path).get_signature_runner()
        name = list(runner.get_input_details())[0]
        out = next(iter(runner(**{name: np.arange(64, dtype=np.int32)}).values()))
        result[path] = "ok, output " + str(np.asarray(out).shape)
    except Exception as exc:
        result[path] = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
print(json.dumps(result))
"""


def converter_toys(folder: Path, runtimes: list[tuple[str, str]]) -> list[str]:
    """Lines: what TF's converter makes of 4-bit fake quantization on a toy graph, and whether each interpreter runs it."""
    lines = []
    for where in ("table", "dense"):
        module = _ToyInt4(where)
        converter = tf.lite.TFLiteConverter.from_concrete_functions([module.__call__.get_concrete_function()], module)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        path = folder / f"toy_int4_{where}.tflite"
        try:
            with _quiet_stderr():
                path.write_bytes(converter.convert())
        except Exception as exc:
            lines.append(f"- toy, 4-bit {where}: conversion failed: {_first_error(exc)}")
            continue
        found = inspect.inspect(path)
        ops = [f"{op['op']}({'/'.join(op['weight_dtypes']) or '-'} -> {op['output_dtype']})" for op in found.operators]
        runs = []
        for runtime, python in runtimes:
            done = subprocess.run([python, "-c", _INVOKE_SCRIPT, runtime, str(path)], capture_output=True, text=True,
                                  timeout=300)
            answer = next((json.loads(l) for l in done.stdout.splitlines() if l.startswith("{")), {})
            runs.append(f"{runtime}: {answer.get(str(path), done.stderr.strip()[-200:])}")
        lines.append(f"- toy, 4-bit {where}: {path.stat().st_size:,} bytes, ops {' '.join(ops)}; " + "; ".join(runs))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="lastfm", help="synthetic preset the student trains on")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 256], help="batch sizes to time")
    parser.add_argument("--keep", type=Path, help="keep the .tflite files (and recipes, rows) in this folder")
    parser.add_argument("--aeq-python", default=os.environ.get("EDGEREC_AEQ_PYTHON"),
                        help=f"Python of a virtualenv with {AEQ_VERSION} (AEQ rows are skipped without it)")
    parser.add_argument("--tfr-python", default=os.environ.get("EDGEREC_TFR_PYTHON"),
                        help="Python of a TensorFlow-free virtualenv with tflite-runtime 2.14 and numpy<2 "
                             "(tflite-runtime rows are skipped without it)")
    args = parser.parse_args(argv)

    task = make_task(synthetic.generate(args.preset, seed=0), DataConfig(), seed=0)
    config = TrainConfig(max_epochs=args.epochs, batch_size=2048, learning_rate=0.003)
    model = build_ranker(task.features, MODEL, "student", seed=0)
    train.compile_ranker(model, config)
    train.fit(model, task, config, config.max_epochs, "student", log=print)
    print("Keras float:", train.evaluate(model, task), flush=True)

    folder = Path(tempfile.mkdtemp(prefix="sub8bit.")) if args.keep is None else args.keep
    folder.mkdir(parents=True, exist_ok=True)
    task.save_eval(folder / bundle.EVAL_SET)
    made, failed = make_files(model, task, folder, args.aeq_python)
    files = [folder / name for name in made]

    timing = {"runs": 200, "warmup": 20, "min_seconds": 0.5}
    runtimes = [("ai_edge_litert", sys.executable, None)]
    if args.tfr_python and Path(args.tfr_python).exists():
        runtimes.append(("tflite_runtime", args.tfr_python, args.tfr_python))
    measured: dict[tuple[str, str], dict] = {}
    for runtime, python, other in runtimes:
        print(f"benchmarking {len(files)} files under {runtime} ...", flush=True)
        rows = bench_in(other, runtime, files, args.batch, timing)
        errors = logit_errors(python, runtime, folder, list(made))
        for name in made:
            mine = [r for r in rows if r["artifact"] == name]
            measured[(name, runtime)] = {"rows": {r["batch"]: r for r in mine}, "logits": errors.get(name, {})}
    (folder / "sub8bit.json").write_text(json.dumps(
        {"made": made, "failed": failed, "measured": {f"{k[0]}|{k[1]}": v for k, v in measured.items()}}, indent=1))

    int8_bytes = (folder / "int8.tflite").stat().st_size
    header = ["variant", "runtime", "status", "bytes", "× int8 file", *(f"p50 µs b{b}" for b in args.batch),
              "AUC", "NDCG@10", "top-10 overlap vs fp32", "mean abs Δlogit", "max abs Δlogit"]
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * 3 + "---:|" * (len(header) - 3))
    notes = {}
    for name, what in made.items():
        size = (folder / name).stat().st_size
        for runtime, _, _ in runtimes:
            entry = measured[(name, runtime)]
            rows, logits = entry["rows"], entry["logits"]
            first = rows.get(args.batch[0], {})
            ok = all(r.get("status") == "ok" for r in rows.values()) and "error" not in logits
            status = "ok" if ok else "fail"
            if not ok:
                reason = next((r["status"] for r in rows.values() if r.get("status") != "ok"), None) or logits.get("error")
                notes[f"{what} / {runtime}"] = reason
            metrics = first.get("metrics") or {}
            fidelity = (first.get("fidelity") or {}).get("top10_overlap")
            p50 = [f"{rows[b]['latency_us']['p50']:.1f}" if rows.get(b, {}).get("status") == "ok" else "—"
                   for b in args.batch]
            cells = [what, runtime, status, f"{size:,}", f"{size / int8_bytes:.2f}", *p50,
                     f"{metrics['auc']:.4f}" if "auc" in metrics else "—",
                     f"{metrics['ndcg@10']:.4f}" if "ndcg@10" in metrics else "—",
                     f"{fidelity:.3f}" if fidelity is not None else "—",
                     f"{logits['mean']:.4f}" if "mean" in logits else "—",
                     f"{logits['max']:.3f}" if "max" in logits else "—"]
            print("| " + " | ".join(cells) + " |")
    print("\nGraphs (converters.inspect):")
    for name, what in made.items():
        print(f"- {what}: {_graph(folder / name)}")
    print("\nTF's converter on a toy graph (4-bit fake quantization with 8-bit activations):")
    for line in converter_toys(folder, [(runtime, python) for runtime, python, _ in runtimes]):
        print(line)
    print("\nCould not be produced:")
    for what, error in failed.items():
        print(f"- {what}: {error}")
    print("\nFailed to load or run:")
    for where, reason in notes.items():
        print(f"- {where}: {reason}")
    print(f"\nfiles, recipes and rows (sub8bit.json) in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
