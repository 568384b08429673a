"""MovieLens in its three published layouts, read from files the user already has.

| layout | ratings | users | items |
| 100K   | `u.data` (tab: user item rating ts) | `u.user` (`|`: id age gender occupation zip) | `u.item` (`|`, Latin-1: id title ... 19 genre flags) |
| 1M     | `ratings.dat` (`::`) | `users.dat` (`::`: id gender age occupation zip) | `movies.dat` (`::`, Latin-1: id title genres) |
| latest | `ratings.csv` (userId,movieId,rating,timestamp) | — | `movies.csv` (movieId,title,genres) |

Every rating is an interaction (the NCF convention: rating a movie means watching it);
`min_rating` keeps only ratings at or above a threshold. Side features: user gender, age
and occupation where the layout has them, and the item's first listed genre. Item text is the
title and every listed genre ("Toy Story (1995). Animation, Children's, Comedy"), so a text
encoder sees what a person browsing the catalogue sees; items missing from the items file get "".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgerec.data.schema import DataError, Interactions

GENRES_100K = (
    "unknown Action Adventure Animation Children's Comedy Crime Documentary Drama Fantasy "
    "Film-Noir Horror Musical Mystery Romance Sci-Fi Thriller War Western"
).split()


def detect(folder: Path) -> str:
    """Which layout `folder` holds: "100k", "1m" or "latest"."""
    for name, layout in (("u.data", "100k"), ("ratings.dat", "1m"), ("ratings.csv", "latest")):
        if (folder / name).is_file():
            return layout
    raise DataError(f"{folder}: not a MovieLens folder (expected u.data, ratings.dat or ratings.csv in it)")


def load(folder: Path, min_rating: float | None = None) -> Interactions:
    import pandas as pd

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder (point --path at the unpacked MovieLens folder)")
    layout = detect(folder)
    if layout == "100k":
        ratings = _read(folder / "u.data", sep="\t", names=["user", "item", "rating", "timestamp"])
        users = _read(folder / "u.user", sep="|", names=["user", "age", "gender", "occupation", "zip"], optional=True)
        items = _read(folder / "u.item", sep="|", names=["item", "title", "date", "video", "url", *GENRES_100K],
                      optional=True)
        if items is not None:
            flags = items[GENRES_100K].to_numpy()
            items["genre"] = np.asarray(GENRES_100K)[flags.argmax(axis=1)]
            if users is not None:
                users["age"] = pd.cut(users["age"], [0, 18, 25, 35, 45, 50, 56, 200], right=False).astype(str)
    elif layout == "1m":
        ratings = _read(folder / "ratings.dat", sep="::", names=["user", "item", "rating", "timestamp"])
        users = _read(folder / "users.dat", sep="::", names=["user", "gender", "age", "occupation", "zip"],
                      optional=True)
        items = _read(folder / "movies.dat", sep="::", names=["item", "title", "genres"], optional=True)
    else:
        ratings = _read(folder / "ratings.csv", sep=",", header=0,
                        rename={"userId": "user", "movieId": "item"}, needed=["userId", "movieId", "rating", "timestamp"])
        users = None
        items = _read(folder / "movies.csv", sep=",", header=0, rename={"movieId": "item"},
                      needed=["movieId", "genres"], optional=True)
    if items is not None and "genres" in items:
        items["genre"] = items["genres"].astype(str).str.split("|").str[0]
    text = None if items is None else _item_text(items, layout)
    if min_rating is not None:
        ratings = ratings[ratings["rating"] >= min_rating]
        if ratings.empty:
            raise DataError(f"{folder}: no rating is >= {min_rating} (--min-rating)")
    user_tables = {} if users is None else {f"user_{c}": users.set_index("user")[c] for c in ("gender", "age", "occupation")}
    item_tables = {} if items is None else {"item_genre": items.set_index("item")["genre"]}
    return from_frame(ratings, user_tables, item_tables, source=f"movielens-{layout}:{folder}", item_text=text)


def from_frame(ratings, user_tables: dict, item_tables: dict, source: str, item_text=None) -> Interactions:
    """Encodes raw ids to contiguous model ids and side-feature tables indexed by them.

    Entities missing from a side table get the value "<unknown>" rather than failing, and
    items missing from `item_text` (a Series indexed by raw item id) get the empty text.
    """
    import pandas as pd

    user, user_vocab = pd.factorize(ratings["user"], sort=True)
    item, item_vocab = pd.factorize(ratings["item"], sort=True)
    vocab = {"user_id": [str(v) for v in user_vocab], "item_id": [str(v) for v in item_vocab]}
    tables = {}
    for owner_vocab, raw_tables in ((user_vocab, user_tables), (item_vocab, item_tables)):
        for name, series in raw_tables.items():
            series = series[~series.index.duplicated()]
            values = series.reindex(owner_vocab).fillna("<unknown>").astype(str)
            codes, feature_vocab = pd.factorize(values, sort=True)
            tables[name] = codes.astype(np.int32)
            vocab[name] = [str(v) for v in feature_vocab]
    text = None
    if item_text is not None:
        text = item_text[~item_text.index.duplicated()].reindex(item_vocab).fillna("").astype(str).tolist()
    return Interactions(
        user=user.astype(np.int32),
        item=item.astype(np.int32),
        timestamp=ratings["timestamp"].to_numpy().astype(np.int64),
        user_features={k: tables[k] for k in user_tables},
        item_features={k: tables[k] for k in item_tables},
        vocabularies=vocab,
        source=source,
        item_text=text,
    )


NO_GENRE = ("unknown", "(no genres listed)")  # what 100K and latest write for a movie without a genre


def _item_text(items, layout: str):
    """Title and genres per raw item id: "Toy Story (1995). Animation, Children's, Comedy"."""
    import pandas as pd

    if layout == "100k":
        flags = items[GENRES_100K].to_numpy() == 1
        genres = pd.Series([[g for g, on in zip(GENRES_100K, row) if on] for row in flags], index=items.index)
    elif "genres" in items:
        genres = items["genres"].fillna("").astype(str).str.split("|")
    else:
        genres = pd.Series([[]] * len(items), index=items.index)
    titles = items["title"].fillna("").astype(str).str.strip() if "title" in items else pd.Series("", index=items.index)
    text = [
        ". ".join(part for part in (title, ", ".join(g for g in kinds if g and g not in NO_GENRE)) if part)
        for title, kinds in zip(titles, genres)
    ]
    return pd.Series(text, index=items["item"].to_numpy())


def _read(path: Path, sep: str, names=None, header=None, rename=None, needed=(), optional=False):
    import pandas as pd

    if not path.is_file():
        if optional:
            return None
        raise DataError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, sep=sep, names=names, header=header, encoding="latin-1",
                            engine="python" if len(sep) > 1 else "c")
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: cannot be read with separator {sep!r}: {exc}") from None
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; the file has: {', '.join(map(str, frame.columns))}")
    frame = frame.rename(columns=rename or {})
    for column in ("user", "item", "timestamp"):
        if column in frame and not pd.api.types.is_integer_dtype(frame[column]):
            bad = pd.to_numeric(frame[column], errors="coerce").isna() | (
                pd.to_numeric(frame[column], errors="coerce") % 1 != 0
            )
            row = int(np.flatnonzero(bad.to_numpy())[0]) if bad.any() else 0
            raise DataError(
                f"{path}: line {row + 1 + (header is not None)}: column '{column}' must be an integer. "
                f"Received: {frame[column].iloc[row]!r} (wrong separator? this layout uses {sep!r})"
            )
    return frame
