"""Shared test helpers: tiny data, tiny models, the layer contract. One place, not copies."""

from __future__ import annotations

import numpy as np

from edgerec.data.schema import Interactions

TINY_FEATURES = ("user_id", "item_id", "user_age", "item_category")


def tiny_interactions(users: int = 40, items: int = 30, per_user: int = 8, seed: int = 0) -> Interactions:
    """A hand-sized dataset: users pick items where (user + item) % 3 == 0 more often."""
    rng = np.random.default_rng(seed)
    user, item = [], []
    for u in range(users):
        weights = np.where((u + np.arange(items)) % 3 == 0, 5.0, 1.0)
        chosen = rng.choice(items, size=per_user, replace=False, p=weights / weights.sum())
        user += [u] * per_user
        item += list(chosen)
    user = np.asarray(user, np.int32)
    return Interactions(
        user=user,
        item=np.asarray(item, np.int32),
        timestamp=np.arange(len(user), dtype=np.int64),
        user_features={"user_age": (np.arange(users) % 4).astype(np.int32)},
        item_features={"item_category": (np.arange(items) % 5).astype(np.int32)},
        vocabularies={
            "user_id": [str(u) for u in range(users)],
            "item_id": [str(i) for i in range(items)],
            "user_age": [f"a{i}" for i in range(4)],
            "item_category": [f"c{i}" for i in range(5)],
        },
        source="tiny",
    )


def assert_layer_contract(layer_factory, inputs, tmp_path) -> None:
    """Build, config round-trip, and save/load with equal predictions, the same way for every layer."""
    from edgerec._keras import keras

    layer = layer_factory()
    model_inputs = [keras.Input(shape=x.shape[1:]) for x in inputs]
    out = layer(model_inputs if len(model_inputs) > 1 else model_inputs[0])
    model = keras.Model(model_inputs, out)
    feed = inputs if len(inputs) > 1 else inputs[0]
    expected = model.predict(feed, verbose=0)

    clone = layer.__class__.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()

    path = tmp_path / f"{layer.name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(feed, verbose=0), expected, rtol=1e-6, atol=1e-6)



def assert_model_contract(model, rows: dict, tmp_path) -> None:
    """A whole ranker: config round-trip, clone, save/load and fp32 TFLite all give its logits."""
    from converters import parity, tflite
    from edgerec import train
    from edgerec._keras import keras

    expected = train.predict_logits(model, rows)

    rebuilt = keras.Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    assert rebuilt.get_config() == model.get_config()
    np.testing.assert_allclose(train.predict_logits(rebuilt, rows), expected, rtol=1e-6, atol=1e-6)

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(train.predict_logits(clone, rows), expected, rtol=1e-6, atol=1e-6)

    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(train.predict_logits(loaded, rows), expected, rtol=1e-6, atol=1e-6)

    lite = tmp_path / f"{model.name}.tflite"
    lite.write_bytes(tflite.convert(model, "fp32"))
    np.testing.assert_allclose(parity.tflite_logits(lite, rows), expected, rtol=1e-4, atol=1e-4)

_BLOCKER = '''
import os, sys

BLOCKED = set(os.environ["BLOCKED_IMPORTS"].split(","))

class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            with open(os.environ["BLOCKED_IMPORT_LOG"], "a") as log:
                log.write(name + "\\n")
            raise ImportError(f"{name} is blocked: this process must run without it")
        return None

sys.meta_path.insert(0, _Block())
'''

NO_TENSORFLOW = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization")


def blocked_import_env(tmp_path, blocked) -> tuple[dict, "Path"]:
    """Environment for a subprocess (and its children) in which `blocked` top-level modules fail to import.

    A sitecustomize on PYTHONPATH installs the hook, so worker processes inherit it; every blocked
    attempt is logged, so an ImportError caught somewhere cannot hide one.
    """
    import os
    from pathlib import Path

    shim = Path(tmp_path) / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(_BLOCKER)
    log = Path(tmp_path) / "blocked.log"
    env = {**os.environ, "PYTHONPATH": str(shim), "BLOCKED_IMPORTS": ",".join(blocked), "BLOCKED_IMPORT_LOG": str(log)}
    return env, log


