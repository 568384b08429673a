"""Every way interactions enter edgerec, behind one function per use.

`prepare(source, path)` parses a raw source (for `edgerec data prepare`); `load(path)` takes
what `edgerec build --data` is given: a prepared folder or a plain interactions file.
"""

from __future__ import annotations

from pathlib import Path

from edgerec.data import criteo, files, movielens, prepared
from edgerec.data.schema import DataError, Interactions, LabeledRows

SOURCES = ("movielens", "csv", "parquet", "criteo")


def prepare(
    source: str,
    path: Path,
    min_rating: float | None = None,
    columns: files.Columns = files.Columns(),
    min_count: int = criteo.DEFAULT_MIN_COUNT,
    layout: files.Layout = files.Layout(),
) -> Interactions | LabeledRows:
    """`min_rating` and `columns` apply to interaction sources, `layout` to csv (text), `min_count` to criteo."""
    if source == "criteo":
        return criteo.load(path, min_count=min_count)
    if source == "movielens":
        return movielens.load(path, min_rating=min_rating)
    if source in ("csv", "parquet"):
        parquet = Path(path).suffix == files.PARQUET or Path(path).is_dir()
        if (source == "parquet") != parquet:
            expected = ("a .parquet file or a folder of .parquet shards" if source == "parquet"
                        else "a text file (any extension but .parquet)")
            raise DataError(f"{path}: --source {source} expects {expected}")
        return files.load_interactions(path, columns, layout=layout)
    raise DataError(f"unknown source '{source}'; expected one of {', '.join(SOURCES)}")


def load(path: Path) -> Interactions | LabeledRows:
    path = Path(path)
    if path.is_dir():
        if prepared.is_prepared(path):
            return prepared.load(path)
        raise DataError(
            f"{path}: a folder without {prepared.SCHEMA}; prepare it first: "
            f"edgerec data prepare --source movielens --path {path} --out DIR"
        )
    return files.load_interactions(path)
