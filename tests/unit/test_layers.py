import numpy as np
import pytest

from edgerec._keras import keras
from edgerec.models.layers import Cross, FactorizationMachine, FactorizedEmbedding, LowRankDense
from tests.utils import assert_layer_contract


def _trained_dense(m=6, n=5, activation="relu"):
    dense = keras.layers.Dense(n, activation=activation, name="d")
    dense.build((None, m))
    rng = np.random.default_rng(0)
    dense.set_weights([rng.normal(size=(m, n)).astype("float32"), rng.normal(size=n).astype("float32")])
    return dense


def test_full_rank_low_rank_dense_reproduces_dense():
    # setup
    dense = _trained_dense()
    x = np.random.default_rng(1).normal(size=(7, 6)).astype("float32")
    # execute
    low = LowRankDense.from_dense(dense, rank=5)
    # assert
    np.testing.assert_allclose(low(x).numpy(), dense(x).numpy(), atol=1e-5)


@pytest.mark.parametrize("m, n, rank, use_bias", [(6, 5, 2, True), (6, 5, 1, False), (16, 8, 3, True), (16, 8, 8, False)])
def test_low_rank_parameter_count_is_r_times_m_plus_n_plus_bias(m, n, rank, use_bias):
    dense = keras.layers.Dense(n, use_bias=use_bias)
    dense.build((None, m))
    low = LowRankDense.from_dense(dense, rank=rank)
    assert low.count_params() == rank * (m + n) + (n if use_bias else 0)


def test_truncated_svd_is_the_best_rank_r_approximation():
    # setup: the error of the rank-r kernel equals the discarded singular values (Eckart–Young)
    dense = _trained_dense(activation=None)
    s = np.linalg.svd(dense.kernel.numpy(), compute_uv=False)
    # execute
    low = LowRankDense.from_dense(dense, rank=3)
    approx = low.kernel_u.numpy() @ low.kernel_v.numpy()
    # assert
    error = np.linalg.norm(dense.kernel.numpy() - approx)
    assert error == pytest.approx(np.sqrt((s[3:] ** 2).sum()), rel=1e-4)


@pytest.mark.parametrize("rank", [0, 6])
def test_rank_out_of_range_is_rejected_with_value(rank):
    with pytest.raises(ValueError, match=rf"rank must be in \[1, 5\] .*Received: rank={rank}"):
        LowRankDense.from_dense(_trained_dense(), rank=rank)


def test_low_rank_dense_layer_contract(tmp_path):
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    assert_layer_contract(lambda: LowRankDense(5, rank=2, activation="relu", name="low"), [x], tmp_path)


def test_cross_layer_hand_computed():
    # setup: ones initializer -> W x + b = sum(x) for every unit, b = 0
    layer = Cross()
    x0 = np.array([[1.0, 2.0, 3.0]], "float32")
    layer([x0, x0])
    layer.dense.set_weights([np.ones((3, 3), "float32"), np.zeros(3, "float32")])
    # execute
    out = layer([x0, x0]).numpy()
    # assert: x0 * (6) + x0
    np.testing.assert_allclose(out, [[7.0, 14.0, 21.0]])


def test_cross_layer_contract(tmp_path):
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    assert_layer_contract(lambda: Cross(name="cross"), [x, x], tmp_path)


def test_low_rank_cross_equals_full_cross_with_the_product_matrix():
    # setup: full-rank W = U V reproduces the projected layer exactly
    rng = np.random.default_rng(0)
    x0, xl = (rng.normal(size=(5, 6)).astype("float32") for _ in range(2))
    low, full = Cross(projection_dim=2), Cross()
    low([x0, xl]), full([x0, xl])
    u, v, b = rng.normal(size=(6, 2)), rng.normal(size=(2, 6)), rng.normal(size=6)
    low.projection.set_weights([u.astype("float32")])
    low.dense.set_weights([v.astype("float32"), b.astype("float32")])
    full.dense.set_weights([(u @ v).astype("float32"), b.astype("float32")])
    # execute / assert
    np.testing.assert_allclose(low([x0, xl]).numpy(), full([x0, xl]).numpy(), rtol=1e-5, atol=1e-5)
    assert low.count_params() == 6 * 2 + 2 * 6 + 6


def test_low_rank_cross_layer_contract(tmp_path):
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    assert_layer_contract(lambda: Cross(projection_dim=2, name="cross_low"), [x, x], tmp_path)


