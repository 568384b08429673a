"""Baselines a model must beat, scored on exactly the held-out rows and candidates the models are.

Ranking tasks (implicit feedback):
- popularity (`no_model`): an item's score is its training count;
- ALS (Hu, Koren & Volinsky, "Collaborative Filtering for Implicit Feedback Datasets", ICDM 2008)
  and BPR (Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI 2009),
  the `implicit` package's matrix factorisations, fitted on the binary user x item matrix of the
  task's training positives (`task.train_user`, `task.train_item`: with a validation split carved,
  without its positives; never a held-out one). A (user, item) pair scores the dot product of
  their factors; an item or user with no training interaction scores below every other pair, as
  the factorisation knows nothing of it. The scores are not probabilities: no LogLoss.
  Each is also scored over the whole catalogue (`full_*` metrics, the retrieval artifact's
  protocol: `device_bench.retrieval.catalogue_metrics`), the bar a retrieval model must clear.
CTR tasks (labelled rows):
- the click-rate prior (`no_model`);
- logistic regression (scikit-learn) on one-hot encodings of the categorical feature indices the
  models see, fitted on the training rows; it gives AUC and LogLoss like a model.

A baseline tuned on nothing is a straw man, so each learner has a small grid, and when the task
carries a validation split (`task.validation`) the grid point with the best validation metric
(NDCG@10 for ranking, AUC for CTR; the first in grid order on a tie) is the one reported; a
factorisation's length is chosen on it too (early stopping, see `_fit_factorisation`), and
logistic regression's C grid stops at its validation peak (see `LOGISTIC`). Without
one, the documented defaults are. The held-out set never takes part in a choice, and the chosen
model is the one fitted on the training rows (nothing is refitted on training + validation).

Deterministic for a task and seed: every fit is seeded from `seed`, `implicit` runs on one thread
(BPR's multi-threaded SGD is Hogwild, whose updates race) with BLAS limited to one thread, which
is also what `implicit` asks for (it warns that a BLAS thread pool slows its solvers down).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.sparse
from implicit.als import AlternatingLeastSquares
from implicit.bpr import BayesianPersonalizedRanking
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder
from threadpoolctl import threadpool_limits

from device_bench import evalset, metrics, retrieval
from edgerec import train
from edgerec.data.task import CtrTask, EvalData, RankingTask

Log = Callable[[str], None]
Metrics = dict[str, float | None]
SCORE_CHUNK = 1 << 18  # (user, item) pairs scored per einsum, so no (pairs x factors) copy is huge


@dataclass(frozen=True)
class Learner:
    """One baseline learner: its stage name, how to build it, the default and the validation grid.

    `fixed` holds the settings never tuned; `grid` maps each tuned setting to its candidates, and
    `default` (one point of the grid) is used when the task has no validation split.
    A factorisation trains in rounds of `round_iterations(positives, items)` iterations: at most
    `rounds` with validation (early stopping, see `_fit_factorisation`), `default_rounds` without.
    """

    name: str
    make: Callable[..., Any]
    fixed: dict[str, Any]
    default: dict[str, Any]
    grid: dict[str, tuple]
    round_iterations: Callable[[int, int], int] | None = None
    rounds: int = 0
    default_rounds: int = 0

    def candidates(self, validation: bool) -> list[dict[str, Any]]:
        if not validation:
            return [self.default]
        return [dict(zip(self.grid, values)) for values in itertools.product(*self.grid.values())]


# Measured on the default synthetic preset (validation NDCG@10 after 10 iterations): ALS at factors
# 32 reached 0.501 with regularization 10, 0.498 with 1 (0.1 is the same), 0.391 with 100, and 0.462
# at factors 128 (at twice factors 64's cost, hence not in the grid); 5 more iterations moved it by
# < 0.005. BPR (~0.5 s an iteration there) peaked at learning rate 0.01, lower at 0.02 or 0.05 and
# without verified negatives, after about 4,000 updates per item on both presets (15 iterations of
# the default's 1M positives, 100 of smoke's 7,500), then declined: its rounds count updates per item.
BPR_ROUND_UPDATES_PER_ITEM = 800
ALS = Learner(
    "ALS (implicit, baseline)",
    AlternatingLeastSquares,
    fixed={"alpha": 1.0},
    default={"factors": 32, "regularization": 10.0},  # the validation winner on both presets
    grid={"factors": (32, 64), "regularization": (1.0, 10.0)},
    round_iterations=lambda positives, items: 5,
    rounds=2,
    default_rounds=2,
)
BPR = Learner(
    "BPR (implicit, baseline)",
    BayesianPersonalizedRanking,
    fixed={"learning_rate": 0.01, "regularization": 0.01},
    default={"factors": 64},
    grid={"factors": (64,)},  # only its length is chosen on validation: the slowest baseline
    round_iterations=lambda positives, items: max(1, math.ceil(BPR_ROUND_UPDATES_PER_ITEM * items / positives)),
    rounds=10,
    default_rounds=5,
)
# The C grid is walked from the strongest regularisation up and stops at the first C whose
# validation AUC is below the best so far: fits slow down as C grows (on the criteo1m preset,
# 40 s at C 0.01, 92 s at 0.1, 216 s at 1 and 240 s at 10, the best being 0.01), and validation
# AUC over C rises to one peak and falls (checked on criteo8k and criteo1m).
LOGISTIC = Learner(
    "logistic regression (baseline)",
    LogisticRegression,
    fixed={"max_iter": 1000},
    default={"C": 1.0},
    grid={"C": (0.001, 0.01, 0.1, 1.0, 10.0)},
)
PATIENCE = 2  # rounds without a better validation NDCG@10 before a fit stops (the best round is kept)


@dataclass(frozen=True)
class Factors:
    """A fitted factorisation: a pair's score is user[u] . item[i] (BPR's item bias rides in a column)."""

    user: np.ndarray
    item: np.ndarray


def compute(task: RankingTask | CtrTask, seed: int, log: Log | None = None) -> list[tuple[str, Metrics]]:
    """Every baseline of the task as (stage name, held-out metrics), the no-model one first.

    `log` gets one line per learner: the setting chosen, its validation metric when the task has
    a validation split, and the seconds the learner took.
    """
    log = log or (lambda line: None)
    results = [no_model(task)]
    if task.num_candidates:
        part = evalset.retrieval_part(task.retrieval_eval(), "the held-out data")
        counts = task.train_item_counts().astype(np.float64)
        results[0][1].update(retrieval.catalogue_metrics(lambda rows: np.tile(counts, (len(rows), 1)), part)[0])
        matrix = user_items(task)
        for learner in (ALS, BPR):
            results.append((learner.name, _factorisation_metrics(learner, task, matrix, seed, log, part)))
    else:
        results.append((LOGISTIC.name, _logistic_metrics(task, log)))
    return results


def no_model(task: RankingTask | CtrTask) -> tuple[str, dict[str, float | None]]:
    """The no-model baseline of the task, as (stage name, metrics)."""
    if task.num_candidates:
        return "popularity (baseline)", popularity_metrics(task)
    return "click-rate prior (baseline)", prior_metrics(task)


def popularity_metrics(task: RankingTask) -> dict[str, float | None]:
    """The most-popular-item baseline: score = training count. No LogLoss (not a probability)."""
    counts = task.train_item_counts().astype(np.float64)
    _, labels = task.pointwise_eval()
    return metrics.measure(labels, counts[task.pointwise_items], None, counts[task.candidates])


def prior_metrics(task: CtrTask) -> dict[str, float]:
    """Every held-out row scored with the training click rate: AUC 0.5 (all ties), LogLoss of the prior.

    The LogLoss a model must beat to have learnt anything from the features.
    """
    _, labels = task.pointwise_eval()
    prior = np.full(len(labels), task.train_click_rate)
    return metrics.measure(labels, prior, prior, None)


def strongest(baselines: list[tuple[str, Metrics]], metric: str) -> tuple[str, float]:
    """The baseline best on `metric` (lowest for LogLoss, highest otherwise), as (name, value).

    Baselines without the metric (None, e.g. popularity's LogLoss) are skipped; the first wins a tie.
    """
    scored = [(name, values[metric]) for name, values in baselines if values.get(metric) is not None]
    if not scored:
        raise ValueError(f"no baseline has metric {metric!r}; baselines: {[name for name, _ in baselines]}")
    sign = 1.0 if metrics.get(metric).higher_is_better else -1.0
    return max(scored, key=lambda pair: sign * pair[1])


def user_items(task: RankingTask) -> scipy.sparse.csr_matrix:
    """The binary (users x items) matrix of the training positives, in the task's id space.

    Built from `task.train_user` / `task.train_item` only, which exclude the held-out positives
    and, once a validation split is carved, its positives too. A repeated (user, item) is one 1.
    """
    shape = (task.data.num_users, task.data.num_items)
    ones = np.ones(len(task.train_user), dtype=np.float32)
    matrix = scipy.sparse.csr_matrix((ones, (task.train_user, task.train_item)), shape=shape)
    matrix.data[:] = 1.0  # the constructor sums duplicates
    return matrix


def _factorisation_metrics(
    learner: Learner, task: RankingTask, matrix: scipy.sparse.csr_matrix, seed: int, log: Log,
    part: evalset.RetrievalSet,
) -> Metrics:
    start = time.perf_counter()
    seen = (np.diff(matrix.indptr) > 0, np.bincount(matrix.indices, minlength=matrix.shape[1]) > 0)
    validate = None
    if task.validation is not None:
        users, items = candidate_ids(task.validation)
        validate = lambda factors: metrics.ranking_metrics(pair_scores(factors, users, items, seen), k=10)["ndcg@10"]  # noqa: E731, E501
    per_round = learner.round_iterations(matrix.nnz, int(seen[1].sum()))
    best = None
    for setting in learner.candidates(validate is not None):
        factors, iterations, value = _fit_factorisation(learner, setting, matrix, per_round, seed, validate)
        if best is None or value > best[3]:
            best = (setting, factors, iterations, value)
    setting, factors, iterations, value = best
    chosen = "default" if value is None else f"validation NDCG@10 {value:.4f}"
    log(f"  {learner.name}: {setting}, {iterations} iterations ({chosen}; {time.perf_counter() - start:.1f}s)")
    pointwise = pair_scores(factors, task.pointwise_users, task.pointwise_items, seen)
    users = np.broadcast_to(task.holdout_user[:, None], task.candidates.shape)
    result = metrics.measure(task.pointwise_labels, pointwise, None, pair_scores(factors, users, task.candidates, seen))
    catalogue = np.arange(task.data.num_items)
    result.update(retrieval.catalogue_metrics(lambda rows: pair_scores(
        factors, np.broadcast_to(task.holdout_user[rows, None], (len(rows), len(catalogue))),
        np.broadcast_to(catalogue, (len(rows), len(catalogue))), seen), part)[0])
    return result


def _fit_factorisation(
    learner: Learner,
    setting: dict[str, Any],
    matrix: scipy.sparse.csr_matrix,
    per_round: int,
    seed: int,
    validate: Callable[[Factors], float] | None,
) -> tuple[Factors, int, float | None]:
    """(factors, iterations, validation metric) of one setting, on the CPU, one thread, seeded the
    same for every setting.

    With `validate`, the fit goes on in rounds of `per_round` iterations up to `learner.rounds`,
    stops after PATIENCE rounds without a better validation metric, and returns the best round;
    without, it runs `learner.default_rounds` rounds at once (metric None).
    """
    rounds = learner.rounds if validate is not None else learner.default_rounds
    best: tuple[Factors, int, float | None] | None = None
    waited = 0
    with threadpool_limits(1, "blas"):
        model = learner.make(
            **learner.fixed, **setting, iterations=per_round if validate is not None else per_round * rounds,
            use_gpu=False, num_threads=1, random_state=np.random.default_rng([seed, 6]),
        )
        if validate is None:
            model.fit(matrix, show_progress=False)
            return Factors(model.user_factors, model.item_factors), per_round * rounds, None
        for done in range(1, rounds + 1):
            model.fit(matrix, show_progress=False)  # a later fit goes on from the current factors
            factors = Factors(model.user_factors.copy(), model.item_factors.copy())
            value = validate(factors)
            if best is None or value > best[2]:
                best, waited = (factors, done * per_round, value), 0
            else:
                waited += 1
                if waited == PATIENCE:
                    break
    return best


def candidate_ids(data: EvalData) -> tuple[np.ndarray, np.ndarray]:
    """(users, items) of an EvalData's candidate lists, each of shape (lists, candidates)."""
    shape = (-1, data.num_candidates)
    return data.ranking["user_id"].reshape(shape), data.ranking["item_id"].reshape(shape)


def pair_scores(
    factors: Factors, users: np.ndarray, items: np.ndarray, seen: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """user . item factors per pair (float64; `users` and `items` of one shape, kept).

    `seen` is (per user, per item) whether training has it; a pair with an unseen user or item
    scores one below every other pair, as the factorisation knows nothing of it."""
    shape = np.shape(items)
    users, items = np.asarray(users).reshape(-1), np.asarray(items).reshape(-1)
    scores = np.empty(len(users), dtype=np.float64)
    for start in range(0, len(users), SCORE_CHUNK):
        u, i = users[start:start + SCORE_CHUNK], items[start:start + SCORE_CHUNK]
        scores[start:start + SCORE_CHUNK] = np.einsum(
            "ij,ij->i", factors.user[u].astype(np.float64), factors.item[i].astype(np.float64)
        )
    unseen = ~(seen[0][users] & seen[1][items])
    if unseen.any():
        scores[unseen] = (0.0 if unseen.all() else scores[~unseen].min()) - 1.0
    return scores.reshape(shape)


def _logistic_metrics(task: CtrTask, log: Log) -> Metrics:
    start = time.perf_counter()
    names = task.input_names
    encoder = OneHotEncoder(handle_unknown="ignore")
    train_x = encoder.fit_transform(_stack(task.rows(task.train_idx), names))
    train_y = task.data.labels[task.train_idx]
    validation = task.validation
    if validation is not None:
        validation_x = encoder.transform(_stack(validation.pointwise, names))
    best, best_model, best_value = None, None, -np.inf
    for setting in LOGISTIC.candidates(validation is not None):
        model = LOGISTIC.make(**LOGISTIC.fixed, **setting).fit(train_x, train_y)
        if validation is None:
            best, best_model = setting, model
            break
        value = metrics.auc(validation.labels, model.decision_function(validation_x))
        if value <= best_value:
            break  # past the peak: every larger C fits longer and scores lower
        best, best_model, best_value = setting, model, value
    chosen = "default" if validation is None else f"validation AUC {best_value:.4f}"
    log(f"  {LOGISTIC.name}: {best} ({chosen}; {time.perf_counter() - start:.1f}s)")
    features, labels = task.pointwise_eval()
    x = encoder.transform(_stack(features, names))
    return metrics.measure(labels, best_model.decision_function(x), best_model.predict_proba(x)[:, 1], None)


def _stack(features: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    """(rows, features) category indices, columns in the models' input order."""
    return np.stack([features[name] for name in names], axis=1)
