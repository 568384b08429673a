"""Interactions from a user's CSV / TSV / Parquet file, read in bounded memory.

Columns are mapped by `Columns`: user and item are required, the timestamp (numeric) unless
`timestamp` is None (a log without time: the build then holds out a random interaction per
user); an optional label column with a threshold keeps only rows whose label is >= it (e.g.
ratings >= 4), and so does a weight column (play counts, quantities) with `min_weight`;
side-feature columns are categorical features of the user or the item (first value seen per
entity). By default any column named `user_<x>` / `item_<x>` is a side feature. Item text
columns (title, description, ...) keep each item's first non-empty value per column, joined with
". ", so a text encoder can give items vectors at prepare time.

Text files come with any extension (`.csv`, `.tsv`, `.dat`, `.txt`...): `Layout` says the
separator (sniffed from the first lines when not given: tab, comma, semicolon or pipe) and
whether there is a header line; a headerless file's columns are named by `Layout.names`, or
"1", "2", ... by position.

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

from edgerec.data import shards
from edgerec.data.schema import DataError, Interactions

PARQUET = ".parquet"
SNIFFED = "\t,;|"  # the separators a text file is sniffed for
SNIFF_BYTES = 65_536
CHUNK_ROWS = 1_000_000


@dataclass(frozen=True)
class Columns:
    user: str = "user_id"
    item: str = "item_id"
    timestamp: str | None = "timestamp"  # None: the log has no time column
    label: str | None = None
    min_label: float | None = None
    weight: str | None = None  # play count / quantity column, kept when >= min_weight
    min_weight: float | None = None
    user_features: tuple[str, ...] | None = None  # None: every `user_*` column
    item_features: tuple[str, ...] | None = None  # None: every `item_*` column
    item_text: tuple[str, ...] = ()  # columns whose values, joined, are the item's text


@dataclass(frozen=True)
class Layout:
    """How a text file is laid out; ignored for Parquet."""

    sep: str | None = None  # None: sniffed from the first lines
    header: bool = True
    names: tuple[str, ...] | None = None  # a headerless file's column names (None: "1", "2", ...)


@dataclass(frozen=True)
class _Text:
    """A text file's resolved layout: what pandas is told."""

    sep: str
    header: int | None
    names: list[str] | None

    def read_csv(self, path: Path, **kwargs):
        import pandas as pd

        engine = "python" if len(self.sep) > 1 else "c"
        return pd.read_csv(path, sep=self.sep, header=self.header, names=self.names, engine=engine, **kwargs)


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


def load_interactions(path: Path, columns: Columns = Columns(), chunk_rows: int = CHUNK_ROWS,
                      layout: Layout = Layout()) -> Interactions:
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        parts = shards.files(path)  # another engine's output (Spark's part-*.parquet): one table
    elif path.is_file():
        parts = [path]
    else:
        raise DataError(f"{path}: no such file (expected a text (csv, tsv, ...) or .parquet interactions file, "
                        "or a folder of .parquet shards)")
    text = None if parts[0].suffix == PARQUET else _text_layout(path, layout)
    header = _header(parts[0], text)
    required = [c for c in (columns.user, columns.item, columns.timestamp, columns.label, columns.weight) if c]
    missing = [c for c in required if c not in header]
    if missing:
        hint = " (a log without time: --no-time)" if missing == [columns.timestamp] else ""
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; the file has: {', '.join(header)}{hint}")
    not_features = [*required, *columns.item_text]  # item text is read as text, never as a category
    side = {
        "user": _side_columns(path, header, columns.user_features, "user_", not_features),
        "item": _side_columns(path, header, columns.item_features, "item_", not_features),
    }
    missing = [c for c in columns.item_text if c not in header]
    if missing:
        raise DataError(f"{path}: missing item text column(s) {', '.join(missing)}; the file has: {', '.join(header)}")
    encoders = {"user": Encoder(), "item": Encoder()}
    side_encoders = {name: Encoder() for names in side.values() for name in names}
    side_first: dict[str, dict[int, int]] = {name: {} for name in side_encoders}
    text_first: dict[str, dict[int, str]] = {name: {} for name in columns.item_text}
    users, items, times = [], [], []
    usecols = list(dict.fromkeys([*required, *side["user"], *side["item"], *columns.item_text]))
    for part, row_offset, chunk in _chunks(parts, text, usecols, chunk_rows):
        _validate(chunk, part, columns, row_offset, text)
        for column, minimum in ((columns.label, columns.min_label), (columns.weight, columns.min_weight)):
            if column and minimum is not None:
                chunk = chunk[chunk[column].astype(float) >= minimum]
        user_codes = encoders["user"].encode(chunk[columns.user].astype(str))
        item_codes = encoders["item"].encode(chunk[columns.item].astype(str))
        users.append(user_codes.astype(np.int32))
        items.append(item_codes.astype(np.int32))
        if columns.timestamp:
            times.append(pd.to_numeric(chunk[columns.timestamp]).to_numpy().astype(np.int64))
        for owner, codes in (("user", user_codes), ("item", item_codes)):
            for name in side[owner]:
                values = side_encoders[name].encode(chunk[name].astype(str))
                first = side_first[name]
                for entity, value in zip(*np.unique(codes, return_index=True)):
                    first.setdefault(int(entity), int(values[value]))
        for name in columns.item_text:
            _first_text(chunk[name], item_codes, text_first[name])
    if not users or sum(len(u) for u in users) == 0:
        kept = [f"{c} >= {m}" for c, m in ((columns.label, columns.min_label), (columns.weight, columns.min_weight))
                if c and m is not None]
        raise DataError(f"{path}: no rows" + (f" with {' and '.join(kept)}" if kept else ""))
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
    user = user_remap[np.concatenate(users)]
    item_text = None
    if columns.item_text:
        item_text = [""] * len(item_vocab)
        for entity in set().union(*text_first.values()):
            parts = (text_first[name].get(entity) for name in columns.item_text)
            item_text[item_remap[entity]] = ". ".join(part for part in parts if part)
    return Interactions(
        user=user,
        item=item_remap[np.concatenate(items)],
        timestamp=np.concatenate(times) if columns.timestamp else np.zeros(len(user), dtype=np.int64),
        user_features=tables["user"],
        item_features=tables["item"],
        vocabularies=vocab,
        source=str(path),
        timed=columns.timestamp is not None,
        item_text=item_text,
    )


