"""Read a bundle's ``eval.npz``: the held-out set in model-input form.

``edgerec build`` writes it so that the device can score artifacts without
the dataset code or vocabularies. Layout (all arrays, no pickles):

- ``pointwise/<input name>``: int32, shape (N,), one per model input;
  ``pointwise/label``: float32, shape (N,), values in {0, 1}. Gives AUC and LogLoss.
- ``ranking/<input name>``: int32, shape (U * C,), grouped by user, C candidates
  per user with the user's held-out positive first; ``ranking/num_candidates``:
  scalar C. Gives HR@10 and NDCG@10 (NCF protocol). Optional: CTR datasets
  such as Criteo have no per-user ranking, and then only the pointwise part is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device_bench.errors import EdgerecError

POINTWISE = "pointwise/"
RANKING = "ranking/"
LABEL = "label"
NUM_CANDIDATES = "num_candidates"


class EvalSetError(EdgerecError, ValueError):
    """The eval set does not fit the model (missing inputs, ragged columns)."""


@dataclass(frozen=True)
class EvalSet:
    """Model-input columns keyed by input name, plus labels and candidate count."""

    path: Path
    pointwise: dict[str, np.ndarray]
    labels: np.ndarray
    ranking: dict[str, np.ndarray]  # empty when the file has no ranking part
    num_candidates: int  # 0 when the file has no ranking part

    def check_inputs(self, input_names: Sequence[str]) -> None:
        """Raise EvalSetError unless every model input has a column in each part."""
        parts = [(POINTWISE, self.pointwise)] + ([(RANKING, self.ranking)] if self.num_candidates else [])
        for prefix, columns in parts:
            missing = [name for name in input_names if name not in columns]
            if missing:
                raise EvalSetError(
                    f"{self.path}: {prefix} is missing model inputs {missing}; the file has {sorted(columns)}."
                )


def _columns(arrays: dict[str, np.ndarray], prefix: str, path: Path) -> dict[str, np.ndarray]:
    columns = {
        key[len(prefix) :]: value
        for key, value in arrays.items()
        if key.startswith(prefix) and key[len(prefix) :] not in (LABEL, NUM_CANDIDATES)
    }
    lengths = {name: column.shape[0] if column.ndim else None for name, column in columns.items()}
    if not columns or len(set(lengths.values())) != 1 or None in lengths.values():
        raise EvalSetError(f"{path}: {prefix} needs input columns of one equal length. Received lengths: {lengths}")
    return columns


def load(path: str | Path) -> EvalSet:
    """Load ``path`` and check its parts are consistent (lengths, labels, candidates).

    Whether it fits a particular model is :meth:`EvalSet.check_inputs`; it is
    separate so the worker can load the set before the model, keeping the
    eval arrays out of the model's memory measurement.
    """
    path = Path(path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}

    pointwise = _columns(arrays, POINTWISE, path)
    n = next(iter(pointwise.values())).shape[0]
    labels = arrays.get(POINTWISE + LABEL)
    if labels is None or labels.shape != (n,):
        shape = None if labels is None else labels.shape
        raise EvalSetError(f"{path}: {POINTWISE}{LABEL} must have shape ({n},). Received: {shape}")

    if RANKING + NUM_CANDIDATES not in arrays:
        return EvalSet(path, pointwise, labels, {}, 0)
    ranking = _columns(arrays, RANKING, path)
    num_candidates = int(arrays[RANKING + NUM_CANDIDATES])
    rows = next(iter(ranking.values())).shape[0]
    if num_candidates < 1 or rows % num_candidates:
        raise EvalSetError(f"{path}: ranking has {rows} rows, not a multiple of num_candidates={num_candidates}.")
    return EvalSet(path, pointwise, labels, ranking, num_candidates)
