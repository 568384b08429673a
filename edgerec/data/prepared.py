"""A prepared dataset folder: what `edgerec data prepare` writes and `edgerec build --data` reads.

Two kinds, recorded as `kind` in schema.json (a schema without it is "interactions"):

interactions (implicit feedback: MovieLens, generic CSV / Parquet)
    interactions.parquet   user, item (model ids), timestamp (absent when schema.json says "timed": false);
                           with `--shard-rows N` (schema.json "shard_rows": N) a folder interactions/ of
                           part-00000.parquet ... of at most N rows each instead (data/shards.py), which
                           a streaming teacher reads without loading them (data/stream.py)
    users.parquet          user side features, row = user id (absent when there are none)
    items.parquet          item side features, row = item id (absent when there are none)
    item_text.parquet      item (model id), text: title, genres, ... (absent when the source has no item text)
    item_vectors.npy       float32 (items, dim), row = item id: the items' text vectors, encoded once or read
                           from --item-embeddings (absent when there are none)
ctr (labelled rows without users: Criteo)
    rows.parquet           label (0/1) and one model-id column per feature, in file (time) order (a
                           folder rows/ of shards with --shard-rows)
both
    vocab/<feature>.txt    raw value per line; line number = model id
    schema.json            kind, source, counts, features (name, vocab size, owner), label definition;
                           for interactions also "item_text" (true/false) and "item_vectors"
                           ({"dim", "from": encoder or file}, or null)

Preparing once and building many times keeps parsing (and its errors) out of training runs.
`schema.json` is written last, so a folder without it is an unfinished prepare, not a dataset.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from edgerec import io
from edgerec.data import shards
from edgerec.data.schema import DataError, Interactions, LabeledRows

SCHEMA = "schema.json"
KINDS = ("interactions", "ctr")
ITEM_TEXT = "item_text.parquet"
ITEM_VECTORS = "item_vectors.npy"


INTERACTIONS = "interactions"  # the log's table: <name>.parquet, or the folder <name>/ of shards
ROWS = "rows"  # a CTR dataset's table, likewise


def save(data: Interactions | LabeledRows, out: Path, shard_rows: int | None = None) -> dict:
    """Writes the prepared folder; the log (interactions or CTR rows) as one Parquet file, or as shards
    of at most `shard_rows` rows."""
    import pandas as pd

    out = Path(out)
    if isinstance(data, LabeledRows):
        log = (ROWS, {"label": data.labels, **data.columns})
        frames = {}
        counts = {"kind": "ctr", "rows": int(len(data.labels)), "click_rate": round(float(data.labels.mean()), 6)}
        label = data.label
    else:
        log = (INTERACTIONS, {"user": data.user, "item": data.item} | ({"timestamp": data.timestamp} if data.timed else {}))
        frames = {}
        if data.user_features:
            frames["users.parquet"] = pd.DataFrame(data.user_features)
        if data.item_features:
            frames["items.parquet"] = pd.DataFrame(data.item_features)
        if data.item_text is not None:
            frames[ITEM_TEXT] = pd.DataFrame({"item": np.arange(data.num_items, dtype=np.int32),
                                              "text": pd.Series(data.item_text, dtype=str)})
        vectors = None
        if data.item_vectors is not None:
            vectors = {"dim": int(data.item_vectors.shape[1]), "from": data.item_vectors_from}
            with io.atomic_path(out / ITEM_VECTORS) as tmp, open(tmp, "wb") as fh:
                np.save(fh, data.item_vectors.astype(np.float32), allow_pickle=False)
        counts = {"kind": "interactions", "interactions": int(len(data.user)), "users": data.num_users,
                  "items": data.num_items, "timed": data.timed, "item_text": data.item_text is not None,
                  "item_vectors": vectors}
        label = "implicit feedback: every interaction is a positive"
    _write_log(out, *log, shard_rows)
    for name, frame in frames.items():
        with io.atomic_path(out / name) as tmp:
            frame.to_parquet(tmp, index=False)
    for feature, values in data.vocabularies.items():
        io.write_text(out / "vocab" / f"{feature}.txt", "\n".join(values) + "\n")
    schema = {
        "format": 1,
        "source": data.source,
        **counts,
        "shard_rows": shard_rows,
        "features": [f.to_dict() for f in data.features()],
        "label": label,
    }
    io.write_json(out / SCHEMA, schema)
    return schema


def _write_log(out: Path, name: str, columns: dict[str, np.ndarray], shard_rows: int | None) -> None:
    import pandas as pd

    single, folder = out / f"{name}{shards.SUFFIX}", out / name
    if shard_rows is None:
        with io.atomic_path(single) as tmp:
            pd.DataFrame(columns).to_parquet(tmp, index=False)
        shutil.rmtree(folder, ignore_errors=True)  # an earlier sharded prepare into the same folder
    else:
        shards.write(columns, folder, shard_rows)
        single.unlink(missing_ok=True)


def log_path(folder: Path, schema: dict) -> Path:
    """The prepared log: the Parquet file, or the folder of shards when the schema says `shard_rows`."""
    name = INTERACTIONS if schema.get("kind", "interactions") == "interactions" else ROWS
    return Path(folder) / (name if schema.get("shard_rows") else f"{name}{shards.SUFFIX}")


def read_schema(folder: Path) -> dict:
    """schema.json of a prepared folder, or a DataError naming it."""
    folder = Path(folder)
    try:
        schema = json.loads((folder / SCHEMA).read_text())
        schema["features"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{folder / SCHEMA}: not a prepared dataset schema ({exc})") from None
    kind = schema.get("kind", "interactions")
    if kind not in KINDS:
        raise DataError(f"{folder / SCHEMA}: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    return schema


def _read_log(folder: Path, schema: dict):
    import pandas as pd

    path = log_path(folder, schema)
    if not schema.get("shard_rows"):
        return pd.read_parquet(path)
    return pd.concat([pd.read_parquet(part) for part in shards.files(path)], ignore_index=True)


def is_prepared(folder: Path) -> bool:
    return (Path(folder) / SCHEMA).is_file()


def load(folder: Path) -> Interactions | LabeledRows:
    """The whole prepared dataset in memory."""
    return _load(Path(folder), with_log=True)


def catalogue(folder: Path) -> Interactions:
    """An interactions folder's users and items (vocabularies, side features, item text and vectors)
    without its log: no interaction is read. The streaming task reads the log shard by shard."""
    folder = Path(folder)
    if read_schema(folder).get("kind", "interactions") != "interactions":
        raise DataError(f"{folder}: a CTR dataset; streaming training reads interaction data only")
    return _load(folder, with_log=False)


def _load(folder: Path, with_log: bool) -> Interactions | LabeledRows:
    import pandas as pd

    schema = read_schema(folder)
    features, kind = schema["features"], schema.get("kind", "interactions")
    vocab = _vocabularies(folder, features)
    if kind == "ctr":
        frame = _read_log(folder, schema)
        return LabeledRows(
            columns={f["name"]: frame[f["name"]].to_numpy().astype(np.int32) for f in features},
            labels=frame["label"].to_numpy().astype(np.float32),
            vocabularies=vocab,
            source=schema["source"],
            label=schema["label"],
        )
    if with_log:
        interactions = _read_log(folder, schema)
    else:
        interactions = pd.DataFrame({"user": np.zeros(0, np.int32), "item": np.zeros(0, np.int32),
                                     "timestamp": np.zeros(0, np.int64)})
    tables = {}
    for owner, name in (("user", "users.parquet"), ("item", "items.parquet")):
        wanted = [f["name"] for f in features if f["owner"] == owner and not f["name"].endswith("_id")]
        frame = pd.read_parquet(folder / name) if wanted else None
        tables[owner] = {n: frame[n].to_numpy().astype(np.int32) for n in wanted}
    timed = bool(schema.get("timed", True))
    items = len(vocab["item_id"])
    return Interactions(
        user=interactions["user"].to_numpy().astype(np.int32),
        item=interactions["item"].to_numpy().astype(np.int32),
        timestamp=(interactions["timestamp"].to_numpy() if timed else np.zeros(len(interactions))).astype(np.int64),
        user_features=tables["user"],
        item_features=tables["item"],
        vocabularies=vocab,
        source=schema["source"],
        timed=timed,
        item_text=_item_text(folder, items) if schema.get("item_text") else None,
        item_vectors=_item_vectors(folder, items, schema["item_vectors"]) if schema.get("item_vectors") else None,
        item_vectors_from=(schema.get("item_vectors") or {}).get("from", ""),
    )


def _item_text(folder: Path, items: int) -> list[str]:
    import pandas as pd

    path = folder / ITEM_TEXT
    try:
        frame = pd.read_parquet(path, columns=["item", "text"])
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: cannot be read as item text (columns item, text): {exc}") from None
    if not np.array_equal(frame["item"].to_numpy(), np.arange(items)):
        raise DataError(f"{path}: expected {items} rows, items 0..{items - 1} in order, as vocab/item_id.txt has; "
                        f"got {len(frame)} rows")
    return frame["text"].fillna("").astype(str).tolist()


def _item_vectors(folder: Path, items: int, meta: dict) -> np.ndarray:
    path = folder / ITEM_VECTORS
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot be read as a .npy matrix: {exc}") from None
    expected = (items, meta.get("dim"))
    if vectors.shape != expected or vectors.dtype != np.float32:
        raise DataError(f"{path}: expected float32 of shape {expected} (items as vocab/item_id.txt has, dim as "
                        f"schema.json says); got {vectors.dtype} of shape {vectors.shape}")
    return vectors


def _vocabularies(folder: Path, features: list[dict]) -> dict[str, list[str]]:
    vocab = {}
    for feature in features:
        path = folder / "vocab" / f"{feature['name']}.txt"
        vocab[feature["name"]] = path.read_text().splitlines() if path.is_file() else []
        if len(vocab[feature["name"]]) != feature["vocab_size"]:
            raise DataError(f"{path}: expected {feature['vocab_size']} lines as schema.json says")
    return vocab
