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
