"""device_bench.metrics against scikit-learn and against brute-force definitions."""

import math

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from device_bench import metrics


def _labels_and_scores(seed, n, distinct):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    labels[:2] = [0, 1]
    # `distinct` small -> heavy ties, like the logits of an int8 model.
    scores = rng.integers(0, distinct, size=n).astype(np.float32) / 7.0
    return labels, scores


@pytest.mark.parametrize("distinct", [2, 5, 50, 10**9])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_sklearn_with_and_without_ties(seed, distinct):
    # setup
    labels, scores = _labels_and_scores(seed, 1000, distinct)

    # execute
    got = metrics.auc(labels, scores)

    # assert
    assert got == pytest.approx(roc_auc_score(labels, scores), abs=1e-9)


def test_auc_hand_computed():
    # positive scores {3, 1}, negatives {1, 0}: wins 3>1, 3>0, 1>0 and the tie 1=1 counts half.
    assert metrics.auc([1, 1, 0, 0], [3.0, 1.0, 1.0, 0.0]) == pytest.approx(3.5 / 4)


def test_auc_one_class_raises():
    with pytest.raises(ValueError, match="only one class is present.*3 positives, 0 negatives"):
        metrics.auc([1, 1, 1], [0.1, 0.2, 0.3])


def test_auc_rejects_non_binary_labels():
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        metrics.auc([0, 2, 1], [0.1, 0.2, 0.3])


@pytest.mark.parametrize("seed", [0, 1])
def test_logloss_matches_sklearn(seed):
    # setup: probabilities away from 0/1 so the two clipping conventions agree
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=500)
    probs = rng.uniform(0.01, 0.99, size=500)

    # execute / assert
    assert metrics.logloss(labels, probs) == pytest.approx(log_loss(labels, probs), abs=1e-9)


def test_logloss_clips_certain_mistakes():
    # a confident wrong answer costs -log(eps), not infinity
    assert metrics.logloss([1, 0], [0.0, 1.0], eps=1e-7) == pytest.approx(-math.log(1e-7))


def test_sigmoid_is_stable_at_extremes():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = metrics.sigmoid(np.array([-1000.0, -1.0, 0.0, 1.0, 1000.0]))
    np.testing.assert_allclose(got, [0.0, 1 / (1 + math.e), 0.5, 1 / (1 + math.exp(-1)), 1.0])


def test_ranking_positive_strictly_best():
    scores = np.array([[5.0, 1.0, 2.0, 3.0], [0.5, 0.1, 0.2, 0.3]])
    assert metrics.ranking_metrics(scores, k=1) == {"hr@1": 1.0, "ndcg@1": 1.0, "mrr": 1.0}


def test_ranking_positive_tied_at_top_counts_half():
    # positive ties one negative at the top: rank 0 or 1 with probability 1/2 each
    got = metrics.ranking_metrics(np.array([[2.0, 2.0, 1.0, 0.0]]), k=1)
    assert got["hr@1"] == pytest.approx(0.5)
    assert got["ndcg@1"] == pytest.approx(0.5)
    assert got["mrr"] == pytest.approx((1 + 1 / 2) / 2)


def test_ranking_positive_outside_k():
    # two negatives above: rank 2; hr@2 = 0, mrr = 1/3
    got = metrics.ranking_metrics(np.array([[1.0, 3.0, 2.0, 0.0]]), k=2)
    assert got == {"hr@2": 0.0, "ndcg@2": 0.0, "mrr": pytest.approx(1 / 3)}


def _brute_force(scores, k):
    """Average every metric over each equally likely tie position of the positive."""
    hr, ndcg, mrr = [], [], []
    for row in scores:
        g = int((row[1:] > row[0]).sum())
        t = int((row[1:] == row[0]).sum())
        ranks = range(g, g + t + 1)
        hr.append(np.mean([r < k for r in ranks]))
        ndcg.append(np.mean([1 / math.log2(r + 2) if r < k else 0.0 for r in ranks]))
        mrr.append(np.mean([1 / (r + 1) for r in ranks]))
    return {f"hr@{k}": np.mean(hr), f"ndcg@{k}": np.mean(ndcg), "mrr": np.mean(mrr)}


