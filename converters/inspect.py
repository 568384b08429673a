"""What is inside a .tflite: ops, tensor dtypes, and where the bytes are.

In a recommender the embedding tables are most of the bytes, yet no standard tool reports
bytes per table; and "int8" is only worth shipping if every op really runs in int8. This reads
the flatbuffer directly (the schema module ships with ai-edge-litert, or TensorFlow), so it
works on a device without TensorFlow. Constant tensors are classified by how ops use them:
- embedding: the table input of GATHER / EMBEDDING_LOOKUP, and the weights of a projection
  applied straight to a gathered row (a FULLY_CONNECTED / BATCH_MATMUL fed by GATHER, with no
  bias and no activation): with it the table is factorised, E = T P, and P belongs to E;
- dense: weights and biases of FULLY_CONNECTED / BATCH_MATMUL / CONV ops;
- other: every other constant.

Per op it records the output tensors and their dtype, and the constant inputs (weights), so a
Keras layer's ops can be found by the layer's name scope in those tensor names (`layer_ops`):
that is how `keep_float` picks the ops to leave in float, and how a test checks they did.
The verdict distinguishes int8 from int16x8: both are integer-only (no float inside the
graph), only int8 has 8-bit activations.

A constant stored with the converter's sparse encoding (`tflite.convert(..., sparse=True)`)
counts its values and its CSR index arrays (kept in the tensor's `sparsity` table, outside the
buffer) and is marked `sparse`; a DENSIFY op between it and its FULLY_CONNECTED does not hide
that it is a dense-layer weight.
"""

from __future__ import annotations

import collections
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

EMBEDDING_OPS = {"GATHER", "EMBEDDING_LOOKUP"}
DENSE_OPS = {"FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D", "DEPTHWISE_CONV_2D"}
FLOAT_TYPES = {"FLOAT32", "FLOAT16", "FLOAT64"}
# Types that carry activation values (int32/int64/bool tensors inside a graph are indices or shapes).
VALUE_TYPES = FLOAT_TYPES | {"INT8", "UINT8", "INT16"}
CONVERSION_OPS = {"QUANTIZE", "DEQUANTIZE"}  # move values between float and integer regions; no layer's own work
INDEX_BYTES = {1: 4, 2: 2, 3: 1}  # SparseIndexVector: Int32Vector, Uint16Vector, Uint8Vector


@dataclass
class Inspection:
    path: str
    bytes: int
    ops: dict[str, int]
    constants: list[dict] = field(default_factory=list)  # name, dtype, shape, bytes, kind, sparse
    bytes_by_kind: dict[str, int] = field(default_factory=dict)
    float_tensors: list[str] = field(default_factory=list)  # float tensors that are not model inputs/outputs
    activation_dtypes: list[str] = field(default_factory=list)  # value types of the tensors ops compute inside the graph
    operators: list[dict] = field(default_factory=list)  # op, outputs, output_dtype, weights (constant inputs)

    @property
    def integer_only(self) -> bool:
        """True when no computation happens in float: floats only at the model's inputs/outputs."""
        return not self.float_tensors

    @property
    def all_int8(self) -> bool:
        """Integer-only with 8-bit activations; an int16x8 model is integer-only but not this."""
        return self.integer_only and set(self.activation_dtypes) <= {"INT8", "UINT8"}

    @property
    def tables(self) -> list[dict]:
        """One entry per embedding table: the Keras layer it came from, dtype, shape and bytes."""
        return [
            {"table": _layer_of(c["name"]) or c["name"], **{k: c[k] for k in ("dtype", "shape", "bytes")}}
            for c in self.constants
            if c["kind"] == "embedding"
        ]

    def to_dict(self) -> dict:
        return {**self.__dict__, "integer_only": self.integer_only, "all_int8": self.all_int8, "tables": self.tables}


def _layer_of(part: str) -> str | None:
    """'student/hidden_0/MatMul' -> 'hidden_0': the top-level Keras layer in a tensor name, if any."""
    pieces = part.split("/")
    return pieces[1] if len(pieces) > 2 else None


