"""The compressed tables (edgerec.models.tables) compute what they claim, and their steps shrink the int8 file."""

import numpy as np
import pytest

from converters import parity, representative, tflite
from converters.inspect import inspect
from edgerec import compress, train
from edgerec._keras import keras
from edgerec.compress.base import StepError
from edgerec.compress.mixed_dim import head_size
from edgerec.models.tables import MixedDimEmbedding, PackedInt4Embedding, QREmbedding, byte_codes, quantize_rows
from edgerec.models.zoo import build_ranker
from edgerec.recipe import ModelConfig, TrainConfig


def _table(rows, dim, seed=0):
    layer = keras.layers.Embedding(rows, dim, name="embedding_x")
    layer.build((None,))
    layer.set_weights([np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)])
    return layer


def _lookup(layer, rows):
    return layer(np.arange(rows, dtype=np.int32)).numpy()


@pytest.fixture(scope="module")
def wide_student(tiny_task):
    """A 32-wide GMF student: wide enough that every table step makes its id tables smaller (int4 tables
    each add a 512-byte code table, which the saving must outweigh)."""
    model = build_ranker(tiny_task.features, ModelConfig(embedding_dim=32, hidden=(8,), gmf=True), "student", seed=0)
    config = TrainConfig(max_epochs=1, batch_size=64, learning_rate=0.01)
    train.compile_ranker(model, config)
    train.fit(model, tiny_task, config, 1, "tiny", log=lambda _: None)
    return model


def test_head_size_takes_the_fewest_ids_that_carry_the_coverage():
    counts = np.array([0, 50, 1, 30, 10, 9])
    assert head_size(counts, 0.5) == 1  # 50 of 100
    assert head_size(counts, 0.8) == 2  # 50 + 30
    assert head_size(counts, 0.99) == 4  # 50 + 30 + 10 + 9
    assert head_size(counts, 0.999) == 5  # never the unseen id 0
    assert head_size(np.zeros(4), 0.8) == 0


def test_mixed_dim_at_full_tail_rank_reproduces_the_table_with_the_most_seen_ids_in_the_head():
    embedding = _table(40, 6)
    counts = np.random.default_rng(1).integers(0, 100, size=40)
    layer = MixedDimEmbedding.from_embedding(embedding, counts, head=10, tail_dim=6)
    np.testing.assert_allclose(_lookup(layer, 40), embedding.embeddings.numpy(), atol=1e-5)
    position = layer.position.numpy()
    head_ids = np.flatnonzero(position < 10)
    assert counts[head_ids].min() >= np.delete(counts, head_ids).max()


def test_mixed_dim_narrow_tail_keeps_head_rows_exact_and_approximates_the_rest():
    embedding = _table(40, 8)
    counts = np.arange(40)[::-1]  # id 0 most seen
    layer = MixedDimEmbedding.from_embedding(embedding, counts, head=10, tail_dim=2)
    out, table = _lookup(layer, 40), embedding.embeddings.numpy()
    np.testing.assert_allclose(out[:10], table[:10], atol=1e-5)
    assert 0 < np.linalg.norm(out[10:] - table[10:]) < np.linalg.norm(table[10:])