def test_factorization_machine_hand_computed():
    # setup: three 2-d fields; pairwise dots 1*3+2*4=11, 1*5+2*6=17, 3*5+4*6=39
    fields = np.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]], "float32")
    # execute
    out = FactorizationMachine()(fields).numpy()
    # assert
    np.testing.assert_allclose(out, [[11.0 + 17.0 + 39.0]])


def test_factorization_machine_equals_the_pairwise_sum():
    # setup
    fields = np.random.default_rng(0).normal(size=(5, 4, 3)).astype("float32")
    pairwise = sum(
        (fields[:, i] * fields[:, j]).sum(axis=1) for i in range(4) for j in range(i + 1, 4)
    )
    # execute / assert
    np.testing.assert_allclose(FactorizationMachine()(fields).numpy()[:, 0], pairwise, rtol=1e-5, atol=1e-5)


def test_factorization_machine_rejects_flat_input():
    with pytest.raises(ValueError, match=r"expects \(batch, fields, dim\). Received: input_shape=\(None, 6\)"):
        FactorizationMachine()(keras.Input(shape=(6,)))


def test_factorization_machine_layer_contract(tmp_path):
    x = np.random.default_rng(0).normal(size=(4, 3, 2)).astype("float32")
    assert_layer_contract(lambda: FactorizationMachine(name="fm"), [x], tmp_path)


def _trained_embedding(vocab=30, dim=6):
    embedding = keras.layers.Embedding(vocab, dim, name="embedding_item_id")
    embedding.build((None,))
    embedding.set_weights([np.random.default_rng(0).normal(size=(vocab, dim)).astype("float32")])
    return embedding


@pytest.mark.parametrize("ids_shape", [(7,), (7, 3)])
def test_full_rank_factorized_embedding_reproduces_the_embedding(ids_shape):
    # setup
    embedding = _trained_embedding()
    ids = np.random.default_rng(1).integers(0, 30, size=ids_shape).astype("int32")
    # execute
    factorized = FactorizedEmbedding.from_embedding(embedding, rank=6)
    # assert: same shape as keras.layers.Embedding, same values, same name
    out = factorized(ids).numpy()
    assert out.shape == embedding(ids).shape == ids_shape + (6,)
    np.testing.assert_allclose(out, embedding(ids).numpy(), atol=1e-5)
    assert factorized.name == "embedding_item_id"


@pytest.mark.parametrize("vocab, dim, rank", [(30, 6, 2), (100, 16, 4), (5, 4, 1)])
def test_factorized_embedding_parameter_count_is_r_times_v_plus_d(vocab, dim, rank):
    factorized = FactorizedEmbedding.from_embedding(_trained_embedding(vocab, dim), rank=rank)
    assert factorized.count_params() == rank * (vocab + dim)
    assert [w.shape for w in factorized.get_weights()] == [(vocab, rank), (rank, dim)]


def test_factorized_embedding_is_the_best_rank_r_table():
    # setup: Eckart–Young, the error of the rank-r table equals the discarded singular values
    embedding = _trained_embedding()
    s = np.linalg.svd(embedding.embeddings.numpy(), compute_uv=False)
    # execute
    factorized = FactorizedEmbedding.from_embedding(embedding, rank=2)
    table, projection = factorized.get_weights()
    # assert
    error = np.linalg.norm(embedding.embeddings.numpy() - table @ projection)
    assert error == pytest.approx(np.sqrt((s[2:] ** 2).sum()), rel=1e-4)


@pytest.mark.parametrize("rank", [0, 7])
def test_factorized_embedding_rank_out_of_range_is_rejected(rank):
    with pytest.raises(ValueError, match=rf"rank must be in \[1, 6\] for table \(30, 6\). Received: rank={rank}"):
        FactorizedEmbedding.from_embedding(_trained_embedding(), rank=rank)
    with pytest.raises(ValueError, match=r"output_dim must be >= 1. Received: output_dim=0"):
        FactorizedEmbedding(30, 0, rank=2)


def test_factorized_embedding_layer_contract(tmp_path):
    ids = np.random.default_rng(0).integers(0, 30, size=(4, 1)).astype("float32")
    assert_layer_contract(lambda: FactorizedEmbedding(30, 6, rank=2, name="factorized"), [ids], tmp_path)
