"""Item vectors for a prepared dataset: read from a file made elsewhere, or encoded once from item text.

A vectors file (`edgerec data prepare --item-embeddings FILE`) comes in one of two forms:

- `items.npy`, a 2-D float matrix, with `items.ids.txt` beside it (the same name with `.ids.txt`
  for `.npy`): one raw item id per line, line i naming row i;
- a `.parquet` file with an `item` column (raw item ids) and either one list column `vector`
  or numeric columns, one per dimension.

Raw ids map through the item vocabulary, so the file may list items in any order; items of the
data without a vector get a zero row. A file that cannot describe this data is refused whole
(an id the data does not have, a duplicate id, NaN, ragged rows) rather than half used: a
mismatched id is far likelier a wrong file or id column than a deliberate extra.

Vectors are attached before k-core filtering, so the ids checked are those of the data as read,
and the vectors of items the filter drops leave with them. Text is encoded after filtering, once,
at prepare time: builds read the stored vectors instead of running an encoder again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgerec.data.schema import DataError, Interactions

IDS_SUFFIX = ".ids.txt"
NO_ENCODER = "none"  # --text-encoder none: keep the text, compute no vectors
DEFAULT_ENCODER = "minilm"


@dataclass(frozen=True)
class ItemVectors:
    """Validated rows of a vectors file: `ids[r]` is the raw item id of `vectors[r]`."""

    path: Path
    ids: list[str]
    vectors: np.ndarray  # float32 (rows, dim), finite
    where: list[str]  # where row r was read, for messages: "row 3 (line 3 of items.ids.txt)" / "row 3"


def ids_path(path: Path) -> Path:
    """The id list that goes with a `.npy` matrix: `items.npy` -> `items.ids.txt`."""
    return Path(path).with_suffix(IDS_SUFFIX)


def read(path: Path) -> ItemVectors:
    """Reads and validates a vectors file (see the module docstring for the two forms)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"--item-embeddings: {path}: no such file")
    if path.suffix == ".npy":
        ids, matrix, where = _read_npy(path)
    elif path.suffix == ".parquet":
        ids, matrix, where = _read_parquet(path)
    else:
        raise DataError(f"--item-embeddings: {path}: expected a .npy matrix (ids in {ids_path(path).name}) "
                        "or a .parquet file with an 'item' column")
    vectors = matrix.astype(np.float32)
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: {where[row]}: item {ids[row]!r} has a value that is not a finite number "
                        f"(NaN, inf or beyond float32); {int(bad.sum())} such row(s)")
    first: dict[str, int] = {}
    for row, item in enumerate(ids):
        if item in first:
            raise DataError(f"{path}: {where[row]}: item {item!r} already has a vector at {where[first[item]]}; "
                            "expected one vector per item")
        first[item] = row
    return ItemVectors(path, ids, vectors, where)


def attach(data: Interactions, file: ItemVectors) -> Interactions:
    """`data` with `file`'s vectors in item-id order; items the file does not list get a zero row."""
    index = {raw: i for i, raw in enumerate(data.vocabularies["item_id"])}
    rows = np.asarray([index.get(raw, -1) for raw in file.ids], dtype=np.int64)
    unknown = np.flatnonzero(rows < 0)
    if len(unknown):
        row = int(unknown[0])
        raise DataError(f"{file.path}: {file.where[row]}: item {file.ids[row]!r} is not an item of the data "
                        f"({len(unknown)} of the file's {len(rows)} ids are not); expected raw item ids of "
                        f"{data.source}")
    vectors = np.zeros((data.num_items, file.vectors.shape[1]), dtype=np.float32)
    vectors[rows] = file.vectors
    return dataclasses.replace(data, item_vectors=vectors, item_vectors_from=str(file.path))


def check_encoder(name: str) -> None:
    """A --text-encoder name is one of edgerec.text's encoders or "none"."""
    if name == NO_ENCODER:
        return
    from edgerec.text import ENCODERS

    if name not in ENCODERS:
        raise DataError(f"--text-encoder: unknown encoder {name!r}; expected one of "
                        f"{', '.join([*ENCODERS, NO_ENCODER])}")


def encode_text(data: Interactions, encoder: str | None) -> tuple[Interactions, str]:
    """`data` with its item text encoded by `encoder` (items with empty text get a zero row), and a
    line for the user when nothing was encoded though the data has text.

    `encoder` None is the default: `DEFAULT_ENCODER` when its extra is installed, else the text is
    kept without vectors (a build that reads item text encodes it then, with `data.text_encoder`),
    so preparing MovieLens never needs the extra."""
    rows = [i for i, text in enumerate(data.item_text or []) if text]
    if encoder == NO_ENCODER or not rows:
        return data, ""
    from edgerec.text import MissingExtra, describe, encode

    try:
        encoded = encode([data.item_text[i] for i in rows], encoder or DEFAULT_ENCODER)
        source = describe(encoder or DEFAULT_ENCODER)
    except MissingExtra as exc:
        if encoder is None:
            return data, (f"item text kept without vectors: {exc}, or pass --text-encoder tfidf (no extra); "
                          "a build reading item text encodes it with the recipe's data.text_encoder")
        raise DataError(f"{exc}; or pass --text-encoder tfidf (no extra needed) or --text-encoder none "
                        "(keep the text, no vectors)") from None
    vectors = np.zeros((data.num_items, encoded.shape[1]), dtype=np.float32)
    vectors[rows] = encoded
    return dataclasses.replace(data, item_vectors=vectors, item_vectors_from=source), ""


