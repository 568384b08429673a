"""The shape of a dataset in the terms of `shared/data/profiles.json`, measured the same way for
generated and real data, so a preset can be checked against the public dataset it imitates.

Ranking data: `RankingShape.of(interactions)`. Click logs: `ClickLogShape.of(values, labels)` on
the raw fields (before min-count vocabularies fold rare values into OOV), distinct values counted
among the non-empty ones.

Quantiles are numpy's default (linear interpolation). The Gini coefficient of item popularity
is the usual one over items sorted by count, `sum((2i - n - 1) x_i) / (n sum x)` with i = 1..n:
0 when every item is equally popular, near 1 when a few items take everything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgerec.data.schema import Interactions

EMPTY = -1  # a raw click-log value: the field is empty (raw values are >= 0)


@dataclass(frozen=True)
class Quantiles:
    min: float
    p10: float
    median: float
    p90: float
    max: float

    @classmethod
    def of(cls, counts: np.ndarray) -> Quantiles:
        values = np.quantile(counts, [0.0, 0.1, 0.5, 0.9, 1.0])
        return cls(*(float(v) for v in values))


@dataclass(frozen=True)
class RankingShape:
    """Sizes, activity and popularity skew of an interaction log (a profiles.json ranking entry)."""

    users: int
    items: int
    interactions: int
    per_user: Quantiles
    per_item: Quantiles
    item_popularity_gini: float
    share_of_interactions_on_top_1pct_items: float
    share_of_items_with_at_most_5_interactions: float
    users_with_fewer_than_2: int

    @property
    def density(self) -> float:
        return self.interactions / (self.users * self.items)

    @classmethod
    def of_counts(cls, per_user: np.ndarray, per_item: np.ndarray) -> RankingShape:
        """The shape of a log from its interactions per user and per item (no zero counts)."""
        ordered = np.sort(per_item).astype(np.float64)
        n = len(ordered)
        gini = float(np.sum((2 * np.arange(1, n + 1) - n - 1) * ordered) / (n * ordered.sum()))
        top = max(1, int(round(n / 100)))
        return cls(
            users=len(per_user),
            items=n,
            interactions=int(per_user.sum()),
            per_user=Quantiles.of(per_user),
            per_item=Quantiles.of(per_item),
            item_popularity_gini=gini,
            share_of_interactions_on_top_1pct_items=float(ordered[-top:].sum() / ordered.sum()),
            share_of_items_with_at_most_5_interactions=float(np.mean(per_item <= 5)),
            users_with_fewer_than_2=int(np.sum(per_user < 2)),
        )

    @classmethod
    def of(cls, data: Interactions) -> RankingShape:
        return cls.of_counts(np.bincount(data.user, minlength=data.num_users),
                             np.bincount(data.item, minlength=data.num_items))

    @classmethod
    def from_profile(cls, entry: dict) -> RankingShape:
        """A profiles.json ranking entry (its extra keys, e.g. `note`, are ignored)."""
        return cls(
            **{k: entry[k] for k in cls.__dataclass_fields__ if k not in ("per_user", "per_item")},
            per_user=Quantiles(**entry["per_user"]),
            per_item=Quantiles(**entry["per_item"]),
        )


@dataclass(frozen=True)
class ClickLogShape:
    """Rows, click rate, and per field the distinct values and the share of empty rows
    (a profiles.json click-log entry, integer and categorical fields together)."""

    rows: int
    click_rate: float
    distinct: dict[str, int]
    missing: dict[str, float]

    @classmethod
    def of(cls, values: dict[str, np.ndarray], labels: np.ndarray) -> ClickLogShape:
        """`values[name]`: one raw value per row, EMPTY where the field is empty."""
        return cls(
            rows=len(labels),
            click_rate=float(labels.mean()),
            distinct={n: len(np.unique(v[v != EMPTY])) for n, v in values.items()},
            missing={n: float(np.mean(v == EMPTY)) for n, v in values.items()},
        )

    @classmethod
    def from_profile(cls, entry: dict) -> ClickLogShape:
        integers = entry["integer_fields"]
        return cls(
            rows=entry["rows"],
            click_rate=entry["click_rate"],
            distinct={**{n: f["distinct"] for n, f in integers.items()}, **entry["categorical_cardinality"]},
            missing={**{n: f["missing"] for n, f in integers.items()}, **entry["categorical_missing"]},
        )
