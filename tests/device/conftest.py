"""A tiny bundle for the device_bench tests, built once per session with TensorFlow.

TensorFlow is only used here, in the pytest process, to make the artifacts;
the harness under test runs in subprocesses where TensorFlow cannot be imported.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from device_bench.bundle import EVAL_SET, MANIFEST

VOCAB = 20
N_POINTWISE = 200
N_USERS = 10
N_CANDIDATES = 100


@dataclass(frozen=True)
class Bundle:
    folder: Path
    model: Path  # good fp32 artifact, listed in the manifest with its sha256
    truncated: Path  # first half of model's bytes
    eval_path: Path
    keras_pointwise_logits: np.ndarray  # Keras predictions for eval.npz's pointwise rows
    keras_ranking_logits: np.ndarray  # ... and its ranking rows, shape (N_USERS * N_CANDIDATES,)
    other: Path  # same inputs, other weights; in a folder of its own (no eval set)
    other_ranking_logits: np.ndarray  # other's Keras logits for eval.npz's ranking rows


def _build_model(seed: int = 0):
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    user = keras.Input(shape=(), dtype="int32", name="user_id")
    item = keras.Input(shape=(), dtype="int32", name="item_id")
    x = keras.layers.Concatenate()([keras.layers.Embedding(VOCAB, 4)(user), keras.layers.Embedding(VOCAB, 4)(item)])
    x = keras.layers.Dense(8, activation="relu")(x)
    x = keras.layers.Dense(1)(x)
    logit = keras.layers.Reshape(())(x)
    return keras.Model([user, item], logit)


def _to_tflite(model) -> bytes:
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def _predict(model, users, items) -> np.ndarray:
    return model.predict({"user_id": users, "item_id": items}, batch_size=256, verbose=0).astype(np.float64)


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Bundle:
    # setup: model, artifacts
    folder = tmp_path_factory.mktemp("bundle")
    model = _build_model()
    flatbuffer = _to_tflite(model)
    (folder / "model.tflite").write_bytes(flatbuffer)
    (folder / "truncated.tflite").write_bytes(flatbuffer[: len(flatbuffer) // 2])
    manifest = {
        "artifacts": [
            {"file": "model.tflite", "sha256": hashlib.sha256(flatbuffer).hexdigest()},
            {"file": "truncated.tflite"},
        ]
    }
    (folder / MANIFEST).write_text(json.dumps(manifest))

    # setup: eval set; labels follow the model's logit plus noise, so AUC is far from 0.5
    rng = np.random.default_rng(0)
    users = rng.integers(0, VOCAB, N_POINTWISE).astype(np.int32)
    items = rng.integers(0, VOCAB, N_POINTWISE).astype(np.int32)
    pointwise_logits = _predict(model, users, items)
    noisy = pointwise_logits + rng.normal(0, pointwise_logits.std(), N_POINTWISE)
    labels = (noisy > np.median(noisy)).astype(np.float32)
    ranking_users = np.repeat(np.arange(N_USERS), N_CANDIDATES).astype(np.int32)
    other_folder = tmp_path_factory.mktemp("other")
    other_model = _build_model(seed=1)
    (other_folder / "other.tflite").write_bytes(_to_tflite(other_model))
    ranking_items = rng.integers(0, VOCAB, N_USERS * N_CANDIDATES).astype(np.int32)
    np.savez(
        folder / EVAL_SET,
        **{
            "pointwise/user_id": users,
            "pointwise/item_id": items,
            "pointwise/label": labels,
            "ranking/user_id": ranking_users,
            "ranking/item_id": ranking_items,
            "ranking/num_candidates": np.array(N_CANDIDATES, dtype=np.int64),
        },
    )
    return Bundle(
        folder=folder,
        model=folder / "model.tflite",
        truncated=folder / "truncated.tflite",
        eval_path=folder / EVAL_SET,
        keras_pointwise_logits=pointwise_logits,
        keras_ranking_logits=_predict(model, ranking_users, ranking_items),
        other=other_folder / "other.tflite",
        other_ranking_logits=_predict(other_model, ranking_users, ranking_items),
    )


@pytest.fixture(scope="session")
def hanging_model(tmp_path_factory) -> Path:
    """A real TFLite model whose ``invoke()`` never returns: a WHILE loop whose condition is always true.

    ``|v| >= 0`` holds for every float the loop can produce (it saturates at inf),
    but the converter cannot fold it away, and the output depends on the loop.
    """
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def spin(x):
        return tf.while_loop(lambda v: tf.reduce_min(tf.abs(v)) >= 0.0, lambda v: v + 1.0, [x])[0]

    path = tmp_path_factory.mktemp("hanging") / "hanging.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([spin.get_concrete_function()], spin).convert())
    return path


@pytest.fixture
def copy_model(bundle, tmp_path):
    """Copy the good artifact (and optionally eval.npz / a manifest) into a fresh folder."""

    def _copy(eval_arrays: dict | None = None, manifest: dict | None = None) -> Path:
        (tmp_path / "model.tflite").write_bytes(bundle.model.read_bytes())
        if eval_arrays is not None:
            np.savez(tmp_path / EVAL_SET, **eval_arrays)
        if manifest is not None:
            (tmp_path / MANIFEST).write_text(json.dumps(manifest))
        return tmp_path

    return _copy