def write_movielens(folder, layout: str, users: int = 30, items: int = 80, per_user: int = 10, seed: int = 0):
    """A small MovieLens folder in one of the three published layouts (made up, never real data)."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ratings = []
    for u in range(1, users + 1):
        for i, item in enumerate(rng.choice(np.arange(1, items + 1), size=per_user, replace=False)):
            ratings.append((u, int(item), int(rng.integers(1, 6)), 978300000 + 1000 * u + i))
    genres = ["Comedy", "Drama", "Action|Thriller", "Children's|Comedy"]
    if layout == "100k":
        (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in ratings))
        (folder / "u.user").write_text("".join(f"{u}|{20 + u}|{'MF'[u % 2]}|writer|1000{u}\n" for u in range(1, users + 1)))
        flags = lambda i: "|".join("1" if g == i % 19 else "0" for g in range(19))  # noqa: E731
        (folder / "u.item").write_bytes("".join(
            f"{i}|Film \xe9 {i} (1995)|01-Jan-1995||http://x|{flags(i)}\n" for i in range(1, items + 1)
        ).encode("latin-1"))
    elif layout == "1m":
        (folder / "ratings.dat").write_text("".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in ratings))
        (folder / "users.dat").write_text("".join(f"{u}::{'MF'[u % 2]}::{[1, 18, 25][u % 3]}::{u % 21}::0000{u}\n" for u in range(1, users + 1)))
        (folder / "movies.dat").write_bytes("".join(
            f"{i}::Film \xe9 {i} (1995)::{genres[i % 4]}\n" for i in range(1, items + 1)
        ).encode("latin-1"))
    elif layout == "latest":
        (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "".join(f"{u},{i},{r}.5,{t}\n" for u, i, r, t in ratings))
        (folder / "movies.csv").write_text("movieId,title,genres\n" + "".join(f'{i},"Film, {i} (1995)",{genres[i % 4]}\n' for i in range(1, items + 1)))
    else:
        raise ValueError(layout)
    return ratings


def write_criteo(path, rows: int = 2000, seed: int = 0):
    """A made-up file in the Criteo display-ads TSV layout (never real data), with a learnable click signal.

    Clicks are drawn from sigmoid(-1.5 + effect[C1] + effect[C2] + 0.5 * (I1 > 5)): C1 and C2 take 12
    hex values each with a fixed propensity, so a model that learns their embeddings beats the click
    rate prior. Other categoricals draw from 40 values, I2 is sometimes negative, and about a tenth of
    every field is empty. Returns the labels written.
    """
    from pathlib import Path

    rng = np.random.default_rng(seed)
    hexes = [f"{v:08x}" for v in rng.integers(0, 2**32, size=40)]
    effect = rng.normal(0, 1.5, size=12)
    c1, c2 = rng.integers(0, 12, rows), rng.integers(0, 12, rows)
    i1 = rng.poisson(5, rows)
    clicks = rng.random(rows) < 1 / (1 + np.exp(-(-1.5 + effect[c1] + effect[c2] + 0.5 * (i1 > 5))))
    lines = []
    for r in range(rows):
        integers = [i1[r], rng.integers(-3, 50), *rng.geometric(0.05, 11)]
        categoricals = [hexes[c1[r]], hexes[12 + c2[r]], *(hexes[v] for v in rng.integers(0, 40, 24))]
        fields = [str(v) for v in integers] + categoricals
        fields = ["" if rng.random() < 0.1 else f for f in fields]
        lines.append("\t".join([str(int(clicks[r])), *fields]) + "\n")
    Path(path).write_text("".join(lines))
    return clicks.astype(np.float32)


def assert_one_line_error(result, *needles) -> None:
    """A CLI user error: exit code 2 and one non-empty line, "Error: ...", holding every needle."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


def fully_connected_without_bias(data: bytes) -> list[str]:
    """Weight-tensor names of the FULLY_CONNECTED ops in a .tflite flatbuffer that have no bias tensor."""
    from edgerec._keras import tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TF loads)
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    return [
        graph.tensors[op.inputs[1]].name.decode()
        for graph in model.subgraphs for op in graph.operators
        if codes[op.opcodeIndex] == schema.BuiltinOperator.FULLY_CONNECTED and (len(op.inputs) < 3 or op.inputs[2] < 0)
    ]
