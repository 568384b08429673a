"""Feed dicts for the latency loop.

Real rows when the bundle has an eval set: embedding lookups on a single
repeated id stay in one cache line and flatter large tables, so the loop
cycles through a small pool of distinct batches. A bare ``.tflite`` without an
eval set gets id 0 for integer inputs and seeded standard-normal floats.
"""

from __future__ import annotations

import numpy as np

from device_bench.evalset import EvalSet
from device_bench.runtime import TensorSpec

Feed = dict[int, np.ndarray]  # input tensor index -> batch

POOL_SIZE = 8


def _shape(spec: TensorSpec, batch: int) -> tuple[int, ...]:
    return (batch, *(max(d, 1) for d in spec.shape_signature[1:]))


def _synthetic(specs: list[TensorSpec], batch: int, rng: np.random.Generator) -> Feed:
    feed = {}
    for spec in specs:
        if np.issubdtype(spec.dtype, np.integer) or spec.dtype == np.bool_:
            feed[spec.index] = np.zeros(_shape(spec, batch), dtype=spec.dtype)
        else:
            feed[spec.index] = rng.standard_normal(_shape(spec, batch)).astype(spec.dtype)
    return feed


def take_rows(specs: list[TensorSpec], columns: dict[str, np.ndarray], index: np.ndarray) -> Feed:
    """The rows ``index`` of each input's column, cast to the input's dtype."""
    return {spec.index: columns[spec.name][index].astype(spec.dtype, copy=False) for spec in specs}


def latency_pool(specs: list[TensorSpec], batch: int, evalset: EvalSet | None, seed: int = 0) -> list[Feed]:
    """Up to ``POOL_SIZE`` feeds of ``batch`` rows each, to cycle through while timing."""
    if evalset is None:
        rng = np.random.default_rng(seed)
        return [_synthetic(specs, batch, rng) for _ in range(POOL_SIZE)]
    n = evalset.labels.shape[0]
    pool_size = max(1, min(POOL_SIZE, n // batch))
    # Consecutive windows of the pointwise rows, wrapping when the set is smaller than a batch.
    return [take_rows(specs, evalset.pointwise, np.arange(i * batch, (i + 1) * batch) % n) for i in range(pool_size)]