def summary(data: Interactions) -> str:
    """One line for `edgerec data prepare`: how many items have text, the vectors and the gaps."""
    parts = []
    if data.item_text is not None:
        parts.append(f"item text for {sum(1 for t in data.item_text if t)} of {data.num_items} items")
    if data.item_vectors is None:
        parts.append("no item vectors")
    else:
        zero = int((~data.item_vectors.any(axis=1)).sum())
        parts.append(f"item vectors: dim {data.item_vectors.shape[1]}, {zero} item(s) without a vector (zero rows), "
                     f"from {data.item_vectors_from}")
    return "; ".join(parts)


def _read_npy(path: Path) -> tuple[list[str], np.ndarray, list[str]]:
    try:
        matrix = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot be read as a .npy matrix: {exc}") from None
    _check_matrix(path, matrix)
    ids_file = ids_path(path)
    if not ids_file.is_file():
        raise DataError(f"{path}: no id list beside it; expected {ids_file} with one raw item id per line "
                        "(line i = row i)")
    try:
        ids = ids_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{ids_file}: cannot be read as text: {exc}") from None
    ids = [i.strip() for i in ids]
    while ids and not ids[-1]:
        ids.pop()
    empty = [n for n, i in enumerate(ids) if not i]
    if empty:
        raise DataError(f"{ids_file}: line {empty[0] + 1} is empty; expected one raw item id per line")
    if len(ids) != len(matrix):
        raise DataError(f"{ids_file}: {len(ids)} ids for the {len(matrix)} rows of {path.name}; "
                        "expected one id per row")
    return ids, matrix, [f"row {n + 1} (line {n + 1} of {ids_file.name})" for n in range(len(ids))]


def _read_parquet(path: Path) -> tuple[list[str], np.ndarray, list[str]]:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot be read as parquet: {exc}") from None
    if "item" not in frame:
        raise DataError(f"{path}: missing column 'item' (raw item ids); "
                        f"the file has: {', '.join(map(str, frame.columns))}")
    where = [f"row {n + 1}" for n in range(len(frame))]
    empty = np.flatnonzero(frame["item"].isna().to_numpy())
    if len(empty):
        raise DataError(f"{path}: {where[empty[0]]}: column 'item' is empty")
    item = frame["item"]
    if pd.api.types.is_float_dtype(item) and (item % 1 == 0).all():
        item = item.astype(np.int64)  # ids written as floats: 7.0 is item "7"
    ids = item.astype(str).tolist()
    values = frame.drop(columns="item")
    if "vector" in values:
        matrix = _stack(path, values["vector"], where)
    else:
        text = [str(c) for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
        if text or len(values.columns) == 0:
            raise DataError(f"{path}: expected a list column 'vector' or numeric columns beside 'item'; "
                            f"got non-numeric column(s): {', '.join(text) or 'none at all'}")
        matrix = values.to_numpy()
    _check_matrix(path, matrix)
    return ids, matrix, where


def _check_matrix(path: Path, matrix: np.ndarray) -> None:
    if matrix.ndim != 2 or 0 in matrix.shape:
        raise DataError(f"{path}: expected a 2-D matrix with one row per item and at least one column; "
                        f"got shape {matrix.shape}")
    if not (np.issubdtype(matrix.dtype, np.integer) or np.issubdtype(matrix.dtype, np.floating)):
        raise DataError(f"{path}: expected numbers; got dtype {matrix.dtype}")


def _stack(path: Path, column, where: list[str]) -> np.ndarray:
    """The `vector` column as a matrix, refusing empty cells and rows of another width."""
    rows = []
    for n, cell in enumerate(column):
        try:
            row = np.asarray(cell, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{path}: {where[n]}: column 'vector' must hold a list of numbers. "
                            f"Received: {cell!r}") from None
        if row.ndim != 1:
            raise DataError(f"{path}: {where[n]}: column 'vector' must hold a list of numbers. Received: {cell!r}")
        if rows and len(row) != len(rows[0]):
            raise DataError(f"{path}: {where[n]}: column 'vector' has {len(row)} value(s); expected "
                            f"{len(rows[0])}, the width of row 1")
        rows.append(row)
    return np.stack(rows) if rows else np.zeros((0, 0))
