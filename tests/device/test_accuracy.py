"""On-device accuracy equals the same metrics computed from Keras predictions."""

import pytest

from device_bench import accuracy, evalset, metrics, runtime


def test_interpreter_accuracy_matches_keras(bundle):
    # setup
    interpreter, _ = runtime.load(bundle.model, num_threads=1)
    eval_set = evalset.load(bundle.eval_path)

    # execute: batch 64 leaves a padded last batch for both parts (200 and 1000 rows)
    got = accuracy.evaluate(interpreter, eval_set, batch_size=64)

    # assert
    keras_ranking = metrics.ranking_metrics(bundle.keras_ranking_logits.reshape(-1, eval_set.num_candidates))
    want = {
        "auc": metrics.auc(eval_set.labels, bundle.keras_pointwise_logits),
        "logloss": metrics.logloss(eval_set.labels, metrics.sigmoid(bundle.keras_pointwise_logits)),
        "hr@10": keras_ranking["hr@10"],
        "ndcg@10": keras_ranking["ndcg@10"],
    }
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-4), key
    assert 0.7 < got["auc"] <= 1.0  # labels were drawn from the model's own logits


def test_predict_returns_one_logit_per_row(bundle):
    interpreter, _ = runtime.load(bundle.model, num_threads=1)
    eval_set = evalset.load(bundle.eval_path)

    logits = accuracy.predict(interpreter, eval_set.pointwise, batch_size=64)

    assert logits == pytest.approx(bundle.keras_pointwise_logits, abs=1e-5)