def _first_text(values, item_codes: np.ndarray, first: dict[int, str]) -> None:
    """Records each item's first non-empty value of one text column in `first` (item code -> text)."""
    strings = values.astype("string").str.strip()
    present = (strings.notna() & (strings != "")).to_numpy(dtype=bool)
    rows = np.flatnonzero(present)
    for entity, row in zip(*np.unique(item_codes[rows], return_index=True)):
        first.setdefault(int(entity), str(strings.iloc[rows[row]]))


def _text_layout(path: Path, layout: Layout) -> _Text:
    """The separator (given, or sniffed from the first SNIFF_BYTES) and the column names pandas gets."""
    import csv

    try:
        with open(path, encoding="utf-8", newline="") as fh:
            sample = fh.read(SNIFF_BYTES)
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as text: {exc}") from None
    lines = sample.splitlines()
    if len(sample) == SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the cut may split the last line
    sep = layout.sep
    if sep is None:
        try:
            sep = csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=SNIFFED).delimiter
        except csv.Error:
            raise DataError(
                f"{path}: cannot tell the separator from the first lines (tried tab, comma, semicolon, pipe); "
                "pass --sep"
            ) from None
    if layout.header and layout.names is None:
        return _Text(sep, 0, None)
    width = len(lines[0].split(sep)) if lines else 0
    names = list(layout.names) if layout.names else [str(i) for i in range(1, width + 1)]
    if layout.names and len(names) != width:
        raise DataError(f"{path}: line 1 has {width} fields separated by {sep!r}; --columns names {len(names)}")
    return _Text(sep, None, names)


def _header(path: Path, text: _Text | None) -> list[str]:
    try:
        if text is None:
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(path).schema_arrow.names)
        return [str(c) for c in text.read_csv(path, nrows=0).columns]
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as {_kind(path, text)}: {exc}") from None


def _kind(path: Path, text: _Text | None) -> str:
    return "parquet" if text is None else f"text separated by {text.sep!r}"


def _side_columns(path: Path, header: list[str], given, prefix: str, excluded: list[str]) -> list[str]:
    """The side-feature columns named by `given`, or by default every `prefix` column but `excluded`."""
    if given is None:
        return [c for c in header if c.startswith(prefix) and c not in excluded]
    missing = [c for c in given if c not in header]
    if missing:
        raise DataError(f"{path}: missing feature column(s) {', '.join(missing)}; the file has: {', '.join(header)}")
    return list(given)


def _chunks(parts: list[Path], text: _Text | None, usecols: list[str], chunk_rows: int) -> Iterator:
    """(file, offset of the chunk's first row in that file, chunk) over every file in order."""
    import pandas as pd

    if text is None:
        for chunk in shards.chunks(parts, usecols, chunk_rows, first_rows=[0] * len(parts)):
            yield chunk.path, chunk.first_row, pd.DataFrame(chunk.columns)
        return
    path, offset = parts[0], 0
    try:
        for chunk in text.read_csv(path, usecols=usecols, dtype=str, keep_default_na=False, na_values=[""],
                                   chunksize=chunk_rows):
            yield path, offset, chunk
            offset += len(chunk)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as {_kind(path, text)}: {exc}") from None


def _validate(chunk, path: Path, columns: Columns, row_offset: int, text: _Text | None) -> None:
    """Names the first bad row (1-based file line for text files, counting a header line)."""
    import pandas as pd

    first_line = 1 if text is None or text.header is None else 2

    def line(index: int) -> int:
        return row_offset + index + first_line

    for column in (columns.user, columns.item):
        empty = chunk[column].isna().to_numpy()
        if empty.any():
            raise DataError(f"{path}: row {line(int(np.flatnonzero(empty)[0]))}: column '{column}' is empty")
    numeric = [c for c in (columns.timestamp, columns.label, columns.weight) if c]
    for column in numeric:
        parsed = pd.to_numeric(chunk[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(parsed)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{path}: row {line(first)}: column '{column}' must be a number. Received: {chunk[column].iloc[first]!r}"
            )
