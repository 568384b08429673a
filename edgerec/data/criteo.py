"""Criteo display-ads logs (the Kaggle / Terabyte TSV layout), read in bounded memory.

Each line is one ad impression, 40 tab-separated fields and no header:

    label  I1 .. I13  C1 .. C26
    0/1    integer counts (empty = missing; some, e.g. I2, go negative)
           26 hashed categoricals, 8 hex digits (empty = missing)

Every model input in edgerec is an int32 id looked up in an embedding table (the models and
the full-integer int8 TFLite path are embedding-only), so the integer features are turned
into categories too, with the transform of the Kaggle-winning field-aware FM solution
(Juan et al., "Field-aware Factorization Machines in a Real-world Online Advertising
System", 2016; their public preprocessing code): a value v > 2 becomes floor(ln(v)^2), any
other value stays as it is, and an empty field is its own value `<missing>`. The squared log
keeps the small counts that carry most of the signal apart (0, 1, 2, 3-4, 5-7, ...) while
folding the long tail of large counts into a few dozen buckets, so each bucket is seen often
enough to learn an embedding. As in that code, a transformed value and an untransformed one
that print the same share one category (3 -> 1 joins 1).

All 39 features then get min-count vocabularies: values seen fewer than `min_count` times
(default 10, the threshold of Juan et al.) share the OOV index 0, the project's convention
(data/vocab.py), so an app maps rare and unseen values alike. Vocabularies are sorted by raw
value, so ids do not depend on the chunk size.

The file is read `CHUNK_ROWS` lines at a time: memory holds one chunk of strings, the
growing vocabularies and one int32 column per feature, never the whole file as text.
"""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

import numpy as np

from edgerec.data.files import Encoder
from edgerec.data.schema import DataError, LabeledRows
from edgerec.data.vocab import frequent_codes

LABEL = "label"
INTEGER_FEATURES = tuple(f"I{i}" for i in range(1, 14))
CATEGORICAL_FEATURES = tuple(f"C{i}" for i in range(1, 27))
FIELDS = (LABEL, *INTEGER_FEATURES, *CATEGORICAL_FEATURES)
MISSING = "<missing>"
DEFAULT_MIN_COUNT = 10
CHUNK_ROWS = 100_000  # 40 string fields a row: about 4M Python strings per chunk
LABEL_DEFINITION = "click: 1 if the displayed ad was clicked, 0 if not (column 0 of the Criteo TSV)"


def transform_integers(values: np.ndarray) -> np.ndarray:
    """Criteo integer features as category strings: floor(ln(v)^2) for v > 2, v itself otherwise.

    `values` is float64 with NaN for an empty field, which becomes `MISSING`.
    """
    missing = np.isnan(values)
    safe = np.where(missing, 0.0, values)
    bucket = np.where(safe > 2, np.floor(np.log(np.maximum(safe, 1.0)) ** 2), safe).astype(np.int64)
    tokens = bucket.astype(str).astype(object)
    tokens[missing] = MISSING
    return tokens


def load(path: Path, min_count: int = DEFAULT_MIN_COUNT, chunk_rows: int = CHUNK_ROWS) -> LabeledRows:
    """Reads a Criteo TSV into model ids; see the module docstring for the encoding."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected a Criteo display-ads .tsv/.txt file)")
    encoders = {name: Encoder() for name in FIELDS[1:]}
    codes: dict[str, list[np.ndarray]] = {name: [] for name in encoders}
    labels = []
    first_line = 1
    for chunk in _chunks(path, chunk_rows):
        labels.append(_labels(chunk, path, first_line))
        for name in INTEGER_FEATURES:
            codes[name].append(encoders[name].encode(_integers(chunk, name, path, first_line)).astype(np.int32))
        for name in CATEGORICAL_FEATURES:
            values = chunk[name].fillna(MISSING).to_numpy(dtype=object)
            codes[name].append(encoders[name].encode(values).astype(np.int32))
        first_line += len(chunk)
    if not labels:
        raise DataError(f"{path}: no rows (expected tab-separated lines: label, I1..I13, C1..C26)")
    columns, vocab = {}, {}
    for name, encoder in encoders.items():
        seen = np.concatenate(codes.pop(name))
        remap, values = encoder.finish()
        counts = np.zeros(len(values), dtype=np.int64)
        counts[remap] = np.bincount(seen, minlength=len(values))
        new_code, vocab[name] = frequent_codes(counts, values, min_count)
        columns[name] = new_code[remap[seen]]
    return LabeledRows(
        columns=columns,
        labels=np.concatenate(labels),
        vocabularies=vocab,
        source=f"criteo:{path}",
        label=LABEL_DEFINITION,
    )


def _chunks(path: Path, chunk_rows: int):
    """DataFrames of `chunk_rows` lines, all fields as strings (NaN when empty), after checking
    every line has exactly 40 tab-separated fields."""
    import pandas as pd

    first_line = 1
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            while lines := list(itertools.islice(fh, chunk_rows)):
                fields = np.fromiter((line.count("\t") + 1 for line in lines), dtype=np.int64, count=len(lines))
                bad = np.flatnonzero(fields != len(FIELDS))
                if bad.size:
                    _wrong_field_count(path, first_line + int(bad[0]), lines[bad[0]], int(fields[bad[0]]))
                yield pd.read_csv(io.StringIO("".join(lines)), sep="\t", header=None, names=FIELDS, dtype=str,
                                  keep_default_na=False, na_values=[""], quoting=csv.QUOTE_NONE,
                                  skip_blank_lines=False)
                first_line += len(lines)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: cannot be read as UTF-8 text after line {first_line - 1}: {exc}") from None


def _wrong_field_count(path: Path, line: int, text: str, found: int) -> None:
    hint = ""
    if found == 1 and "," in text:
        hint = " (comma-separated? Criteo files are tab-separated)"
    raise DataError(
        f"{path}: line {line}: expected {len(FIELDS)} tab-separated fields (label, I1..I13, C1..C26), "
        f"found {found}{hint}"
    )


def _labels(chunk, path: Path, first_line: int) -> np.ndarray:
    raw = chunk[LABEL]
    bad = np.flatnonzero(~raw.isin(["0", "1"]).to_numpy())
    if bad.size:
        raise DataError(
            f"{path}: line {first_line + int(bad[0])}: column '{LABEL}' (field 1) must be 0 or 1. "
            f"Received: {_shown(raw.iloc[bad[0]])}"
        )
    return (raw.to_numpy() == "1").astype(np.float32)


def _shown(value) -> str:
    return "an empty field" if not isinstance(value, str) else repr(value)


def _integers(chunk, name: str, path: Path, first_line: int) -> np.ndarray:
    """Column `name` as category strings; a value that is present but not an integer is an error."""
    import pandas as pd

    raw = chunk[name]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    integer = np.isfinite(values)
    integer[integer] = values[integer] % 1 == 0
    bad = np.flatnonzero(raw.notna().to_numpy() & ~integer)
    if bad.size:
        raise DataError(
            f"{path}: line {first_line + int(bad[0])}: column '{name}' (field {FIELDS.index(name) + 1}) must be an "
            f"integer or empty. Received: {raw.iloc[bad[0]]!r}"
        )
    return transform_integers(values)