@pytest.mark.parametrize("k", [1, 3, 10, 150])
@pytest.mark.parametrize("distinct", [3, 20, 10**9])
def test_ranking_matches_brute_force_with_ties(k, distinct):
    # setup
    rng = np.random.default_rng(k * 1000 + distinct % 997)
    scores = rng.integers(0, distinct, size=(200, 100)).astype(np.float64)

    # execute
    got = metrics.ranking_metrics(scores, k=k)

    # assert
    want = _brute_force(scores, k)
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-12), key


def test_ranking_rejects_bad_k_and_shape():
    with pytest.raises(ValueError, match="Received: k=0"):
        metrics.ranking_metrics(np.zeros((2, 3)), k=0)
    with pytest.raises(ValueError, match=r"Received shape: \(6,\)"):
        metrics.ranking_metrics(np.zeros(6))


def test_nan_scores_raise():
    with pytest.raises(ValueError, match="NaN"):
        metrics.ranking_metrics(np.array([[np.nan, 1.0]]))


# --- the metric table and score() ------------------------------------------------------------------

# One hand-computed case per metric of the table: (labels, pointwise logits, candidate scores) -> value.
# Candidates: user 0's positive (column 0) is top; user 1's has one negative above it (rank 1);
# user 2's has ten above it (rank 10, outside the top 10).
_LABELS = np.array([1, 1, 0, 0])
_LOGITS = np.array([3.0, 0.0, 0.0, -1.0])  # positives {3, 0}, negatives {0, -1}: 3 wins of 4 and one tie
_CANDIDATES = np.array([
    [5.0] + [0.0] * 10,
    [5.0, 6.0] + [0.0] * 9,
    [0.0] + [1.0] * 10,
])
HAND_COMPUTED = {
    "auc": 3.5 / 4,
    # sigmoid(3), sigmoid(0), sigmoid(0), sigmoid(-1): -(log s(3) + log 0.5 + log 0.5 + log(1 - s(-1))) / 4
    "logloss": (math.log1p(math.exp(-3)) + 2 * math.log(2) + math.log1p(math.exp(-1))) / 4,
    "hr@10": 2 / 3,
    "ndcg@10": (1 + 1 / math.log2(3) + 0) / 3,
}


def _inputs(metric):
    if metric.on == metrics.CANDIDATES:
        return (_CANDIDATES,)
    return (_LABELS, metrics.sigmoid(_LOGITS) if metric.on == metrics.PROBABILITIES else _LOGITS)


TASK_METRICS = [m for m in metrics.METRICS if m.fn is not None]


@pytest.mark.parametrize("metric", TASK_METRICS, ids=lambda m: m.key)
def test_each_metric_of_the_table_on_a_hand_computed_case(metric):
    # execute / assert: every row of the table has a hand-computed case, and its function gives it
    assert metric.fn(*_inputs(metric)) == pytest.approx(HAND_COMPUTED[metric.key], abs=1e-12)


def test_table_facts():
    assert metrics.keys() == tuple(HAND_COMPUTED)
    assert metrics.keys(ranking=False) == ("auc", "logloss")
    assert [m.label for m in TASK_METRICS] == ["AUC", "LogLoss", "HR@10", "NDCG@10"]
    assert [m.key for m in metrics.METRICS if not m.higher_is_better] == ["logloss"]
    assert [m.key for m in metrics.METRICS if m.fn is None] == [
        *metrics.retrieval_keys(metrics.CATALOGUE), *metrics.retrieval_keys(metrics.RERANKED)]
    assert [m.k for m in metrics.METRICS if m.ranking_only] == [10, 10]
    assert metrics.headline() == ("auc", "ndcg@10") and metrics.headline(("auc", "logloss")) == ("auc",)
    with pytest.raises(KeyError, match="unknown metric 'mrr'; metrics: auc, logloss, hr@10, ndcg@10, full_recall@10"):
        metrics.get("mrr")


