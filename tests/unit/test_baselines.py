"""Baselines: popularity and logistic regression against a direct computation, the factorisations
deterministic, better than popularity where the data has structure, and never fitted on held-out rows."""

import math
import warnings
from collections import Counter

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.preprocessing import OneHotEncoder

from edgerec import baselines
from edgerec.data import criteo
from edgerec.data.schema import Interactions
from edgerec.data.task import CtrTask, RankingTask
from edgerec.recipe import DataConfig
from tests.utils import tiny_interactions, write_criteo

RANKING = DataConfig(negatives_per_positive=2, eval_candidates=20)
FACTORISATIONS = (baselines.ALS.name, baselines.BPR.name)


def _blocks(users: int = 60, items: int = 60, per_user: int = 15, seed: int = 0) -> Interactions:
    """Two groups of users, each interacting only with its own half of the items, all about equally popular."""
    rng = np.random.default_rng(seed)
    half = items // 2
    user, item = [], []
    for u in range(users):
        own = np.arange(half) + (half if u % 2 else 0)
        user += [u] * per_user
        item += list(rng.choice(own, size=per_user, replace=False))
    return Interactions(
        user=np.asarray(user, np.int32),
        item=np.asarray(item, np.int32),
        timestamp=np.arange(len(user), dtype=np.int64),
        user_features={},
        item_features={},
        vocabularies={"user_id": [str(u) for u in range(users)], "item_id": [str(i) for i in range(items)]},
        source="blocks",
    )


def _expected_ranking(scores: np.ndarray, k: int = 10) -> tuple[float, float]:
    """HR@k and NDCG@k from the definition: the positive (column 0) takes each rank its ties allow, equally likely."""
    hr, ndcg = [], []
    for row in scores:
        above, tied = int((row[1:] > row[0]).sum()), int((row[1:] == row[0]).sum())
        ranks = range(above, above + tied + 1)
        hr.append(sum(r < k for r in ranks) / len(ranks))
        ndcg.append(sum(1 / math.log2(r + 2) for r in ranks if r < k) / len(ranks))
    return float(np.mean(hr)), float(np.mean(ndcg))


@pytest.fixture(scope="module")
def ctr_task(tmp_path_factory):
    path = tmp_path_factory.mktemp("criteo") / "day.tsv"
    write_criteo(path, rows=3000)
    return criteo.load(path, min_count=5)


def test_popularity_matches_a_direct_count():
    # setup: counts from the training pairs, one by one
    task = RankingTask(tiny_interactions(), RANKING, seed=0)
    counts = Counter(task.train_item.tolist())
    # execute
    name, metrics = baselines.compute(task, seed=0)[0]
    # assert
    candidates = np.vectorize(lambda i: counts[i])(task.candidates).astype(float)
    pointwise = np.vectorize(lambda i: counts[i])(task.pointwise_items).astype(float)
    hr, ndcg = _expected_ranking(candidates)
    assert name == "popularity (baseline)" and metrics["logloss"] is None
    assert metrics["auc"] == pytest.approx(roc_auc_score(task.pointwise_labels, pointwise), abs=1e-6)
    assert metrics["hr@10"] == pytest.approx(hr, abs=1e-6) and metrics["ndcg@10"] == pytest.approx(ndcg, abs=1e-6)


def test_popularity_over_the_whole_catalogue_matches_a_direct_count():
    # setup: each held-out item's rank among the items its user never had, by training count (ties: expected rank)
    task = RankingTask(tiny_interactions(), RANKING, seed=0)
    counts = Counter(task.train_item.tolist())
    hits = []
    for user, target in zip(task.holdout_user, task.holdout_item):
        had = set(task.data.item[task.data.user == user].tolist())
        others = [counts[i] for i in range(1, task.data.num_items) if i not in had]
        above, ties = sum(c > counts[target] for c in others), sum(c == counts[target] for c in others)
        hits.append(min(max(10 - above, 0), ties + 1) / (ties + 1))
    # execute
    _, metrics = baselines.compute(task, seed=0)[0]
    # assert
    assert metrics["full_recall@10"] == pytest.approx(np.mean(hits), abs=1e-6)
    assert set(metrics) > {"full_recall@10", "full_ndcg@10", "full_recall@100"}


