"""Interactions from a user's CSV / TSV / Parquet file.

Layout: one row per interaction with columns `user_id`, `item_id`, `timestamp` (numeric);
any further column named `user_<x>` or `item_<x>` is a categorical side feature of that user
or item (its first value per entity is used). Raw ids of any type are mapped to contiguous
model ids; the vocabularies keep the raw values so an app can do the same mapping.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgerec.data.schema import DataError, Interactions

REQUIRED = ("user_id", "item_id", "timestamp")
READERS = {".csv": ",", ".tsv": "\t", ".parquet": None}


def load_interactions(path: Path) -> Interactions:
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected a .csv, .tsv or .parquet interactions file)")
    if path.suffix not in READERS:
        raise DataError(f"{path}: unsupported file type '{path.suffix}'; expected one of {', '.join(READERS)}")
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep=READERS[path.suffix], dtype={"user_id": str, "item_id": str})
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as {path.suffix[1:]}: {exc}") from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; the file has: {', '.join(map(str, frame.columns))}"
        )
    if frame.empty:
        raise DataError(f"{path}: no rows")
    for column in ("user_id", "item_id"):
        if frame[column].isna().any():
            row = int(np.flatnonzero(frame[column].isna().to_numpy())[0])
            raise DataError(f"{path}: row {row + 2}: column '{column}' is empty")
    timestamp = pd.to_numeric(frame["timestamp"], errors="coerce")
    if timestamp.isna().any():
        row = int(np.flatnonzero(timestamp.isna().to_numpy())[0])
        raise DataError(
            f"{path}: row {row + 2}: column 'timestamp' must be a number. Received: {frame['timestamp'].iloc[row]!r}"
        )
    user, user_vocab = pd.factorize(frame["user_id"].astype(str), sort=True)
    item, item_vocab = pd.factorize(frame["item_id"].astype(str), sort=True)
    vocab = {"user_id": list(user_vocab), "item_id": list(item_vocab)}
    tables = {}
    for owner, codes, size in (("user", user, len(user_vocab)), ("item", item, len(item_vocab))):
        tables[owner] = {}
        for column in [c for c in frame.columns if c.startswith(f"{owner}_") and c not in REQUIRED]:
            values, column_vocab = pd.factorize(frame[column].astype(str), sort=True)
            table = np.zeros(size, dtype=np.int32)
            first = np.unique(codes, return_index=True)[1]
            table[codes[first]] = values[first]
            tables[owner][column] = table
            vocab[column] = list(column_vocab)
    return Interactions(
        user=user.astype(np.int32),
        item=item.astype(np.int32),
        timestamp=timestamp.to_numpy().astype(np.int64),
        user_features=tables["user"],
        item_features=tables["item"],
        vocabularies=vocab,
        source=str(path),
    )
