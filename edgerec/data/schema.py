"""The in-memory form every data source produces, before any split or sampling."""

from __future__ import annotations

import dataclasses

from dataclasses import dataclass

import numpy as np

from device_bench.errors import EdgerecError


class DataError(EdgerecError, ValueError):
    """Data that cannot make a ranking task; the message says what is wrong and where."""


@dataclass(frozen=True)
class FeatureSpec:
    """One categorical model input: its name (= the model input name), vocabulary size and owner.

    `owner` says which id the feature is looked up by ("user" or "item"), so that a candidate
    row for (user, item) can be assembled from per-user and per-item tables; "row" for
    user-less CTR data, where every row carries its own value (see `LabeledRows`).
    """

    name: str
    vocab_size: int
    owner: str

    def to_dict(self) -> dict:
        return {"name": self.name, "vocab_size": self.vocab_size, "owner": self.owner, "dtype": "int32"}


@dataclass(frozen=True)
class Interactions:
    """Implicit feedback with contiguous integer ids.

    user/item/timestamp are parallel arrays, one entry per interaction. Side features are
    per-entity tables: `user_features[name][u]` is user u's category index. `vocabularies`
    maps each feature to its raw values, index = model id, so an app can map raw ids.
    `timed` is False for a log without time (its timestamps are all 0): a split then cannot
    use time, and "the latest interaction" becomes a random one (see data/task.py).

    Item text, when the source has it: `item_text[i]` is item i's text (title, genres, ...) and
    `item_vectors[i]` its text embedding (float32, one row per item id), from the encoder or the
    file named by `item_vectors_from`. Vectors are what a text-aware teacher reads (`edgerec.text`);
    text without vectors is encoded when a build needs it. Both follow the item ids through every
    filter and re-indexing, as item side features do.
    """

    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray
    user_features: dict[str, np.ndarray]
    item_features: dict[str, np.ndarray]
    vocabularies: dict[str, list[str]]
    source: str
    timed: bool = True
    item_text: list[str] | None = None
    item_vectors: np.ndarray | None = None
    item_vectors_from: str = ""

    def items_taken(self, rows: np.ndarray, **changes) -> "Interactions":
        """These interactions with item-indexed text and vectors re-indexed by `rows` (old item id per
        new one, -1 for a row with no item: empty text, zero vector), and `changes` applied."""
        text = vectors = None
        if self.item_text is not None:
            text = [self.item_text[r] if r >= 0 else "" for r in rows]
        if self.item_vectors is not None:
            padded = np.vstack([self.item_vectors, np.zeros((1, self.item_vectors.shape[1]), np.float32)])
            vectors = padded[np.where(rows >= 0, rows, len(self.item_vectors))]
        return dataclasses.replace(self, item_text=text, item_vectors=vectors, **changes)

    @property
    def num_users(self) -> int:
        return len(self.vocabularies["user_id"])

    @property
    def num_items(self) -> int:
        return len(self.vocabularies["item_id"])

    def features(self) -> list[FeatureSpec]:
        """Model inputs in a fixed order: ids first, then user and item side features."""
        specs = [
            FeatureSpec("user_id", self.num_users, "user"),
            FeatureSpec("item_id", self.num_items, "item"),
        ]
        specs += [FeatureSpec(n, len(self.vocabularies[n]), "user") for n in self.user_features]
        specs += [FeatureSpec(n, len(self.vocabularies[n]), "item") for n in self.item_features]
        return specs


@dataclass(frozen=True)
class LabeledRows:
    """User-less labelled rows, e.g. Criteo display-ad impressions: each row is one example.

    `columns[name]` holds the model ids of one categorical input, int32, one per row, index 0
    the OOV value (see data/vocab.py); `labels` is 0/1 float32. Rows stay in file order, which
    for Criteo is time order, so a split can hold out the latest rows.
    """

    columns: dict[str, np.ndarray]
    labels: np.ndarray
    vocabularies: dict[str, list[str]]
    source: str
    label: str  # what a 1 means, for schema.json and the manifest

    def features(self) -> list[FeatureSpec]:
        """Model inputs in column order."""
        return [FeatureSpec(name, len(self.vocabularies[name]), "row") for name in self.columns]
