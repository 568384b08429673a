"""The Pareto front of measured trials over bytes, p50 latency and every task metric.

A trial is on the front unless another trial is at least as good on every objective and better
on one: no smaller, faster and more accurate alternative exists. Objectives mix directions
(bytes, latency and LogLoss are minimised; AUC, HR@10, NDCG@10 maximised), so each has a sign.
"""

from __future__ import annotations

from typing import Sequence

MINIMISED = ("bytes", "p50_us", "logloss")


def objectives(metric_names: Sequence[str]) -> tuple[tuple[str, bool], ...]:
    """(key, maximise) for bytes, p50_us and each metric."""
    return (("bytes", False), ("p50_us", False), *((m, m not in MINIMISED) for m in metric_names))


def front(points: Sequence[Sequence[float]], maximise: Sequence[bool]) -> list[bool]:
    """For each point, True unless another point dominates it (equal points do not dominate)."""
    signed = [[v if up else -v for v, up in zip(p, maximise)] for p in points]

    def dominates(a, b):
        return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))

    return [not any(dominates(other, p) for other in signed) for p in signed]


def trial_front(trials: Sequence[dict], metric_names: Sequence[str]) -> list[bool]:
    """`front` over trials, each a dict with `bytes`, `p50_us` and `metrics`."""
    keys = objectives(metric_names)
    points = [[t["bytes"] if k == "bytes" else t["p50_us"] if k == "p50_us" else t["metrics"][k] for k, _ in keys]
              for t in trials]
    return front(points, [up for _, up in keys])