def test_score_gives_every_metric_in_table_order_rounded():
    # execute
    got = metrics.score(_LABELS, _LOGITS, _CANDIDATES)
    # assert
    assert list(got) == list(metrics.keys())
    assert got == {k: round(v, metrics.DECIMALS) for k, v in HAND_COMPUTED.items()}


def test_score_without_candidates_has_no_ranking_keys_and_measure_without_probabilities_gives_none():
    assert metrics.score(_LABELS, _LOGITS) == {"auc": 0.875, "logloss": round(HAND_COMPUTED["logloss"], 6)}
    # a popularity baseline: counts are a ranking score, not a probability
    got = metrics.measure(_LABELS, _LOGITS, None, _CANDIDATES)
    assert got["logloss"] is None and got["auc"] == 0.875 and list(got) == list(metrics.keys())


def test_pareto_objectives_follow_the_table_directions():
    from edgerec.search import pareto

    # assert: costs are minimised; each metric goes the way its row says
    assert pareto.objectives(metrics.keys()) == (
        ("bytes", False), ("p50_us", False), *((m.key, m.higher_is_better) for m in TASK_METRICS))
    # a lower LogLoss dominates at equal cost; a higher AUC does
    trials = [{"bytes": 1, "p50_us": 1.0, "metrics": {"logloss": v}} for v in (0.5, 0.4)]
    assert pareto.trial_front(trials, ("logloss",)) == [False, True]
    trials = [{"bytes": 1, "p50_us": 1.0, "metrics": {"auc": v}} for v in (0.5, 0.4)]
    assert pareto.trial_front(trials, ("auc",)) == [True, False]


def test_retrieval_metrics_on_a_hand_computed_case():
    # setup: four held-out rows; targets at ranks 0, 5 and 20, and one tying with an item above 3 others
    above, ties = np.array([0, 5, 20, 3]), np.array([0, 0, 0, 1])
    found = np.array([True, True, True, False])  # the last row's target was not among the retrieved
    ndcg_rank5 = 1 / np.log2(7)
    # execute
    full = metrics.retrieval_metrics(above, ties, np.ones(4, bool), metrics.CATALOGUE)
    reranked = metrics.retrieval_metrics(above, ties, found, metrics.RERANKED)
    # assert: recall@10 counts ranks < 10; a tie between ranks 3 and 4 is worth the mean of both
    tie = (1 / np.log2(5) + 1 / np.log2(6)) / 2
    assert full == pytest.approx({"full_recall@10": 3 / 4, "full_ndcg@10": (1 + ndcg_rank5 + tie) / 4,
                                  "full_recall@100": 1.0}, abs=1e-6)
    assert reranked == pytest.approx({"two_stage_recall@10": 2 / 4, "two_stage_ndcg@10": (1 + ndcg_rank5) / 4},
                                     abs=1e-6)


def test_retrieval_metrics_refuse_an_unknown_kind_and_no_rows():
    with pytest.raises(ValueError, match="on must be 'catalogue' or 'reranked'"):
        metrics.retrieval_metrics(np.array([0]), np.array([0]), np.array([True]), "scores")
    with pytest.raises(ValueError, match="at least one held-out row"):
        metrics.retrieval_metrics(np.array([]), np.array([]), np.array([]), metrics.CATALOGUE)


def test_target_ranks_count_only_eligible_items():
    scores = np.array([[0.9, 0.5, 0.7, 0.5]])
    eligible = np.array([[False, True, True, True]])  # item 0 (seen) does not compete
    above, ties = metrics.target_ranks(scores, np.array([0.5]), eligible & (np.arange(4) != 1))
    assert above.tolist() == [1] and ties.tolist() == [1]
