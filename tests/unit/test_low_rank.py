"""Rank selection (rank / energy / param_budget) for `low_rank` and `factorize_embeddings`,
and factorised embeddings through distillation, prune, QAT and full-integer int8."""

import numpy as np
import pytest

from converters import parity, representative, tflite
from converters.inspect import inspect
from edgerec import compress, train
from edgerec._keras import keras
from edgerec.compress.base import StepError
from edgerec.models.layers import FactorizedEmbedding, LowRankDense

M, N = 40, 10
SINGULAR = 2.0 ** -np.arange(N)  # kept energy of rank r: (1 - 4^-r) / (1 - 4^-10)


def _kernel_with_singular_values(s, m=M, seed=0):
    """U diag(s) V^T with random orthonormal U (m x n) and V (n x n)."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(m, len(s))))
    v, _ = np.linalg.qr(rng.normal(size=(len(s), len(s))))
    return (u * s) @ v.T


def _one_dense_model():
    x = keras.Input(shape=(M,), name="x")
    model = keras.Model(x, keras.layers.Dense(N, name="d")(x))
    model.get_layer("d").set_weights([_kernel_with_singular_values(SINGULAR).astype("float32"), np.zeros(N, "float32")])
    return model


def _energy(rank):
    return float((SINGULAR[:rank] ** 2).sum() / (SINGULAR**2).sum())


@pytest.mark.parametrize(
    "given, rank",
    [
        ({"energy": 0.9}, 2),  # rank 1 keeps 0.750, rank 2 0.938
        ({"energy": 0.95}, 3),  # rank 3 keeps 0.984
        ({"energy": 0.99}, 4),  # rank 4 keeps 0.996
        ({"param_budget": 0.5}, 4),  # 4 (40 + 10) = 200 <= 0.5 * 400, exactly on the budget
        ({"param_budget": 0.3}, 2),  # 2 * 50 = 100 <= 120 < 3 * 50
        ({"rank": 3}, 3),
    ],
)
def test_energy_and_budget_choose_the_rank_their_definitions_say(given, rank):
    # setup
    step = compress.get("low_rank")
    # execute
    model = step.apply(_one_dense_model(), step.resolve(given), compress.StepContext(1, 0))
    # assert
    layer = model.get_layer("d")
    assert isinstance(layer, LowRankDense) and layer.rank == rank
    facts = step.describe(model)["d"]
    assert facts == {
        "rank": rank,
        "kept_energy": pytest.approx(_energy(rank), abs=1e-6),
        "params_before": M * N + N,
        "params_after": rank * (M + N) + N,
    }
    assert layer.count_params() == facts["params_after"]


@pytest.mark.parametrize(
    "given, reason",
    [
        ({"energy": 1.0}, "rank 10 of a 40 x 10 matrix needs 510 >= 410 params"),
        ({"param_budget": 0.1}, r"param_budget 0.1 allows no rank: 1 x (40 + 10) > 0.1 x 40 x 10"),
        ({}, "rank 8 of a 40 x 10 matrix needs 410 >= 410 params"),  # the default rank 8
    ],
)
def test_a_layer_the_rank_does_not_shrink_is_kept_and_described(given, reason):
    step = compress.get("low_rank")
    model = step.apply(_one_dense_model(), step.resolve(given), compress.StepContext(1, 0))
    assert type(model.get_layer("d")) is keras.layers.Dense
    facts = step.describe(model)["d"]
    assert facts["kept"] == reason and facts["params_after"] == facts["params_before"] == 410


@pytest.mark.parametrize("name", ["low_rank", "factorize_embeddings"])
def test_rank_options_are_exclusive_and_validated(name):
    step = compress.get(name)
    with pytest.raises(StepError, match=rf"'{name}': give one of rank, energy, param_budget, not both rank and energy"):
        step.resolve({"rank": 4, "energy": 0.9})
    with pytest.raises(StepError, match="not both energy and param_budget. Received: energy=0.9, param_budget=0.5"):
        step.resolve({"energy": 0.9, "param_budget": 0.5})
    with pytest.raises(StepError, match=r"energy must be a float in \(0, 1\]. Received: 1.5"):
        step.resolve({"energy": 1.5})
    with pytest.raises(StepError, match=r"param_budget must be a float in \(0, 1\). Received: 1.0"):
        step.resolve({"param_budget": 1.0})
    assert step.resolve({})["rank"] == 8
    assert step.resolve({"energy": 0.9})["rank"] is None
    for candidate in step.candidates():
        step.resolve(candidate)


def _copy(model):
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _factorized(tiny_student, given):
    step = compress.get("factorize_embeddings")
    model = step.apply(_copy(tiny_student), step.resolve(given), compress.StepContext(1, 0))
    return step, model


def test_factorize_embeddings_keeps_names_and_reports_what_it_saves(tiny_student, tiny_task):
    # execute
    step, model = _factorized(tiny_student, {"rank": 2, "layers": ["embedding_user_id", "embedding_item_id"]})
    # assert: the named tables are factorised under their own names, the others untouched
    vocab = {f.name: f.vocab_size for f in tiny_task.features}
    for feature in ("user_id", "item_id"):
        layer = model.get_layer(f"embedding_{feature}")
        assert isinstance(layer, FactorizedEmbedding) and layer.count_params() == 2 * (vocab[feature] + 4)
    assert type(model.get_layer("embedding_user_age")) is keras.layers.Embedding
    facts = step.describe(model)
    assert set(facts["tables"]) == {"embedding_user_id", "embedding_item_id"}
    assert facts["int8_bytes_saved"] == sum(2 * vocab[f] - 2 * 4 for f in ("user_id", "item_id"))  # V d - 2 (V + d)


def test_factorize_embeddings_keeps_tables_under_min_rows_whole(tiny_student, tiny_task):
    # execute: min_rows between the side-feature tables (5 and 6 rows) and the id tables (31 and 41)
    step, model = _factorized(tiny_student, {"rank": 2, "min_rows": 20})
    # assert: the id tables are factorised, the side tables kept whole with the reason in the facts
    facts = step.describe(model)["tables"]
    for feature in ("user_id", "item_id"):
        assert isinstance(model.get_layer(f"embedding_{feature}"), FactorizedEmbedding)
        assert "kept" not in facts[f"embedding_{feature}"]
    vocab = {f.name: f.vocab_size for f in tiny_task.features}
    for feature in ("user_age", "item_category"):
        assert type(model.get_layer(f"embedding_{feature}")) is keras.layers.Embedding
        assert facts[f"embedding_{feature}"]["kept"] == f"{vocab[feature]} rows < min_rows 20"


def test_factorize_embeddings_at_full_rank_keeps_every_table(tiny_student):
    step, model = _factorized(tiny_student, {"energy": 1.0})
    assert not any(isinstance(layer, FactorizedEmbedding) for layer in model.layers)
    assert step.describe(model)["int8_bytes_saved"] == 0
    assert all("kept" in facts for facts in step.describe(model)["tables"].values())


def test_factorized_student_converts_to_int8_gather_and_fully_connected(tiny_student, tiny_task, tmp_path):
    # setup
    _, model = _factorized(tiny_student, {"rank": 2})
    path = tmp_path / "factorized.tflite"
    # execute
    path.write_bytes(tflite.convert(model, "int8", representative.dataset(tiny_task.representative_rows(200))))
    result = inspect(path)
    # assert: each V x 2 table is an int8 GATHER, each 2 x 4 projection int8 FULLY_CONNECTED weights
    # ([out, in] = [4, 2]) with a zero int32 bias (converters.fc_bias), all counted as embedding bytes; every op int8
    assert result.all_int8
    assert result.ops["GATHER"] == len(tiny_task.features)
    assert result.ops["FULLY_CONNECTED"] == 3 + len(tiny_task.features)
    embedding = sorted((tuple(c["shape"]), c["dtype"]) for c in result.constants if c["kind"] == "embedding")
    expected = [((f.vocab_size, 2), "INT8") for f in tiny_task.features]
    expected += [((4, 2), "INT8"), ((4,), "INT32")] * len(tiny_task.features)
    assert embedding == sorted(expected)
    assert result.bytes_by_kind["embedding"] == sum(2 * (f.vocab_size + 4) + 4 * 4 for f in tiny_task.features)
    rows = tiny_task.ranking_eval()
    assert parity.compare(train.predict_logits(model, rows), parity.tflite_logits(path, rows), 10)["mean_abs_logit_diff"] < 0.1


@pytest.mark.slow
def test_factorized_embeddings_survive_prune_and_qat_to_int8(tiny_student, tiny_task, tmp_path):
    # setup
    features, labels = tiny_task.train_epoch(0)
    steps = int(np.ceil(len(labels) / 64))
    model, done = _copy(tiny_student), ()
    # execute
    for name, given in (("factorize_embeddings", {"rank": 2}), ("prune", {}), ("qat", {})):
        step = compress.get(name)
        params = step.resolve(given)
        ctx = compress.StepContext(steps, 1, previous_steps=done)
        trainable = step.apply(model, params, ctx)
        trainable.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.BinaryCrossentropy(from_logits=True))
        trainable.fit(features, labels, batch_size=64, epochs=1, verbose=0, callbacks=step.callbacks(params, ctx))
        model, done = step.finalize(trainable, params), done + (name,)
    path = tmp_path / "chain.tflite"
    path.write_bytes(tflite.convert(model, "int8", representative.dataset(tiny_task.representative_rows(200))))
    # assert: QAT fake-quantized every projection, the artifact is full-integer and tracks Keras
    quantized = step.describe(model)["quantized_layers"]
    assert {f"embedding_{f.name}" for f in tiny_task.features} <= set(quantized)
    assert inspect(path).all_int8
    rows = tiny_task.ranking_eval()
    result = parity.compare(train.predict_logits(model, rows), parity.tflite_logits(path, rows), 10)
    assert result["mean_abs_logit_diff"] < 0.1 and result["top10_overlap"] > 0.7
