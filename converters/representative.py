"""Representative data for full-integer calibration.

The TFLite converter orders a model's inputs by signature name, not by the Keras input order,
so samples given as lists silently feed the wrong tensors (e.g. item ids into the user table:
"gather index out of bounds", or a mis-calibrated range). Samples are therefore dicts keyed by
input name, one row per sample with the batch dimension kept.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np


def dataset(rows: dict[str, np.ndarray], count: int | None = None) -> Callable[[], Iterator[dict[str, np.ndarray]]]:
    """A `representative_dataset` callable yielding {input name: array of shape (1,)} per row."""
    n = len(next(iter(rows.values())))
    count = n if count is None else min(count, n)
    if count == 0:
        raise ValueError("representative data is empty; int8 calibration needs at least one row")

    def generate() -> Iterator[dict[str, np.ndarray]]:
        for i in range(count):
            yield {name: values[i : i + 1] for name, values in rows.items()}

    return generate
