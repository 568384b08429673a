"""A trained two-tower model -> one .tflite an app calls for "the top K items for this user".

The item tower depends on the item alone, so every catalogue item's vector (and bias) is
computed once here and baked into the file as a constant: on the device only the user tower
runs, then one FULLY_CONNECTED scores the whole catalogue (item vectors as its weights, item
biases as its bias) and TOPK_V2 picks the best. Two signatures share those weights:

- ``recommend(<user inputs>) -> items, scores``: int32 item indices (vocabulary indices of
  ``item_id``; the OOV item 0 is never recommended) and their float32 logits, shape (batch, K),
  best first. K is fixed here and recorded (`Retrieval.top_k`).
- ``score(<user inputs>, candidates) -> scores``: the same logits for given item indices,
  shape (batch, C): the catalogue product gathered at the candidates (GATHER with batch_dims),
  so a candidate's score is exactly what ``recommend`` ranks it by, at the cost of scoring the
  whole catalogue per call.

In ``int8`` every op is full-integer (TOPK_V2 included) except the DEQUANTIZE of the score
outputs: the ids stay int32 and the scores leave as float32 logits, as every edgerec artifact's.
The item matrix is quantized per item (per output channel of the FULLY_CONNECTED), so a rare
item's short vector keeps its own resolution. TFLite stores a tensor per signature: the weights
are shared buffers, but the per-item scales are written once per signature (12 bytes per item each).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from converters import fc_bias
from converters.tflite import ConversionError
from device_bench.retrieval import CANDIDATES, ITEMS, RECOMMEND, SCORE, SCORES
from edgerec._keras import keras, tf
from tensorflow.lite.python import schema_py_generated as schema  # noqa: E402
from tensorflow.lite.tools import flatbuffer_utils  # noqa: E402

MODES = ("fp32", "int8")
# The layers a two-tower model must name (the zoo's `two_tower` builds them): the user and item
# towers' output vectors and the per-item bias table.
TWO_TOWER_LAYERS = {"user": "user_vector", "item": "item_vector", "bias": "item_bias"}
CALIBRATION_BATCH = 16


@dataclass(frozen=True)
class Retrieval:
    """What a retrieval artifact was exported with: its user inputs, K and the catalogue size."""

    user_inputs: tuple[str, ...]
    top_k: int
    num_items: int  # vocabulary size of item_id, the OOV item 0 included

    def signatures(self) -> dict[str, dict[str, list[str]]]:
        """Input and output names per signature, as the interpreter lists them (sorted)."""
        return {
            RECOMMEND: {"inputs": sorted(self.user_inputs), "outputs": sorted([ITEMS, SCORES])},
            SCORE: {"inputs": sorted([*self.user_inputs, CANDIDATES]), "outputs": [SCORES]},
        }


def towers(model: keras.Model, user_inputs: list[str]) -> keras.Model:
    """The user tower of a two-tower `model` as a model of its own (same weights)."""
    inputs = {name: model.get_layer(name).output for name in user_inputs}
    return keras.Model(inputs, model.get_layer(TWO_TOWER_LAYERS["user"]).output, name="user_tower")


def item_matrix(model: keras.Model, item_rows: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every catalogue item's vector (N, d) and bias (N,), from the item tower; `item_rows` holds the
    item inputs (item_id and the item side features) of items 0..N-1 in index order."""
    inputs = {name: model.get_layer(name).output for name in item_rows}
    tower = keras.Model(inputs, model.get_layer(TWO_TOWER_LAYERS["item"]).output, name="item_tower")
    vectors = tower.predict(item_rows, batch_size=8192, verbose=0).astype(np.float32)
    bias = model.get_layer(TWO_TOWER_LAYERS["bias"]).get_weights()[0][:, 0].astype(np.float32)
    return vectors, bias