def test_qr_rows_are_a_unique_pair_and_the_fit_recovers_an_exact_product():
    rng = np.random.default_rng(0)
    m, rows = 8, 60
    quotient = rng.uniform(0.5, 2.0, size=(-(-rows // m), 4))
    remainder = rng.normal(size=(m, 4))
    ids = np.arange(rows)
    embedding = _table(rows, 4)
    embedding.set_weights([(quotient[ids // m] * remainder[ids % m]).astype(np.float32)])
    layer = QREmbedding.from_embedding(embedding, m)
    np.testing.assert_allclose(_lookup(layer, rows), embedding.embeddings.numpy(), atol=1e-3)
    assert len({(i // m, i % m) for i in ids}) == rows


def test_int4_table_is_its_codes_times_row_scales_within_half_a_step():
    embedding = _table(50, 8)
    layer = PackedInt4Embedding.from_embedding(embedding)
    table = embedding.embeddings.numpy()
    codes, scale = quantize_rows(table)
    np.testing.assert_allclose(_lookup(layer, 50), codes * scale, atol=1e-6)
    np.testing.assert_allclose(layer.table(), codes * scale, atol=1e-6)
    clipped = np.clip(table, -8 * scale, 7 * scale)
    assert np.all(np.abs(codes * scale - clipped) <= scale / 2 + 1e-6)
    assert byte_codes().shape == (256, 2) and byte_codes().min() == -8 and byte_codes().max() == 7


def _int8(model, task, path):
    path.write_bytes(tflite.convert(model, "int8", representative.dataset(task.representative_rows(200))))
    rows = task.ranking_eval()
    return parity.compare(train.predict_logits(model, rows), parity.tflite_logits(path, rows), 10)


@pytest.mark.parametrize("name", ["mixed_dim", "qr_embeddings", "int4_tables"])
def test_each_table_step_makes_the_int8_file_smaller_and_tracks_its_keras_model(name, wide_student, tiny_task,
                                                                                  tmp_path):
    step = compress.get(name)
    params = step.resolve({"head_coverage": 0.3, "tail_dim": 0.125} if name == "mixed_dim" else {})
    ctx = compress.StepContext(1, 0, id_counts=tiny_task.id_counts)
    final = step.finalize(step.apply(wide_student, params, ctx), params)
    facts = step.describe(final)
    compressed = _int8(final, tiny_task, tmp_path / "compressed.tflite")
    _int8(wide_student, tiny_task, tmp_path / "plain.tflite")
    replaced = [n for n, f in facts["tables"].items() if "kept" not in f]
    assert {"embedding_user_id", "embedding_item_id"} <= set(replaced)
    assert facts["int8_bytes_saved"] > 0
    # constant bytes: at this size a file is mostly its graph, which each table's extra ops enlarge
    plain, small = (sum(inspect(tmp_path / f"{n}.tflite").bytes_by_kind.values()) for n in ("plain", "compressed"))
    assert small < plain - facts["int8_bytes_saved"] // 2
    assert inspect(tmp_path / "compressed.tflite").all_int8
    assert compressed["mean_abs_logit_diff"] < 0.1
    assert compressed["top10_overlap"] > 0.7


@pytest.mark.parametrize("name", ["mixed_dim", "qr_embeddings", "int4_tables"])
def test_each_table_step_goes_through_qat_to_an_all_int8_file(name, wide_student, tiny_task, tmp_path):
    ctx = compress.StepContext(1, 1, id_counts=tiny_task.id_counts)
    model = wide_student
    for step_name in (name, "qat"):
        step = compress.get(step_name)
        params = step.resolve({})
        model = step.apply(model, params, ctx)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.BinaryCrossentropy(from_logits=True))
        model.fit(*tiny_task.train_epoch(0), batch_size=64, epochs=1, verbose=0)
        model = step.finalize(model, params)
        ctx = compress.StepContext(1, 1, (name,), id_counts=tiny_task.id_counts)
    result = _int8(model, tiny_task, tmp_path / "chain.tflite")
    assert inspect(tmp_path / "chain.tflite").all_int8
    assert result["mean_abs_logit_diff"] < 0.1
    assert result["top10_overlap"] > 0.7


def test_mixed_dim_names_the_feature_it_has_no_counts_for(wide_student):
    step = compress.get("mixed_dim")
    with pytest.raises(StepError, match="no training counts for 'user_id'"):
        step.apply(wide_student, step.resolve({}), compress.StepContext(1, 0))


def test_a_table_the_two_blocks_would_not_shrink_is_kept_whole(tiny_student, tiny_task):
    step = compress.get("mixed_dim")  # 4-wide tables: each id's int32 position costs as much as its row
    model = step.apply(tiny_student, step.resolve({}), compress.StepContext(1, 0, id_counts=tiny_task.id_counts))
    assert model is tiny_student
    assert all("kept" in f for f in step.describe(model)["tables"].values())


@pytest.mark.parametrize("rank", [4, 3])
def test_int4_packs_a_factorised_table_and_keeps_its_projection(rank):
    from edgerec.models.layers import FactorizedEmbedding

    factored = FactorizedEmbedding.from_embedding(_table(40, 8), rank)
    layer = PackedInt4Embedding.from_embedding(factored)
    codes, scale = quantize_rows(np.pad(factored.embeddings.numpy(), ((0, 0), (0, rank % 2))))
    projection = np.pad(factored.projection.numpy(), ((0, rank % 2), (0, 0)))
    np.testing.assert_allclose(_lookup(layer, 40), (codes * scale) @ projection, atol=1e-5)
    assert layer.width == rank + rank % 2 and layer.projection.trainable


def test_int4_after_factorize_goes_to_an_all_int8_file(wide_student, tiny_task, tmp_path):
    ctx = compress.StepContext(1, 0, id_counts=tiny_task.id_counts)
    model = wide_student
    for name, given in (("factorize_embeddings", {"rank": 8}), ("int4_tables", {})):
        step = compress.get(name)
        params = step.resolve(given)
        model = step.finalize(step.apply(model, params, ctx), params)
    assert isinstance(model.get_layer("embedding_user_id"), PackedInt4Embedding)
    assert step.describe(model)["tables"]["embedding_user_id"]["int8_bytes_before"] == 41 * 8
    result = _int8(model, tiny_task, tmp_path / "packed.tflite")
    assert inspect(tmp_path / "packed.tflite").all_int8
    assert result["mean_abs_logit_diff"] < 0.1
