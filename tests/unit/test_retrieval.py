"""The retrieval artifact: a two-tower model with `recommend` and `score`, and its full-catalogue metrics."""

from __future__ import annotations

import numpy as np
import pytest

from converters import inspect, retrieval
from device_bench import evalset, metrics, runtime
from device_bench import retrieval as device_retrieval
from edgerec import train
from edgerec.models.zoo import build_ranker
from edgerec.recipe import ModelConfig, TrainConfig

K = 5


@pytest.fixture(scope="module")
def two_tower(tiny_task):
    config = TrainConfig(max_epochs=1, batch_size=64, learning_rate=0.01)
    model = build_ranker(tiny_task.features, ModelConfig(4, (8,), architecture="two_tower"), "retrieval", seed=0)
    train.compile_ranker(model, config)
    train.fit(model, tiny_task, config, 1, "two_tower", log=lambda _: None)
    return model


def _convert(model, task, mode, tmp_path):
    users = task.user_rows(np.unique(task.train_user))
    data, info = retrieval.convert(model, task.catalogue_rows(), task.user_inputs(), K, mode, users)
    path = tmp_path / f"retrieval_{mode}.tflite"
    path.write_bytes(data)
    interpreter, _ = runtime.load(path)
    return data, info, interpreter


def _users(task, count=6):
    return task.user_rows(np.unique(task.holdout_user)[:count])


@pytest.mark.parametrize("mode", retrieval.MODES)
def test_recommend_is_the_top_k_of_score_over_the_catalogue(two_tower, tiny_task, tmp_path, mode):
    # setup
    _, info, interpreter = _convert(two_tower, tiny_task, mode, tmp_path)
    users = _users(tiny_task)
    catalogue = np.tile(np.arange(info.num_items, dtype=np.int32), (6, 1))
    # execute
    recommended = interpreter.get_signature_runner("recommend")(**users)
    scored = interpreter.get_signature_runner("score")(**users, candidates=catalogue)["scores"]
    # assert: the signatures are the recorded ones; K items, best first, never the OOV item, scored as `score` does
    assert interpreter.get_signature_list() == info.signatures()
    items, scores = recommended["items"], recommended["scores"]
    assert items.shape == (6, K) and items.min() >= 1 and (np.diff(scores, axis=1) <= 0).all()
    np.testing.assert_array_equal(np.take_along_axis(scored, items, axis=1), scores)
    best = np.sort(scored[:, 1:], axis=1)[:, ::-1][:, :K]
    np.testing.assert_array_equal(scores, best)


def test_fp32_scores_equal_the_keras_model(two_tower, tiny_task, tmp_path):
    # setup: every user's first 10 candidate items as rows of the Keras model
    _, _, interpreter = _convert(two_tower, tiny_task, "fp32", tmp_path)
    rows = {name: values[:60] for name, values in tiny_task.ranking_eval().items()}
    users = {name: rows[name][::10] for name in tiny_task.user_inputs()}
    # execute
    scored = interpreter.get_signature_runner("score")(**users, candidates=rows["item_id"].reshape(6, 10))["scores"]
    # assert
    np.testing.assert_allclose(scored.reshape(-1), train.predict_logits(two_tower, rows), atol=1e-5)


def test_int8_is_full_integer_with_topk_in_the_graph(two_tower, tiny_task, tmp_path):
    # setup / execute
    data, _, _ = _convert(two_tower, tiny_task, "int8", tmp_path)
    found = inspect.inspect_bytes(data, "retrieval")
    # assert: the recommend graph ranks int8 scores; only the outputs' DEQUANTIZE produces float
    dtypes = {op["op"]: op["output_dtype"] for op in found.operators}
    assert dtypes["TOPK_V2"] == "INT8" and dtypes["FULLY_CONNECTED"] == "INT8"
    assert {op["op"] for op in found.operators if op["output_dtype"] == "FLOAT32"} == {"DEQUANTIZE"}
    assert retrieval.float_ops(data) == ["DEQUANTIZE"]  # in the score signature's subgraph too


def test_int8_keeps_the_keras_ranking(two_tower, tiny_task, tmp_path):
    _, _, interpreter = _convert(two_tower, tiny_task, "int8", tmp_path)
    vectors, bias = retrieval.item_matrix(two_tower, tiny_task.catalogue_rows())
    users = _users(tiny_task)
    keras_scores = retrieval.towers(two_tower, tiny_task.user_inputs()).predict(users, verbose=0) @ vectors.T + bias
    items = interpreter.get_signature_runner("recommend")(**users)["items"]
    keras_top = np.argsort(-keras_scores[:, 1:], axis=1)[:, :K] + 1
    overlap = np.mean([len(np.intersect1d(a, b)) / K for a, b in zip(items, keras_top)])
    assert overlap >= 0.8


def test_bad_settings_are_refused(two_tower, tiny_task):
    rows, users = tiny_task.catalogue_rows(), tiny_task.user_inputs()
    with pytest.raises(ValueError, match=r"top_k must be in \[1, 30\]"):
        retrieval.convert(two_tower, rows, users, 31, "fp32")
    with pytest.raises(ValueError, match="needs calibration rows"):
        retrieval.convert(two_tower, rows, users, K, "int8")
    with pytest.raises(ValueError, match="mode must be one of fp32, int8"):
        retrieval.convert(two_tower, rows, users, K, "fp16")


def test_keras_catalogue_metrics_match_a_brute_force_count(two_tower, tiny_task):
    # setup: every held-out row's score against every item, in numpy
    part = evalset.retrieval_part(tiny_task.retrieval_eval(), "tiny")
    vectors, bias = retrieval.item_matrix(two_tower, tiny_task.catalogue_rows())
    scores = retrieval.towers(two_tower, tiny_task.user_inputs()).predict(part.users, verbose=0) @ vectors.T + bias
    # execute
    got, top = device_retrieval.catalogue_metrics(lambda rows: scores[rows], part)
    # assert: rank = items the user never had that score above the target; top-N excludes what the user had
    hits = ndcg = 0.0
    for row, user in enumerate(tiny_task.holdout_user):
        seen = set(tiny_task.data.item[tiny_task.data.user == user]) - {part.targets[row]}
        others = [s for i, s in enumerate(scores[row]) if i != 0 and i not in seen and i != part.targets[row]]
        rank = sum(s > scores[row, part.targets[row]] for s in others)
        hits += rank < 10
        ndcg += 1 / np.log2(rank + 2) if rank < 10 else 0.0
        listed = top[row][top[row] != device_retrieval.NO_ITEM]
        assert not (set(listed) & (seen | {0})) and len(listed) == len(others) + 1  # every eligible item and the target
    n = len(tiny_task.holdout_user)
    assert got["full_recall@10"] == pytest.approx(hits / n, abs=1e-6)
    assert got["full_ndcg@10"] == pytest.approx(ndcg / n, abs=1e-6)
    assert top.shape == (n, min(metrics.TWO_STAGE_DEPTH, tiny_task.data.num_items - 1))