class _Module(tf.Module):
    def __init__(self, user_tower: keras.Model, vectors: np.ndarray, bias: np.ndarray, top_k: int):
        super().__init__()
        self.user_tower = user_tower
        self.vectors = tf.constant(vectors)
        self.bias = tf.constant(bias)
        self.top_k = top_k

    def scores(self, user: dict) -> tf.Tensor:
        return tf.matmul(self.user_tower(user), self.vectors, transpose_b=True) + self.bias

    def recommend(self, user: dict) -> dict:
        values, index = tf.math.top_k(self.scores(user)[:, 1:], self.top_k)  # column 0 is the OOV item
        return {ITEMS: index + 1, SCORES: values}

    def score(self, user: dict, candidates: tf.Tensor) -> dict:
        return {SCORES: tf.gather(self.scores(user), candidates, batch_dims=1)}


def convert(
    model: keras.Model,
    item_rows: dict[str, np.ndarray],
    user_inputs: list[str],
    top_k: int,
    mode: str = "int8",
    calibration: dict[str, np.ndarray] | None = None,
) -> tuple[bytes, Retrieval]:
    """The .tflite bytes of the two-tower `model` with the `recommend` and `score` signatures.

    `item_rows`: item inputs of every catalogue item, index order (see `item_matrix`);
    `user_inputs`: the user features, in the model's order; `top_k`: K of `recommend`, at most
    the number of real items; `calibration` (int8): user input rows of training users.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}. Received: mode={mode!r}")
    vectors, bias = item_matrix(model, item_rows)
    num_items = vectors.shape[0]
    if not 1 <= top_k <= num_items - 1:
        raise ValueError(f"top_k must be in [1, {num_items - 1}] (the catalogue's items). Received: top_k={top_k}")
    if mode == "int8" and calibration is None:
        raise ValueError("mode 'int8' needs calibration rows of user inputs")
    module = _Module(towers(model, user_inputs), vectors, bias, top_k)
    # Positional arguments named by their TensorSpecs: the signature's input names are the specs' names
    # (a **kwargs function is traced with positional arguments in some processes and then fails).
    user_specs = [tf.TensorSpec([None], tf.int32, name=name) for name in user_inputs]
    candidates_spec = tf.TensorSpec([None, None], tf.int32, name=CANDIDATES)
    signatures = {
        RECOMMEND: tf.function(lambda *user: module.recommend(dict(zip(user_inputs, user))),
                               input_signature=user_specs).get_concrete_function(),
        SCORE: tf.function(lambda candidates, *user: module.score(dict(zip(user_inputs, user)), candidates),
                           input_signature=[candidates_spec, *user_specs]).get_concrete_function(),
    }
    try:
        with tempfile.TemporaryDirectory(prefix="edgerec-retrieval.") as folder:
            tf.saved_model.save(module, folder, signatures=signatures)
            converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=[RECOMMEND, SCORE])
            if mode == "int8":
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
                converter.representative_dataset = lambda: _representative(calibration, num_items)
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            data = converter.convert()
    except Exception as exc:  # the converter raises several unrelated types
        raise ConversionError(f"TFLite conversion ({mode}) of the retrieval model '{model.name}' failed: {exc}") from exc
    data = fc_bias.add_missing_biases(data) if mode == "int8" else data
    return data, Retrieval(tuple(user_inputs), top_k, num_items)


def float_ops(data: bytes) -> list[str]:
    """The ops of every signature (subgraph) of a .tflite that output float32, sorted and each once."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    found = set()
    for graph in model.subgraphs:
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            if any(graph.tensors[t].type == schema.TensorType.FLOAT32 for t in op.outputs if t >= 0):
                found.add(names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM"))
    return sorted(found)


def _representative(rows: dict[str, np.ndarray], num_items: int) -> Iterator[tuple[str, dict]]:
    """Calibration batches for both signatures: training users, and random catalogue items as candidates.

    Every batch has the same size: TFLite's calibrator resizes a signature's inputs once per
    batch and fails on a smaller last batch (CONCATENATION sees two batch sizes)."""
    n = len(next(iter(rows.values())))
    rng = np.random.default_rng(0)
    index = np.arange(max(n, CALIBRATION_BATCH)) % n
    for start in range(0, len(index) - CALIBRATION_BATCH + 1, CALIBRATION_BATCH):
        user = {name: values[index[start:start + CALIBRATION_BATCH]] for name, values in rows.items()}
        yield RECOMMEND, user
        yield SCORE, {**user, CANDIDATES: rng.integers(0, num_items, (CALIBRATION_BATCH, 32)).astype(np.int32)}
