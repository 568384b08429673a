"""The project's one Pareto front: of measured trials (bytes, p50 latency, every task metric) and
of the report's plots (one cost against one metric).

A point is on the front unless another point is at least as good on every objective and better
on one: no smaller, faster and more accurate alternative exists. Objectives mix directions
(bytes and latency are minimised; each metric goes the way its row of `device_bench.metrics`
says: LogLoss down, AUC, HR@10, NDCG@10 up), so each has a sign.
"""

from __future__ import annotations

from typing import Sequence

from device_bench import metrics

COSTS = ("bytes", "p50_us")  # minimised


def objectives(metric_names: Sequence[str]) -> tuple[tuple[str, bool], ...]:
    """(key, maximise) for bytes, p50_us and each metric."""
    return (*((c, False) for c in COSTS), *((m, metrics.get(m).higher_is_better) for m in metric_names))


def front(points: Sequence[Sequence[float]], maximise: Sequence[bool]) -> list[bool]:
    """For each point, True unless another point dominates it (equal points do not dominate)."""
    signed = [[v if up else -v for v, up in zip(p, maximise)] for p in points]

    def dominates(a, b):
        return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))

    return [not any(dominates(other, p) for other in signed) for p in signed]


def trial_front(trials: Sequence[dict], metric_names: Sequence[str]) -> list[bool]:
    """`front` over trials, each a dict with `bytes`, `p50_us` and `metrics`."""
    keys = objectives(metric_names)
    points = [[t[k] if k in COSTS else t["metrics"][k] for k, _ in keys] for t in trials]
    return front(points, [up for _, up in keys])
