"""Retrieval artifacts on the device: the ``recommend`` / ``score`` signatures, full-catalogue
accuracy, and the two-stage pass in which a ranker re-scores a retrieval model's top-N.

A retrieval artifact (``converters.retrieval``) is recognised by its ``recommend`` signature.
Its latency is the latency of one ``recommend`` call through the interpreter's signature
runner, as an app calls it (the runner copies the inputs in and the K results out; for a
model this small that is part of what the app pays). Its accuracy comes from the ``score``
signature, which gives exactly the logits ``recommend`` ranks by:

- the sampled protocol's metrics (AUC, LogLoss, HR@10, NDCG@10) on the eval set's pointwise and
  ranking rows, so the artifact compares with the rankers on the same candidates;
- the full-catalogue metrics: each held-out item ranked among every item its user never
  interacted with (``evalset.RetrievalSet.eligible``);
- its top ``metrics.TWO_STAGE_DEPTH`` per held-out row, which each ranker of the bundle then
  re-scores (``rerank``): retrieval alone against retrieval + ranking, both on the device.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from device_bench import accuracy, inputs, metrics, runtime
from device_bench.evalset import EvalSet, RetrievalSet

# The signature contract of a retrieval artifact (written by converters.retrieval).
RECOMMEND = "recommend"
SCORE = "score"
CANDIDATES = "candidates"  # score's extra input: item indices, int32 (batch, C)
ITEMS = "items"  # recommend's output: item indices, int32 (batch, K), best first
SCORES = "scores"  # both signatures' float32 logits
SCORED_CELLS = 2**21  # (rows x items) scores per `score` call in the full-catalogue pass
NO_ITEM = -1  # an empty slot of a row's retrieval candidates


def is_retrieval(interpreter: Any) -> bool:
    """Whether the model is a retrieval artifact (has a ``recommend`` signature)."""
    return RECOMMEND in interpreter.get_signature_list()


class SignatureCall:
    """One signature of an interpreter behind the two methods the latency loop uses.

    ``set_tensor(name, value)`` keeps the value; ``invoke()`` calls the signature runner with
    everything set. Feeds are keyed by input name (signature runners take names, not indices).
    """

    def __init__(self, interpreter: Any, signature: str):
        self.runner = interpreter.get_signature_runner(signature)
        self._feed: dict[str, np.ndarray] = {}

    def set_tensor(self, name: str, value: np.ndarray) -> None:
        self._feed[name] = value

    def invoke(self) -> dict[str, np.ndarray]:
        return self.runner(**self._feed)

    def input_names(self) -> list[str]:
        return sorted(self.runner.get_input_details())


def user_inputs(interpreter: Any) -> list[str]:
    """The ``recommend`` signature's inputs (the user tower's features), sorted."""
    return SignatureCall(interpreter, RECOMMEND).input_names()


def top_k(interpreter: Any) -> int:
    """K of ``recommend``: the items dimension of its ``items`` output."""
    details = interpreter.get_signature_runner(RECOMMEND).get_output_details()
    return int(details[ITEMS]["shape_signature"][-1])


def latency_pool(interpreter: Any, batch: int, evalset: EvalSet | None) -> list[dict[str, np.ndarray]]:
    """Feeds of ``batch`` users for the ``recommend`` timing loop: the eval set's held-out users, or user 0."""
    names = user_inputs(interpreter)
    part = evalset.retrieval if evalset is not None else None
    if part is None:
        return [{name: np.zeros(batch, dtype=np.int32) for name in names}]
    n = part.rows
    pool_size = max(1, min(inputs.POOL_SIZE, n // batch))
    return [{name: part.users[name][np.arange(i * batch, (i + 1) * batch) % n] for name in names}
            for i in range(pool_size)]


def _score(call: SignatureCall, users: dict[str, np.ndarray], candidates: np.ndarray) -> np.ndarray:
    return np.asarray(call.runner(**users, candidates=candidates.astype(np.int32))[SCORES], dtype=np.float64)


def sampled(interpreter: Any, evalset: EvalSet) -> tuple[dict[str, float], np.ndarray | None]:
    """The sampled protocol's metrics through ``score``, and the ranking logits (users, candidates)
    for the fidelity comparison; pointwise rows are scored as one candidate each."""
    call = SignatureCall(interpreter, SCORE)
    names = user_inputs(interpreter)
    pointwise = evalset.pointwise
    logits = np.concatenate([
        _score(call, {n: pointwise[n][s:s + accuracy.BATCH_SIZE] for n in names},
               pointwise["item_id"][s:s + accuracy.BATCH_SIZE, None])[:, 0]
        for s in range(0, len(evalset.labels), accuracy.BATCH_SIZE)
    ])
    ranking = None
    if evalset.num_candidates:
        c = evalset.num_candidates
        first = {n: evalset.ranking[n][::c] for n in names}  # one row per list: the user's inputs
        items = evalset.ranking["item_id"].reshape(-1, c)
        step = max(1, accuracy.BATCH_SIZE // c)
        ranking = np.concatenate([
            _score(call, {n: v[s:s + step] for n, v in first.items()}, items[s:s + step])
            for s in range(0, items.shape[0], step)
        ])
    return metrics.score(evalset.labels, logits, ranking), ranking


def full_catalogue(interpreter: Any, part: RetrievalSet) -> tuple[dict[str, float], np.ndarray]:
    """Full-catalogue metrics of the artifact through ``score`` (see ``catalogue_metrics``)."""
    call = SignatureCall(interpreter, SCORE)
    names = user_inputs(interpreter)
    catalogue = np.arange(part.num_items, dtype=np.int32)
    return catalogue_metrics(
        lambda rows: _score(call, {n: part.users[n][rows] for n in names}, np.tile(catalogue, (len(rows), 1))), part)


def catalogue_metrics(score_rows: Callable[[np.ndarray], np.ndarray], part: RetrievalSet) -> tuple[dict[str, float], np.ndarray]:
    """Full-catalogue metrics from ``score_rows(rows) -> (len(rows), N)`` logits of every item, and
    each held-out row's top ``TWO_STAGE_DEPTH`` items among its eligible ones and its target,
    best first (shape (rows, depth), ``NO_ITEM`` past the last one): the candidates of the two-stage pass. The build scores its
    Keras model with the same function."""
    n_items = part.num_items
    depth = min(metrics.TWO_STAGE_DEPTH, n_items - 1)
    step = max(1, SCORED_CELLS // n_items)
    catalogue = np.arange(n_items)
    above, ties, top = [], [], []
    for start in range(0, part.rows, step):
        rows = np.arange(start, min(start + step, part.rows))
        scores = np.asarray(score_rows(rows), dtype=np.float64)
        eligible = part.eligible(rows)
        target = scores[np.arange(len(rows)), part.targets[rows]]
        g, t = metrics.target_ranks(scores, target, eligible)
        above.append(g)
        ties.append(t)
        top.append(_top(np.where(eligible | (catalogue == part.targets[rows, None]), scores, -np.inf), depth))
    found = np.ones(part.rows, dtype=bool)
    result = metrics.retrieval_metrics(np.concatenate(above), np.concatenate(ties), found, metrics.CATALOGUE)
    return result, np.concatenate(top)


def _top(scores: np.ndarray, depth: int) -> np.ndarray:
    """The `depth` best columns per row, best first (ties by lower index); NO_ITEM where a row has
    fewer than `depth` finite scores (a user who has interacted with nearly the whole catalogue)."""
    part = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
    values = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -values), axis=1)
    top = np.take_along_axis(part, order, axis=1).astype(np.int32)
    return np.where(np.isfinite(np.take_along_axis(values, order, axis=1)), top, NO_ITEM)


def rerank(interpreter: Any, part: RetrievalSet, candidates: np.ndarray) -> dict[str, float]:
    """A ranker's two-stage metrics: it re-scores each held-out row's retrieval candidates
    (shape (rows, depth), ``NO_ITEM`` slots left out); a target the retrieval did not return is a miss."""
    specs = runtime.input_specs(interpreter)
    missing = [s.name for s in specs if s.name not in part.users and s.name not in part.catalogue]
    if missing:
        raise ValueError(f"the ranker's inputs {missing} are neither user nor catalogue columns of the eval set")
    rows = np.arange(part.rows)
    present = candidates != NO_ITEM
    logits = accuracy.predict(interpreter, part.ranker_rows(rows, np.where(present, candidates, 0)))
    logits = logits.reshape(candidates.shape)
    hit = candidates == part.targets[:, None]
    found = hit.any(axis=1)
    target = np.where(found, logits[rows, hit.argmax(axis=1)], 0.0)
    g, t = metrics.target_ranks(logits, target, present & ~hit)
    return metrics.retrieval_metrics(g, t, found, metrics.RERANKED)
