"""The project's one implementation of its evaluation metrics, in pure numpy.

It lives in ``device_bench`` because the device has no TensorFlow and must
score ``.tflite`` outputs itself; ``edgerec`` imports it from here so that the
numbers reported for Keras models and for on-device artifacts come from the
same code.

``METRICS`` is the one table of metric facts (key, display label, direction,
function, what it is computed on); :func:`score` is the one way a metrics dict
is made, for Keras models, trials and ``.tflite`` files alike. Everything that
lists, labels or compares metrics reads the table.

Ties are treated without favour everywhere: AUC gives tied scores their
average rank (Mann-Whitney), and the ranking metrics report their expected
value under uniformly random tie-breaking. This matters for int8 models, whose
quantised logits tie often; breaking ties in the positive's favour would
inflate exactly the artifact one is trying to judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

__all__ = [
    "METRICS", "Metric", "auc", "get", "headline", "keys", "logloss", "measure", "ranking_metrics", "score",
    "sigmoid",
]


def _check_no_nan(name: str, values: np.ndarray) -> None:
    if np.isnan(values).any():
        raise ValueError(f"{name} contain NaN; a model producing NaN cannot be scored.")


def _binary_labels(labels: np.ndarray, n: int) -> np.ndarray:
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != n:
        raise ValueError(
            f"labels and scores must have the same length. Received: {labels.shape[0]} labels, {n} scores."
        )
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 or 1. Received values: " f"{np.unique(labels)[:10].tolist()}.")
    return labels.astype(bool)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` without overflow: ``exp`` only ever sees ``-|x|``."""
    x = np.asarray(logits, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve, with tied scores counted as half a win.

    Mann-Whitney form: with ``R+`` the sum of the (average, 1-based) ranks of
    the positives among all ``n = n+ + n-`` scores,
    ``AUC = (R+ - n+ (n+ + 1) / 2) / (n+ n-)``.

    Args:
      labels: shape (N,), values in {0, 1}.
      scores: shape (N,), any monotone score (logit or probability).

    Raises:
      ValueError: if only one class is present, or on NaN scores.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    _check_no_nan("scores", scores)
    positive = _binary_labels(labels, scores.shape[0])
    n_pos = int(positive.sum())
    n_neg = positive.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"AUC is undefined when only one class is present. Received: {n_pos} positives, {n_neg} negatives."
        )
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    # Group j occupies 1-based ranks start+1 .. start+count; its average is start + (count + 1) / 2.
    starts = np.cumsum(counts) - counts
    average_rank = starts + (counts + 1) / 2.0
    rank_sum = average_rank[inverse][positive].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def logloss(labels: np.ndarray, probs: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy, probabilities clipped to ``[eps, 1 - eps]``.

    ``-mean(y log p + (1 - y) log(1 - p))``. Labels may be soft (in [0, 1]),
    so the distillation code can use it against teacher probabilities.
    """
    probs = np.asarray(probs, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    if labels.shape != probs.shape:
        raise ValueError(
            "labels and probs must have the same length. "
            f"Received: {labels.shape[0]} labels, {probs.shape[0]} probs."
        )
    _check_no_nan("probs", probs)
    p = np.clip(probs, eps, 1.0 - eps)
    return float(-np.mean(labels * np.log(p) + (1.0 - labels) * np.log1p(-p)))


def ranking_metrics(scores: np.ndarray, k: int = 10) -> dict[str, float]:
    """HR@k, NDCG@k and MRR for the NCF protocol (He et al., 2017).

    Each row of ``scores`` (shape ``(n_users, n_candidates)``) scores one
    user's held-out positive in column 0 followed by sampled negatives.

    With ``g`` negatives scoring strictly higher than the positive and ``t``
    tying with it, random tie-breaking puts the positive's 0-based rank ``r``
    uniformly on ``g .. g + t``. Per user we return the expectation over
    that uniform rank, which has a closed form through prefix sums:

    - ``HR@k   = P(r < k) = clip(k - g, 0, t + 1) / (t + 1)``
    - ``NDCG@k = E[1 / log2(r + 2) if r < k else 0] = (D(min(g+t+1, k)) - D(min(g, k))) / (t + 1)``,
      ``D(n) = sum_{i<n} 1 / log2(i + 2)``
    - ``MRR    = E[1 / (r + 1)] = (H(g + t + 1) - H(g)) / (t + 1)``, ``H`` the harmonic numbers.

    Returns ``{"hr@k", "ndcg@k", "mrr"}`` averaged over users.
    """
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer. Received: k={k!r}")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ValueError(
            "scores must have shape (n_users, n_candidates) with both >= 1. " f"Received shape: {scores.shape}"
        )
    _check_no_nan("scores", scores)
    positive = scores[:, :1]
    negatives = scores[:, 1:]
    g = (negatives > positive).sum(axis=1)
    t = (negatives == positive).sum(axis=1)
    hr, ndcg, mrr = _expected_at_k(g, t, k, scores.shape[1])
    return {f"hr@{k}": float(hr.mean()), f"ndcg@{k}": float(ndcg.mean()), "mrr": float(mrr.mean())}


def _expected_at_k(g: np.ndarray, t: np.ndarray, k: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per user, HR@k, NDCG@k and MRR of a positive with ``g`` items strictly above it and ``t`` tying
    with it, among ``n`` ranked items, expected over random tie-breaking (``ranking_metrics``)."""
    ways = t + 1.0
    positions = np.arange(n)
    discount_prefix = np.concatenate(([0.0], np.cumsum(1.0 / np.log2(positions + 2.0))))
    harmonic_prefix = np.concatenate(([0.0], np.cumsum(1.0 / (positions + 1.0))))
    hr = np.clip(k - g, 0, t + 1) / ways
    ndcg = (discount_prefix[np.minimum(g + t + 1, k)] - discount_prefix[np.minimum(g, k)]) / ways
    mrr = (harmonic_prefix[g + t + 1] - harmonic_prefix[g]) / ways
    return hr, ndcg, mrr


def target_ranks(scores: np.ndarray, target_score: np.ndarray, eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per user, how many ``eligible`` items score strictly above the target (``g``) and how many tie
    with it (``t``); ``scores`` (users, items) with the target itself not eligible."""
    above = ((scores > target_score[:, None]) & eligible).sum(axis=1)
    ties = ((scores == target_score[:, None]) & eligible).sum(axis=1)
    return above, ties


def retrieval_metrics(above: np.ndarray, ties: np.ndarray, found: np.ndarray, on: str) -> dict[str, float]:
    """The table's ``on`` metrics ("catalogue" or "reranked") of one held-out item per row, from its
    ``target_ranks`` in a ranked list: the whole catalogue, or the re-ranked top-N of a retrieval
    model, where a target the list does not hold (``found`` False) is a miss.

    With one relevant item per row recall@k is HR@k; ties break at random in expectation, as in
    ``ranking_metrics``. Keys in table order, values rounded to ``DECIMALS``.
    """
    above, ties, found = np.asarray(above), np.asarray(ties), np.asarray(found, dtype=bool)
    if above.size == 0:
        raise ValueError("retrieval_metrics needs at least one held-out row")
    chosen = [m for m in METRICS if m.on == on]
    if on not in (CATALOGUE, RERANKED):
        raise ValueError(f"on must be {CATALOGUE!r} or {RERANKED!r}. Received: on={on!r}")
    result = {}
    for metric in chosen:
        n = int(max(metric.k, (above + ties).max() + 1))
        hr, ndcg, _ = _expected_at_k(np.where(found, above, n), np.where(found, ties, 0), metric.k, n + 1)
        result[metric.key] = round(float((ndcg if "ndcg" in metric.key else hr).mean()), DECIMALS)
    return result


DECIMALS = 6  # every reported metric is rounded to this many decimals, so JSON files compare exactly
SCORES, PROBABILITIES, CANDIDATES = "scores", "probabilities", "candidates"
CATALOGUE, RERANKED = "catalogue", "reranked"  # computed by retrieval_metrics, not by `measure`
TWO_STAGE_DEPTH = 100  # the retrieval top-N the bundle's rankers re-score (two-stage metrics)


@dataclass(frozen=True)
class Metric:
    """One evaluation metric and the facts everyone else reads about it.

    ``on`` says what ``fn`` is computed from, hence which tasks have it:
    ``"scores"`` (labels and any monotone pointwise score: logits, counts) and
    ``"probabilities"`` (labels and probabilities) on every task;
    ``"candidates"`` (the NCF candidate lists, shape (users, candidates), the
    positive first) only on ranking tasks. ``headline`` metrics are the ones
    ratio columns and plots show. ``"catalogue"`` and ``"reranked"`` metrics are a
    retrieval artifact's ranking of the whole catalogue and a ranker's re-ranking
    of its top ``TWO_STAGE_DEPTH`` (``retrieval_metrics``); they are not task metrics
    (``keys``) and ``fn`` is None.
    """

    key: str
    label: str
    higher_is_better: bool
    on: str
    fn: Callable[..., float] | None
    k: int | None = None
    headline: bool = False

    @property
    def ranking_only(self) -> bool:
        """Only tasks with candidate lists (implicit feedback) have it; CTR rows do not."""
        return self.on == CANDIDATES


def _ranked(name: str, k: int) -> Callable[[np.ndarray], float]:
    return lambda candidates: ranking_metrics(candidates, k)[f"{name}@{k}"]


METRICS: tuple[Metric, ...] = (
    Metric("auc", "AUC", True, SCORES, auc, headline=True),
    Metric("logloss", "LogLoss", False, PROBABILITIES, logloss),
    Metric("hr@10", "HR@10", True, CANDIDATES, _ranked("hr", 10), k=10),
    Metric("ndcg@10", "NDCG@10", True, CANDIDATES, _ranked("ndcg", 10), k=10, headline=True),
    Metric("full_recall@10", "recall@10, full catalogue", True, CATALOGUE, None, k=10),
    Metric("full_ndcg@10", "NDCG@10, full catalogue", True, CATALOGUE, None, k=10),
    Metric(f"full_recall@{TWO_STAGE_DEPTH}", f"recall@{TWO_STAGE_DEPTH}, full catalogue", True, CATALOGUE, None,
           k=TWO_STAGE_DEPTH),
    Metric("two_stage_recall@10", f"recall@10, retrieval top-{TWO_STAGE_DEPTH} re-ranked", True, RERANKED, None, k=10),
    Metric("two_stage_ndcg@10", f"NDCG@10, retrieval top-{TWO_STAGE_DEPTH} re-ranked", True, RERANKED, None, k=10),
)
_TASK_KINDS = (SCORES, PROBABILITIES, CANDIDATES)
_BY_KEY = {m.key: m for m in METRICS}


def get(key: str) -> Metric:
    """The table's row for ``key``; KeyError names the known keys."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown metric {key!r}; metrics: {', '.join(_BY_KEY)}") from None


def keys(ranking: bool = True) -> tuple[str, ...]:
    """The metric keys of a task, in table order: all of them, or without the ranking-only ones."""
    return tuple(m.key for m in METRICS if m.on in _TASK_KINDS and (ranking or not m.ranking_only))


def retrieval_keys(on: str) -> tuple[str, ...]:
    """The keys of the ``"catalogue"`` or ``"reranked"`` metrics, in table order."""
    return tuple(m.key for m in METRICS if m.on == on)


def headline(available: Sequence[str] | None = None) -> tuple[str, ...]:
    """The headline metric keys (table order), restricted to ``available`` when given."""
    return tuple(m.key for m in METRICS if m.headline and (available is None or m.key in available))


def measure(
    labels: np.ndarray,
    scores: np.ndarray,
    probabilities: np.ndarray | None,
    candidates: np.ndarray | None,
) -> dict[str, float | None]:
    """Every metric of the table the inputs allow, in table order, rounded to ``DECIMALS``.

    ``probabilities`` None (a score that is not a probability, e.g. item
    popularity): the probability metrics are None. ``candidates`` None (no
    candidate lists: CTR data): the ranking-only metrics are absent.
    """
    inputs = {SCORES: scores, PROBABILITIES: probabilities, CANDIDATES: candidates}
    result: dict[str, float | None] = {}
    for metric in (m for m in METRICS if m.on in _TASK_KINDS):
        value = inputs[metric.on]
        if metric.on == CANDIDATES:
            if value is not None:
                result[metric.key] = round(metric.fn(value), DECIMALS)
        else:
            result[metric.key] = None if value is None else round(metric.fn(labels, value), DECIMALS)
    return result


def score(
    labels: np.ndarray, pointwise_logits: np.ndarray, ranking_logits: np.ndarray | None = None
) -> dict[str, float]:
    """A model's metrics from its logits: the pointwise metrics on the held-out rows (LogLoss on
    ``sigmoid(logits)``), the ranking metrics on ``ranking_logits`` (shape (users, candidates))
    when given. Keys in table order, values rounded to ``DECIMALS``."""
    return measure(labels, pointwise_logits, sigmoid(pointwise_logits), ranking_logits)