@pytest.mark.parametrize("validation", [False, True])
def test_logistic_regression_matches_sklearn_on_the_same_one_hot_features(ctr_task, validation):
    # setup: the same fit done directly; with a validation split, C walks up the grid while the
    # validation AUC improves and the last improving C is chosen
    task = CtrTask(ctr_task, DataConfig(time_quantile=0.8), seed=0, validation=validation)
    names = task.input_names
    stack = lambda rows: np.stack([rows[n] for n in names], axis=1)  # noqa: E731
    encoder = OneHotEncoder(handle_unknown="ignore").fit(stack(task.rows(task.train_idx)))
    fit = lambda c: LogisticRegression(C=c, max_iter=1000).fit(  # noqa: E731
        encoder.transform(stack(task.rows(task.train_idx))), task.data.labels[task.train_idx]
    )
    if validation:
        x_val = encoder.transform(stack(task.validation.pointwise))
        chosen, best = None, -np.inf
        for c in (0.001, 0.01, 0.1, 1.0, 10.0):
            auc = roc_auc_score(task.validation.labels, fit(c).decision_function(x_val))
            if auc <= best:
                break
            chosen, best = c, auc
    else:
        chosen = 1.0
    features, labels = task.pointwise_eval()
    probabilities = fit(chosen).predict_proba(encoder.transform(stack(features)))[:, 1]
    # execute
    results = baselines.compute(task, seed=0)
    # assert
    assert [name for name, _ in results] == ["click-rate prior (baseline)", "logistic regression (baseline)"]
    prior, logistic = (metrics for _, metrics in results)
    assert prior["logloss"] == pytest.approx(log_loss(labels, np.full(len(labels), task.train_click_rate)), abs=1e-6)
    assert logistic["auc"] == pytest.approx(roc_auc_score(labels, probabilities), abs=1e-6)
    assert logistic["logloss"] == pytest.approx(log_loss(labels, probabilities), abs=1e-6)
    assert logistic["auc"] > 0.6 > prior["auc"]  # the click signal of write_criteo is learnt


@pytest.mark.parametrize("validation", [False, True])
def test_factorisations_are_finite_and_deterministic(validation):
    # setup: implicit would warn about OpenBLAS threads at its first model unless BLAS is limited
    import implicit.utils

    task = RankingTask(tiny_interactions(), RANKING, seed=0, validation=validation)
    implicit.utils._checked_blas_config = False  # the check runs once per process
    # execute
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        first, second = baselines.compute(task, seed=3), baselines.compute(task, seed=3)
    # assert
    assert first == second
    assert [name for name, _ in first] == ["popularity (baseline)", *FACTORISATIONS]
    for _, metrics in first[1:]:
        assert metrics["logloss"] is None
        assert all(np.isfinite(metrics[key]) for key in ("auc", "hr@10", "ndcg@10"))


@pytest.mark.parametrize("validation", [False, True])
def test_factorisations_beat_popularity_on_block_structure(validation):
    # setup: popularity cannot tell the blocks apart; a factorisation can
    task = RankingTask(_blocks(), RANKING, seed=0, validation=validation)
    # execute
    results = dict(baselines.compute(task, seed=0))
    # assert
    popularity = results["popularity (baseline)"]["ndcg@10"]
    for name in FACTORISATIONS:
        assert results[name]["ndcg@10"] > popularity + 0.1, (name, results[name], popularity)
    assert baselines.strongest(list(results.items()), "ndcg@10")[0] in FACTORISATIONS


def test_the_user_item_matrix_holds_training_positives_only():
    # setup: every interaction minus the held-out and the validation ones, pair by pair
    task = RankingTask(tiny_interactions(), RANKING, seed=0, validation=True)
    data = task.data
    removed = Counter(zip(task.holdout_user.tolist(), task.holdout_item.tolist()))
    val_users, val_items = baselines.candidate_ids(task.validation)
    removed.update(zip(val_users[:, 0].tolist(), val_items[:, 0].tolist()))  # the positive is first
    expected = Counter(zip(data.user.tolist(), data.item.tolist())) - removed
    # execute
    matrix = baselines.user_items(task)
    # assert
    assert sum(removed.values()) == task.held_out + len(val_users)
    dense = matrix.toarray()
    assert {tuple(p) for p in np.argwhere(dense)} == set(expected)
    assert (matrix.data == 1).all()
    assert not dense[task.holdout_user, task.holdout_item].any()
    assert not dense[val_users[:, 0], val_items[:, 0]].any()


def test_ids_never_seen_in_training_score_lowest():
    # setup: item 2 and user 1 have no training interaction
    factors = baselines.Factors(user=np.array([[1.0], [0.0]]), item=np.array([[1.0], [-5.0], [3.0]]))
    seen = (np.array([True, False]), np.array([True, True, False]))
    # execute
    scores = baselines.pair_scores(factors, np.array([[0, 0, 0], [1, 1, 1]]), np.array([[0, 1, 2]] * 2), seen)
    # assert
    np.testing.assert_array_equal(scores, [[1.0, -5.0, -6.0], [-6.0, -6.0, -6.0]])


def test_strongest_skips_missing_metrics_and_knows_lower_is_better():
    results = [
        ("popularity (baseline)", {"auc": 0.7, "logloss": None, "ndcg@10": 0.30}),
        ("ALS (implicit, baseline)", {"auc": 0.8, "logloss": None, "ndcg@10": 0.40}),
        ("logistic regression (baseline)", {"auc": 0.6, "logloss": 0.45}),
        ("click-rate prior (baseline)", {"auc": 0.5, "logloss": 0.50}),
    ]
    assert baselines.strongest(results, "ndcg@10") == ("ALS (implicit, baseline)", 0.40)
    assert baselines.strongest(results, "logloss") == ("logistic regression (baseline)", 0.45)
    with pytest.raises(ValueError, match="no baseline has metric 'hr@10'"):
        baselines.strongest(results, "hr@10")
