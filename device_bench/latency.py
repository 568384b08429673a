"""The timing loop: only ``interpreter.invoke()`` is inside the clock.

Inputs are copied in before the clock starts, so numbers compare models, not
``set_tensor``. The first invoke is reported on its own (it pays for lazy
kernel preparation, e.g. XNNPACK weight packing); then ``warmup`` untimed
runs; then timed runs until both ``min_runs`` runs and ``min_seconds`` of
wall-clock time are reached (capped at ``max_runs``), so fast models get many
samples and slow ones still finish.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from device_bench.inputs import Feed

MAX_RUNS = 100_000


def _set(interpreter: Any, feed: Feed) -> None:
    for index, value in feed.items():
        interpreter.set_tensor(index, value)


def _timed_invoke(interpreter: Any) -> int:
    start = time.perf_counter_ns()
    interpreter.invoke()
    return time.perf_counter_ns() - start


def measure(
    interpreter: Any,
    pool: list[Feed],
    warmup: int,
    min_runs: int,
    min_seconds: float,
    max_runs: int = MAX_RUNS,
) -> dict[str, float | int]:
    """Time invokes over the feeds in ``pool`` (cycled); microseconds.

    Returns ``first``, ``mean``, ``std``, ``min``, ``max``, ``p50``, ``p90``,
    ``p99`` (rounded to the nanosecond) and ``runs`` (the number of timed
    runs). The interpreter must already be resized and allocated for the
    pool's batch size.
    """
    _set(interpreter, pool[0])
    first_ns = _timed_invoke(interpreter)
    for i in range(warmup):
        _set(interpreter, pool[i % len(pool)])
        interpreter.invoke()

    samples_ns = []
    deadline_ns = time.perf_counter_ns() + int(min_seconds * 1e9)
    while len(samples_ns) < max_runs and (len(samples_ns) < min_runs or time.perf_counter_ns() < deadline_ns):
        _set(interpreter, pool[len(samples_ns) % len(pool)])
        samples_ns.append(_timed_invoke(interpreter))

    us = np.asarray(samples_ns, dtype=np.float64) / 1e3
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    stats = {"first": first_ns / 1e3, "mean": us.mean(), "std": us.std(), "min": us.min(), "max": us.max()}
    stats.update(p50=p50, p90=p90, p99=p99)
    return {**{key: round(float(value), 3) for key, value in stats.items()}, "runs": len(us)}
