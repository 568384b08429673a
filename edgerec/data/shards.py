"""Folders of Parquet shards: the ones `edgerec data prepare --shard-rows` writes, and the ones other
engines write (Spark's `part-00000-<uuid>.snappy.parquet`, Hive, pandas' `to_parquet(partition_cols=...)`
is not flat and is not read).

A shard folder is read as one table: its `*.parquet` files in name order (Spark's part numbers
keep the job's row order), skipping the bookkeeping files engines leave beside them (`_SUCCESS`,
`_committed_*`, `.part-*.crc`: every name starting with `_` or `.`). Reading goes record batch by
record batch, so a shard never has to fit in memory, and every row keeps its position in the
whole folder (`Chunk.first_row`): the streaming task names held-out rows by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from edgerec.data.schema import DataError
from edgerec.io import atomic_path

SUFFIX = ".parquet"
CHUNK_ROWS = 1 << 16


def files(folder: Path) -> list[Path]:
    """The folder's Parquet shards in name order; a folder without one is an error naming it."""
    folder = Path(folder)
    found = sorted(p for p in folder.iterdir() if p.suffix == SUFFIX and p.is_file() and p.name[0] not in "_.")
    if not found:
        raise DataError(f"{folder}: no {SUFFIX} files in this folder (expected shards such as part-00000{SUFFIX})")
    return found


def row_counts(paths: Sequence[Path]) -> np.ndarray:
    """Rows per shard, from the Parquet footers (nothing else is read)."""
    import pyarrow.parquet as pq

    counts = []
    for path in paths:
        try:
            counts.append(pq.ParquetFile(path).metadata.num_rows)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot be read as Parquet: {exc}") from None
    return np.asarray(counts, dtype=np.int64)


def part_name(index: int) -> str:
    return f"part-{index:05d}{SUFFIX}"


def write(columns: dict[str, np.ndarray], folder: Path, shard_rows: int) -> int:
    """Writes equal-length `columns` as shards of at most `shard_rows` rows into `folder` (each shard
    atomically, stale shards of an earlier write removed last); returns the number of shards."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = len(next(iter(columns.values())))
    count = max(1, -(-rows // shard_rows))
    for index in range(count):
        part = {name: values[index * shard_rows:(index + 1) * shard_rows] for name, values in columns.items()}
        with atomic_path(folder / part_name(index)) as tmp:
            pq.write_table(pa.table(part), tmp)
    written = {part_name(i) for i in range(count)}
    for stale in folder.glob(f"*{SUFFIX}"):
        if stale.name not in written:
            stale.unlink()
    return count


@dataclass(frozen=True)
class Chunk:
    """Consecutive rows of one shard: `first_row` is the first one's position in the whole folder."""

    path: Path
    first_row: int
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))


def chunks(paths: Sequence[Path], columns: Sequence[str], chunk_rows: int = CHUNK_ROWS,
           first_rows: Sequence[int] | None = None) -> Iterator[Chunk]:
    """The `columns` of `paths`, record batch by record batch; `first_rows` (default: from the footers)
    is each path's first row in the folder, so one shard can be read alone (a worker's share)."""
    import pyarrow.parquet as pq

    if first_rows is None:
        first_rows = np.r_[0, np.cumsum(row_counts(paths))[:-1]]
    for path, first in zip(paths, first_rows):
        try:
            reader = pq.ParquetFile(path)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot be read as Parquet: {exc}") from None
        missing = [c for c in columns if c not in reader.schema_arrow.names]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}; "
                            f"the shard has: {', '.join(reader.schema_arrow.names)}")
        offset = int(first)
        batches = reader.iter_batches(batch_size=chunk_rows, columns=list(columns))
        while True:
            try:
                batch = next(batches, None)
            except (OSError, ValueError) as exc:
                raise DataError(f"{path}: cannot be read as Parquet after row {offset - int(first)}: {exc}") from None
            if batch is None:
                break
            yield Chunk(path, offset, {name: batch.column(name).to_numpy(zero_copy_only=False) for name in columns})
            offset += batch.num_rows
