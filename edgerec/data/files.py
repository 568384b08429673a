"""Interactions from a user's CSV / TSV / Parquet file, read in bounded memory.

Columns are mapped by `Columns`: user, item and timestamp (numeric) are required; an optional
label column with a threshold keeps only rows whose label is >= it (e.g. ratings >= 4);
side-feature columns are categorical features of the user or the item (first value seen per
entity). By default any column named `user_<x>` / `item_<x>` is a side feature.

The file is read in chunks (pandas for CSV/TSV, pyarrow record batches for Parquet): raw ids
are encoded chunk by chunk into a growing vocabulary, so memory holds the int32/int64 columns
and the vocabularies, never the whole file as strings. Raw ids of any type map to contiguous
model ids, sorted by raw value so the result does not depend on the chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from edgerec.data.schema import DataError, Interactions

SEPARATORS = {".csv": ",", ".tsv": "\t", ".parquet": None}
CHUNK_ROWS = 1_000_000


@dataclass(frozen=True)
class Columns:
    user: str = "user_id"
    item: str = "item_id"
    timestamp: str = "timestamp"
    label: str | None = None
    min_label: float | None = None
    user_features: tuple[str, ...] | None = None  # None: every `user_*` column
    item_features: tuple[str, ...] | None = None  # None: every `item_*` column


@dataclass
class Encoder:
    """Raw value -> code, growing chunk by chunk; `finish` renumbers codes in sorted raw order."""

    values: list = field(default_factory=list)
    index: dict = field(default_factory=dict)

    def encode(self, raw) -> np.ndarray:
        import pandas as pd

        codes, uniques = pd.factorize(raw)
        lookup = np.empty(len(uniques), dtype=np.int64)
        for position, value in enumerate(uniques):
            code = self.index.get(value)
            if code is None:
                code = self.index[value] = len(self.values)
                self.values.append(value)
            lookup[position] = code
        return lookup[codes]

    def finish(self) -> tuple[np.ndarray, list[str]]:
        order = np.argsort(np.asarray(self.values, dtype=str), kind="stable")
        remap = np.empty(len(order), dtype=np.int32)
        remap[order] = np.arange(len(order), dtype=np.int32)
        return remap, [str(self.values[i]) for i in order]


def load_interactions(path: Path, columns: Columns = Columns(), chunk_rows: int = CHUNK_ROWS) -> Interactions:
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected a .csv, .tsv or .parquet interactions file)")
    if path.suffix not in SEPARATORS:
        raise DataError(f"{path}: unsupported file type '{path.suffix}'; expected one of {', '.join(SEPARATORS)}")
    header = _header(path)
    required = [columns.user, columns.item, columns.timestamp] + ([columns.label] if columns.label else [])
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; the file has: {', '.join(header)}")
    side = {
        "user": _side_columns(path, header, columns.user_features, "user_", required),
        "item": _side_columns(path, header, columns.item_features, "item_", required),
    }
    encoders = {"user": Encoder(), "item": Encoder()}
    side_encoders = {name: Encoder() for names in side.values() for name in names}
    side_first: dict[str, dict[int, int]] = {name: {} for name in side_encoders}
    users, items, times = [], [], []
    row_offset = 0
    for chunk in _chunks(path, [*required, *side["user"], *side["item"]], chunk_rows):
        _validate(chunk, path, columns, row_offset)
        row_offset += len(chunk)
        if columns.label:
            chunk = chunk[chunk[columns.label].astype(float) >= columns.min_label]
        user_codes = encoders["user"].encode(chunk[columns.user].astype(str))
        item_codes = encoders["item"].encode(chunk[columns.item].astype(str))
        users.append(user_codes.astype(np.int32))
        items.append(item_codes.astype(np.int32))
        times.append(pd.to_numeric(chunk[columns.timestamp]).to_numpy().astype(np.int64))
        for owner, codes in (("user", user_codes), ("item", item_codes)):
            for name in side[owner]:
                values = side_encoders[name].encode(chunk[name].astype(str))
                first = side_first[name]
                for entity, value in zip(*np.unique(codes, return_index=True)):
                    first.setdefault(int(entity), int(values[value]))
    if not users or sum(len(u) for u in users) == 0:
        raise DataError(f"{path}: no rows" + (f" with {columns.label} >= {columns.min_label}" if columns.label else ""))
    user_remap, user_vocab = encoders["user"].finish()
    item_remap, item_vocab = encoders["item"].finish()
    vocab = {"user_id": user_vocab, "item_id": item_vocab}
    tables: dict[str, dict[str, np.ndarray]] = {"user": {}, "item": {}}
    for owner, remap in (("user", user_remap), ("item", item_remap)):
        for name in side[owner]:
            value_remap, vocab[name] = side_encoders[name].finish()
            table = np.zeros(len(remap), dtype=np.int32)
            entities = np.fromiter(side_first[name].keys(), dtype=np.int64)
            table[remap[entities]] = value_remap[np.fromiter(side_first[name].values(), dtype=np.int64)]
            tables[owner][name] = table
    return Interactions(
        user=user_remap[np.concatenate(users)],
        item=item_remap[np.concatenate(items)],
        timestamp=np.concatenate(times),
        user_features=tables["user"],
        item_features=tables["item"],
        vocabularies=vocab,
        source=str(path),
    )


def _header(path: Path) -> list[str]:
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(path).schema_arrow.names)
        import pandas as pd

        return [str(c) for c in pd.read_csv(path, sep=SEPARATORS[path.suffix], nrows=0).columns]
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as {path.suffix[1:]}: {exc}") from None


def _side_columns(path: Path, header: list[str], given, prefix: str, required: list[str]) -> list[str]:
    if given is None:
        return [c for c in header if c.startswith(prefix) and c not in required]
    missing = [c for c in given if c not in header]
    if missing:
        raise DataError(f"{path}: missing feature column(s) {', '.join(missing)}; the file has: {', '.join(header)}")
    return list(given)


def _chunks(path: Path, usecols: list[str], chunk_rows: int) -> Iterator:
    import pandas as pd

    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows, columns=usecols):
                yield batch.to_pandas()
        else:
            yield from pd.read_csv(path, sep=SEPARATORS[path.suffix], usecols=usecols, dtype=str,
                                   keep_default_na=False, na_values=[""], chunksize=chunk_rows)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as {path.suffix[1:]}: {exc}") from None


def _validate(chunk, path: Path, columns: Columns, row_offset: int) -> None:
    """Names the first bad row (1-based file line for text files, counting the header)."""
    import pandas as pd

    def line(index: int) -> int:
        return row_offset + index + (2 if path.suffix != ".parquet" else 1)

    for column in (columns.user, columns.item):
        empty = chunk[column].isna().to_numpy()
        if empty.any():
            raise DataError(f"{path}: row {line(int(np.flatnonzero(empty)[0]))}: column '{column}' is empty")
    numeric = [(columns.timestamp, "a number")] + ([(columns.label, "a number")] if columns.label else [])
    for column, expected in numeric:
        parsed = pd.to_numeric(chunk[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(parsed)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{path}: row {line(first)}: column '{column}' must be {expected}. Received: {chunk[column].iloc[first]!r}"
            )