def layer_ops(result: Inspection, layer: str) -> list[dict]:
    """The ops that compute Keras layer `layer` (by name scope), without QUANTIZE/DEQUANTIZE.

    An op belongs to the layer when one of its output tensors or its weights is named in the
    layer's scope (fused names are ';'-joined; the last layer's output is often named after the
    signature, so the weights decide there).
    """
    def named(names: list[str]) -> bool:
        return any(_layer_of(part) == layer for name in names for part in name.split(";"))

    return [op for op in result.operators if op["op"] not in CONVERSION_OPS and named(op["outputs"] + op["weights"])]


def _schema():
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        from tensorflow.lite.python import schema_py_generated
    return schema_py_generated


def inspect(path: str | Path) -> Inspection:
    """Raises ValueError naming the file when it is not a readable TFLite flatbuffer."""
    path = Path(path)
    return inspect_bytes(path.read_bytes(), str(path))


def inspect_bytes(data: bytes, name: str) -> Inspection:
    """`inspect` of a model held in memory (e.g. straight from the converter); `name` labels it."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError(f"{name}: not a TFLite flatbuffer (no TFL3 identifier)")
    try:
        return _read(name, data)
    except (struct.error, IndexError, ValueError, UnicodeDecodeError) as exc:  # offsets past the end of the file
        raise ValueError(f"{name}: damaged TFLite flatbuffer ({exc})") from None


def _read(path: str, data: bytes) -> Inspection:
    schema = _schema()
    model = schema.Model.GetRootAsModel(data, 0)
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graph = model.Subgraphs(0)
    names, dtypes, sizes = [], [], []
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        buffer = model.Buffers(tensor.Buffer())
        names.append(tensor.Name().decode())
        dtypes.append(type_names.get(tensor.Type(), str(tensor.Type())))
        sizes.append(buffer.DataLength() or int(buffer.Size()))
    result = Inspection(path=path, bytes=len(data), ops={})
    ops: collections.Counter = collections.Counter()
    kinds: dict[int, str] = {}
    producers: dict[int, str] = {}  # tensor -> name of the op that computes it (ops are in order)
    densified: dict[int, int] = {}  # DENSIFY output -> the sparse constant it rebuilds
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        ops[name] += 1
        inputs = [int(t) for t in op.InputsAsNumpy()] if op.InputsLength() else []
        outputs = [int(t) for t in op.OutputsAsNumpy()] if op.OutputsLength() else []
        producers.update((t, name) for t in outputs)
        if _is_embedding_projection(schema, op, name, inputs, producers, lambda t: _all_zero(model, graph, t)):
            kinds.update((t, "embedding") for t in inputs[1:] if t >= 0)  # its weights, and its zero bias if any
        if name == "DENSIFY":
            densified[outputs[0]] = inputs[0]
        inputs = [densified.get(t, t) for t in inputs]  # a densified weight is still the op's weight
        for position, tensor in enumerate(inputs):
            if tensor < 0:
                continue
            if name in EMBEDDING_OPS and position == 0:
                kinds[tensor] = "embedding"
            elif name in DENSE_OPS and position >= 1:
                kinds.setdefault(tensor, "dense")
        weights = [t for t in inputs if t >= 0 and sizes[t]]
        result.operators.append({
            "op": name,
            "outputs": [names[t] for t in outputs],
            "output_dtype": dtypes[outputs[0]] if outputs else None,
            "weights": [names[t] for t in weights],
            "weight_dtypes": [dtypes[t] for t in weights],
        })
    result.ops = dict(ops)
    boundary = set(graph.InputsAsNumpy().tolist()) | set(graph.OutputsAsNumpy().tolist())
    by_kind: collections.Counter = collections.Counter()
    activations = set()
    for i, (name, dtype, size) in enumerate(zip(names, dtypes, sizes)):
        if size:
            tensor = graph.Tensors(i)
            sparse = tensor.Sparsity() is not None
            size += _index_bytes(schema, tensor.Sparsity()) if sparse else 0
            kind = kinds.get(i, "other")
            by_kind[kind] += size
            shape = tensor.ShapeAsNumpy().tolist() if tensor.ShapeLength() else []
            result.constants.append(
                {"name": name, "dtype": dtype, "shape": shape, "bytes": size, "kind": kind, "sparse": sparse}
            )
            if dtype in FLOAT_TYPES and kind in ("embedding", "dense"):
                result.float_tensors.append(name)
        elif i not in boundary:
            if dtype in FLOAT_TYPES:
                result.float_tensors.append(name)
            if dtype in VALUE_TYPES:
                activations.add(dtype)
    result.activation_dtypes = sorted(activations)
    result.bytes_by_kind = {kind: by_kind.get(kind, 0) for kind in ("embedding", "dense", "other")}
    result.constants.sort(key=lambda c: -c["bytes"])
    return result


def _index_bytes(schema, sparsity) -> int:
    """Bytes of the CSR segment and index arrays of a sparse-encoded tensor."""
    total = 0
    for d in range(sparsity.DimMetadataLength()):
        dim = sparsity.DimMetadata(d)
        for kind, table in ((dim.ArraySegmentsType(), dim.ArraySegments()), (dim.ArrayIndicesType(), dim.ArrayIndices())):
            if kind in INDEX_BYTES and table is not None:
                vector = schema.Int32Vector()  # Uint16Vector / Uint8Vector share the layout: one `values` vector
                vector.Init(table.Bytes, table.Pos)
                total += vector.ValuesLength() * INDEX_BYTES[kind]
    return total


def _all_zero(model, graph, tensor: int) -> bool:
    """A constant tensor whose bytes are all zero (the bias `converters.fc_bias` adds)."""
    data = model.Buffers(graph.Tensors(tensor).Buffer()).DataAsNumpy()
    return not isinstance(data, int) and not data.any()


def _is_embedding_projection(schema, op, name: str, inputs: list[int], producers: dict[int, str],
                             all_zero: Callable[[int], bool]) -> bool:
    """A linear map of gathered rows: FULLY_CONNECTED without activation and without a bias (or with
    the zero one `converters.fc_bias` gives it), or BATCH_MATMUL."""
    if name not in ("FULLY_CONNECTED", "BATCH_MATMUL") or len(inputs) < 2 or producers.get(inputs[0]) not in EMBEDDING_OPS:
        return False
    if name == "BATCH_MATMUL":
        return True
    options = schema.FullyConnectedOptions()
    table = op.BuiltinOptions()
    options.Init(table.Bytes, table.Pos)
    has_bias = len(inputs) > 2 and inputs[2] >= 0 and not all_zero(inputs[2])
    return not has_bias and options.FusedActivationFunction() == schema.ActivationFunctionType.NONE


def _verdict(result: Inspection) -> str:
    """One line: int8, integer-only with wider activations (int16x8), or where float remains."""
    weights = sorted({c["dtype"] for c in result.constants if c["kind"] in ("embedding", "dense")})
    types = f"activations {'/'.join(result.activation_dtypes) or 'none'}, weights {'/'.join(weights) or 'none'}"
    if result.all_int8:
        return f"every op is int8 ({types}; floats only at the model's inputs/outputs)"
    if result.integer_only:
        return f"integer-only but NOT all int8 ({types}; floats only at the model's inputs/outputs)"
    return f"NOT full-integer: {len(result.float_tensors)} float tensor(s) inside the graph ({types})"


def summary(result: Inspection, top: int = 10) -> str:
    total = sum(result.bytes_by_kind.values()) or 1
    lines = [
        f"{result.path}: {result.bytes:,} bytes; {_verdict(result)}",
        "ops: " + ", ".join(f"{name} x{count}" for name, count in sorted(result.ops.items())),
        "constant bytes: " + ", ".join(
            f"{kind} {size:,} ({size / total:.0%})" for kind, size in result.bytes_by_kind.items()
        ),
    ]
    if result.tables:
        lines += ["", "| embedding table | dtype | shape | bytes |", "|---|---|---|---:|"]
        lines += [f"| {t['table']} | {t['dtype']} | {t['shape']} | {t['bytes']:,} |" for t in result.tables]
    lines += [
        "",
        "| tensor | kind | dtype | shape | bytes |",
        "|---|---|---|---|---:|",
    ]
    lines += [
        f"| {c['name'][:70]} | {c['kind']} | {c['dtype']}{' sparse' if c['sparse'] else ''} | {c['shape']} | {c['bytes']:,} |"
        for c in result.constants[:top]
    ]
    if len(result.constants) > top:
        lines.append(f"| … {len(result.constants) - top} more | | | | |")
    if result.float_tensors:
        lines += ["", "float tensors inside the graph: " + ", ".join(result.float_tensors[:10])]
    return "\n".join(lines)
