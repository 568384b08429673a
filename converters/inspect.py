"""What is inside a .tflite: ops, tensor dtypes, and where the bytes are.

In a recommender the embedding tables are most of the bytes, yet no standard tool reports
bytes per table; and "int8" is only worth shipping if every op really runs in int8. This reads
the flatbuffer directly (the schema module ships with ai-edge-litert, or TensorFlow), so it
works on a device without TensorFlow. Constant tensors are classified by how ops use them:
- embedding: the table input of GATHER / EMBEDDING_LOOKUP;
- dense: weights and biases of FULLY_CONNECTED / BATCH_MATMUL / CONV ops;
- other: every other constant.

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

EMBEDDING_OPS = {"GATHER", "EMBEDDING_LOOKUP"}
DENSE_OPS = {"FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D", "DEPTHWISE_CONV_2D"}
FLOAT_TYPES = {"FLOAT32", "FLOAT16", "FLOAT64"}
INDEX_BYTES = {1: 4, 2: 2, 3: 1}  # SparseIndexVector: Int32Vector, Uint16Vector, Uint8Vector


@dataclass
class Inspection:
    path: str
    bytes: int
    ops: dict[str, int]
    constants: list[dict] = field(default_factory=list)  # name, dtype, shape, bytes, kind, sparse
    bytes_by_kind: dict[str, int] = field(default_factory=dict)
    float_tensors: list[str] = field(default_factory=list)  # float tensors that are not model inputs/outputs

    @property
    def all_int8(self) -> bool:
        """True when no computation happens in float: floats only at the model's inputs/outputs."""
        return not self.float_tensors

    def to_dict(self) -> dict:
        return {**self.__dict__, "all_int8": self.all_int8}


def _schema():
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        from tensorflow.lite.python import schema_py_generated
    return schema_py_generated


def inspect(path: str | Path) -> Inspection:
    """Raises ValueError naming the file when it is not a readable TFLite flatbuffer."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError(f"{path}: not a TFLite flatbuffer (no TFL3 identifier)")
    try:
        return _read(path, data)
    except (struct.error, IndexError, ValueError, UnicodeDecodeError) as exc:  # offsets past the end of the file
        raise ValueError(f"{path}: damaged TFLite flatbuffer ({exc})") from None


def _read(path: Path, data: bytes) -> Inspection:
    schema = _schema()
    model = schema.Model.GetRootAsModel(data, 0)
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graph = model.Subgraphs(0)
    ops: collections.Counter = collections.Counter()
    kinds: dict[int, str] = {}
    operators = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        ops[name] += 1
        inputs = [int(t) for t in op.InputsAsNumpy()] if op.InputsLength() else []
        outputs = [int(t) for t in op.OutputsAsNumpy()] if op.OutputsLength() else []
        operators.append((name, inputs, outputs))
    densified = {outputs[0]: inputs[0] for name, inputs, outputs in operators if name == "DENSIFY"}
    for name, inputs, _ in operators:
        for position, tensor in enumerate(inputs):
            if tensor < 0:
                continue
            tensor = densified.get(tensor, tensor)
            if name in EMBEDDING_OPS and position == 0:
                kinds[tensor] = "embedding"
            elif name in DENSE_OPS and position >= 1:
                kinds.setdefault(tensor, "dense")
    boundary = set(graph.InputsAsNumpy().tolist()) | set(graph.OutputsAsNumpy().tolist())
    result = Inspection(path=str(path), bytes=len(data), ops=dict(ops))
    by_kind: collections.Counter = collections.Counter()
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        dtype = type_names.get(tensor.Type(), str(tensor.Type()))
        buffer = model.Buffers(tensor.Buffer())
        size = buffer.DataLength() or int(buffer.Size())
        if size:
            sparse = tensor.Sparsity() is not None
            size += _index_bytes(schema, tensor.Sparsity()) if sparse else 0
            kind = kinds.get(i, "other")
            by_kind[kind] += size
            shape = tensor.ShapeAsNumpy().tolist() if tensor.ShapeLength() else []
            result.constants.append(
                {"name": tensor.Name().decode(), "dtype": dtype, "shape": shape, "bytes": size, "kind": kind,
                 "sparse": sparse}
            )
        elif dtype in FLOAT_TYPES and i not in boundary:
            result.float_tensors.append(tensor.Name().decode())
        if size and dtype in FLOAT_TYPES and kinds.get(i) in ("embedding", "dense"):
            result.float_tensors.append(tensor.Name().decode())
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


def summary(result: Inspection, top: int = 10) -> str:
    total = sum(result.bytes_by_kind.values()) or 1
    lines = [
        f"{result.path}: {result.bytes:,} bytes; "
        + ("every op is int8 (floats only at the model's inputs/outputs)" if result.all_int8
           else f"NOT full-integer: {len(result.float_tensors)} float tensor(s) inside the graph"),
        "ops: " + ", ".join(f"{name} x{count}" for name, count in sorted(result.ops.items())),
        "constant bytes: " + ", ".join(
            f"{kind} {size:,} ({size / total:.0%})" for kind, size in result.bytes_by_kind.items()
        ),
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
