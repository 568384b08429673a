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
"""

from __future__ import annotations

import collections
import struct
from dataclasses import dataclass, field
from pathlib import Path

EMBEDDING_OPS = {"GATHER", "EMBEDDING_LOOKUP"}
DENSE_OPS = {"FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D", "DEPTHWISE_CONV_2D"}
FLOAT_TYPES = {"FLOAT32", "FLOAT16", "FLOAT64"}


@dataclass
class Inspection:
    path: str
    bytes: int
    ops: dict[str, int]
    constants: list[dict] = field(default_factory=list)  # name, dtype, shape, bytes, kind
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
    producers: dict[int, str] = {}  # tensor -> name of the op that computes it (ops are in order)
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        ops[name] += 1
        inputs = [int(t) for t in op.InputsAsNumpy()] if op.InputsLength() else []
        producers.update((int(t), name) for t in (op.OutputsAsNumpy() if op.OutputsLength() else []))
        if _is_embedding_projection(schema, op, name, inputs, producers):
            kinds[inputs[1]] = "embedding"
        for position, tensor in enumerate(inputs):
            if tensor < 0:
                continue
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
            kind = kinds.get(i, "other")
            by_kind[kind] += size
            shape = tensor.ShapeAsNumpy().tolist() if tensor.ShapeLength() else []
            result.constants.append(
                {"name": tensor.Name().decode(), "dtype": dtype, "shape": shape, "bytes": size, "kind": kind}
            )
        elif dtype in FLOAT_TYPES and i not in boundary:
            result.float_tensors.append(tensor.Name().decode())
        if size and dtype in FLOAT_TYPES and kinds.get(i) in ("embedding", "dense"):
            result.float_tensors.append(tensor.Name().decode())
    result.bytes_by_kind = {kind: by_kind.get(kind, 0) for kind in ("embedding", "dense", "other")}
    result.constants.sort(key=lambda c: -c["bytes"])
    return result


def _is_embedding_projection(schema, op, name: str, inputs: list[int], producers: dict[int, str]) -> bool:
    """A linear map of gathered rows: FULLY_CONNECTED without bias or activation, or BATCH_MATMUL."""
    if name not in ("FULLY_CONNECTED", "BATCH_MATMUL") or len(inputs) < 2 or producers.get(inputs[0]) not in EMBEDDING_OPS:
        return False
    if name == "BATCH_MATMUL":
        return True
    options = schema.FullyConnectedOptions()
    table = op.BuiltinOptions()
    options.Init(table.Bytes, table.Pos)
    has_bias = len(inputs) > 2 and inputs[2] >= 0
    return not has_bias and options.FusedActivationFunction() == schema.ActivationFunctionType.NONE


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
        f"| {c['name'][:70]} | {c['kind']} | {c['dtype']} | {c['shape']} | {c['bytes']:,} |" for c in result.constants[:top]
    ]
    if len(result.constants) > top:
        lines.append(f"| … {len(result.constants) - top} more | | | | |")
    if result.float_tensors:
        lines += ["", "float tensors inside the graph: " + ", ".join(result.float_tensors[:10])]
    return "\n".join(lines)
