"""Read a bundle's ``eval.npz``: the held-out set in model-input form.

``edgerec build`` writes it so that the device can score artifacts without
the dataset code or vocabularies. Layout (all arrays, no pickles):

- ``pointwise/<input name>``: int32, shape (N,), one per model input;
  ``pointwise/label``: float32, shape (N,), values in {0, 1}. Gives AUC and LogLoss.
- ``ranking/<input name>``: int32, shape (U * C,), grouped by user, C candidates
  per user with the user's held-out positive first; ``ranking/num_candidates``:
  scalar C. Gives HR@10 and NDCG@10 (NCF protocol). Optional: CTR datasets
  such as Criteo have no per-user ranking, and then only the pointwise part is written.
- ``retrieval/<user input>``: int32, shape (R,), one row per held-out interaction, the user's
  inputs only; ``retrieval/target``: int32 (R,), the held-out item's index;
  ``retrieval/seen_row``: int32 (R,), the row's user in ``retrieval/seen_offsets`` (int64, (S + 1,))
  and ``retrieval/seen_items`` (int32): every item each of those S users interacted with, held-out
  ones included. ``catalogue/<item input>``: int32, shape (N,), the item inputs of every item
  index 0..N-1. Gives the full-catalogue metrics of a retrieval artifact (every item the user
  never interacted with is a candidate, the row's target aside: the sampled protocol's rule
  without the sampling) and the rows a ranker re-scores in the two-stage pass. Optional, with the
  ranking part only.
- ``popularity/train_count``: int32, shape (U,), per ranking list the training interactions of its
  held-out item: ``edgerec bench`` reports the ranking metrics by popularity group with it
  (``device_bench.popularity``). Optional, with the ranking part only (older bundles lack it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device_bench.errors import EdgerecError

POINTWISE = "pointwise/"
RANKING = "ranking/"
RETRIEVAL = "retrieval/"
POPULARITY = "popularity/train_count"
CATALOGUE = "catalogue/"
LABEL = "label"
NUM_CANDIDATES = "num_candidates"
TARGET, SEEN_ROW, SEEN_OFFSETS, SEEN_ITEMS = "target", "seen_row", "seen_offsets", "seen_items"
_RETRIEVAL_KEYS = (TARGET, SEEN_ROW, SEEN_OFFSETS, SEEN_ITEMS)


class EvalSetError(EdgerecError, ValueError):
    """The eval set does not fit the model (missing inputs, ragged columns)."""


@dataclass(frozen=True)
class RetrievalSet:
    """The full-catalogue part: held-out rows (user inputs, target item), what each user has seen,
    and every catalogue item's inputs (see the module docstring)."""

    users: dict[str, np.ndarray]
    targets: np.ndarray
    seen_row: np.ndarray
    seen_offsets: np.ndarray
    seen_items: np.ndarray
    catalogue: dict[str, np.ndarray]

    @property
    def rows(self) -> int:
        return int(self.targets.shape[0])

    @property
    def num_items(self) -> int:
        return int(next(iter(self.catalogue.values())).shape[0])

    def eligible(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), N) mask of the items each row ranks its target among: every item but the OOV
        item 0, the user's other interactions and the target itself."""
        mask = np.ones((len(rows), self.num_items), dtype=bool)
        mask[:, 0] = False
        for i, row in enumerate(rows):
            user = self.seen_row[row]
            mask[i, self.seen_items[self.seen_offsets[user]:self.seen_offsets[user + 1]]] = False
        return mask

    def ranker_rows(self, rows: np.ndarray, candidates: np.ndarray) -> dict[str, np.ndarray]:
        """Ranker inputs for each row's candidate items (shape (len(rows), C)), flattened row-major."""
        per_row = candidates.shape[1]
        columns = {name: np.repeat(values[rows], per_row) for name, values in self.users.items()}
        columns.update({name: values[candidates.reshape(-1)] for name, values in self.catalogue.items()})
        return columns


@dataclass(frozen=True)
class EvalSet:
    """Model-input columns keyed by input name, plus labels and candidate count."""

    path: Path
    pointwise: dict[str, np.ndarray]
    labels: np.ndarray
    ranking: dict[str, np.ndarray]  # empty when the file has no ranking part
    num_candidates: int  # 0 when the file has no ranking part
    retrieval: RetrievalSet | None = None  # None when the file has no retrieval part
    popularity: np.ndarray | None = None  # per ranking list; None when the file has none

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
        if key.startswith(prefix) and key[len(prefix) :] not in (LABEL, NUM_CANDIDATES, *_RETRIEVAL_KEYS)
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
    return EvalSet(path, pointwise, labels, ranking, num_candidates, retrieval_part(arrays, path),
                   _popularity(arrays, rows // num_candidates, path))


def _popularity(arrays: dict[str, np.ndarray], lists: int, path: Path) -> np.ndarray | None:
    """``popularity/train_count``, checked: one count >= 0 per ranking list; None when absent."""
    counts = arrays.get(POPULARITY)
    if counts is None:
        return None
    if counts.shape != (lists,) or not np.issubdtype(counts.dtype, np.integer) or (counts < 0).any():
        raise EvalSetError(f"{path}: {POPULARITY} must hold {lists} integer counts >= 0, one per ranking list. "
                           f"Received: shape {counts.shape}, dtype {counts.dtype}")
    return counts


def retrieval_part(arrays: dict[str, np.ndarray], path: Path | str) -> RetrievalSet | None:
    """The retrieval part of eval.npz's ``arrays``, checked for consistent sizes and index ranges;
    None when they have none. ``path`` names the file in errors."""
    if RETRIEVAL + TARGET not in arrays:
        return None
    missing = [RETRIEVAL + key for key in _RETRIEVAL_KEYS if RETRIEVAL + key not in arrays]
    if missing:
        raise EvalSetError(f"{path}: the retrieval part lacks {missing}.")
    users, catalogue = _columns(arrays, RETRIEVAL, path), _columns(arrays, CATALOGUE, path)
    targets, seen_row = arrays[RETRIEVAL + TARGET], arrays[RETRIEVAL + SEEN_ROW]
    offsets, items = arrays[RETRIEVAL + SEEN_OFFSETS], arrays[RETRIEVAL + SEEN_ITEMS]
    rows, num_items = next(iter(users.values())).shape[0], next(iter(catalogue.values())).shape[0]
    problems = []
    if targets.shape != (rows,) or seen_row.shape != (rows,):
        problems.append(f"target and seen_row must have shape ({rows},)")
    if offsets.ndim != 1 or offsets.size < 2 or offsets[0] != 0 or offsets[-1] != items.size or (np.diff(offsets) < 0).any():
        problems.append("seen_offsets must rise from 0 to len(seen_items)")
    elif seen_row.size and (seen_row.min() < 0 or seen_row.max() >= offsets.size - 1):
        problems.append(f"seen_row must index the {offsets.size - 1} users of seen_offsets")
    for name, values in (("target", targets), ("seen_items", items)):
        if values.size and (values.min() < 0 or values.max() >= num_items):
            problems.append(f"{name} must hold item indices in [0, {num_items})")
    if problems:
        raise EvalSetError(f"{path}: retrieval part: {'; '.join(problems)}.")
    return RetrievalSet(users, targets, seen_row, offsets, items, catalogue)
