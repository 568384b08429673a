"""The latent-factor generator of implicit feedback behind every ranking preset.

It is shaped like MovieLens-style logs rather than like noise:
- users and items have latent factors (dim 24); a user's taste is driven by their age bucket
  and region, an item's factors by its category, so side features carry signal;
- item popularity falls with rank (Zipf-like), and cheap items are more popular;
- two feature crosses (age x category, region x price) add non-linear affinity that a model
  must learn from the feature interaction, not from either feature alone;
- every item has a short text whose words come from topics tied to its latent factors
  (`text`), so a text-aware teacher has something to read that the ids alone do not say;
- each user picks items by Gumbel-top-k sampling from softmax(affinity), with a log-normal
  number of interactions, and the picks get increasing timestamps.
The latent dimension is larger than a small student's embedding, so a wide teacher can fit
structure that a small model trained alone cannot: that gap is what distillation is for.

A preset (`SyntheticSize`) sets the sizes and two skews: the spread of activity per user and
the popularity exponent. Items nobody picked are then dropped, as a real log only holds items
someone interacted with. Presets of datasets without side features still draw them (they
shape the latent factors) but leave them out of the data, which then ranks on ids alone.
Deterministic for a given (preset, seed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgerec.data.schema import Interactions
from edgerec.data.synthetic.shape import RankingShape
from edgerec.data.synthetic.text import item_texts

LATENT_DIM = 24
AGE_BUCKETS = 7
REGIONS = 10
CATEGORIES = 18
PRICE_BUCKETS = 5


@dataclass(frozen=True)
class SyntheticSize:
    """One ranking preset.

    Interactions per user: log-normal with mean `mean_per_user` and log-sd `activity_sigma`,
    truncated to an integer and clipped to [min_per_user, max_per_user]; with `exact_mean`
    the draws are first scaled so that the clipped counts average `mean_per_user` exactly, so
    the total does not swing with the seed (the built-in presets predate it and keep their data).
    Item popularity: weight (1 + rank)^-popularity_exponent * exp(-popularity_decay * rank / items)
    over a random item order: the power law makes a head, the exponential a long thin tail.
    `items` is how many are generated, before unpicked ones are dropped. Users with fewer than
    `min_kept` interactions are dropped after generation. `preference_scale` weighs the user's
    taste (latent factors and feature crosses) against item popularity: it sets how much better
    than popularity a personal model can rank, which the shape alone does not fix. `user_features` / `item_features`:
    whether the data carries them. `target`: the shape of the public dataset imitated, if any.
    """

    users: int
    items: int
    mean_per_user: float
    min_per_user: int
    max_per_user: int
    activity_sigma: float = 0.8
    popularity_exponent: float = 1.0
    popularity_decay: float = 0.0
    exact_mean: bool = False
    user_features: bool = True
    item_features: bool = True
    min_kept: int = 1
    preference_scale: float = 1.0
    target: RankingShape | None = None


def generate(spec: SyntheticSize, name: str, seed: int) -> Interactions:
    """Interactions of preset `spec` (called `name` in the data's source); see the module docstring."""
    rng = np.random.default_rng(seed)
    d = LATENT_DIM

    age = rng.choice(AGE_BUCKETS, size=spec.users, p=_normalised(rng.uniform(0.5, 2.0, AGE_BUCKETS)))
    region = rng.choice(REGIONS, size=spec.users, p=_normalised(rng.uniform(0.5, 2.0, REGIONS)))
    user_latent = (
        rng.normal(0, 0.7, (AGE_BUCKETS, d))[age]
        + rng.normal(0, 0.5, (REGIONS, d))[region]
        + rng.normal(0, 0.8, (spec.users, d))
    )

    category = rng.choice(CATEGORIES, size=spec.items, p=_normalised(rng.uniform(0.3, 3.0, CATEGORIES)))
    price = rng.integers(0, PRICE_BUCKETS, size=spec.items)
    item_latent = rng.normal(0, 0.8, (CATEGORIES, d))[category] + rng.normal(0, 0.7, (spec.items, d))

    # Popularity by rank over a random item order (see SyntheticSize); cheaper items get a further boost.
    popularity_rank = rng.permutation(spec.items)
    popularity = (-spec.popularity_exponent * np.log1p(popularity_rank)
                  - spec.popularity_decay * popularity_rank / spec.items - 0.25 * price)

    age_x_category = rng.normal(0, 1.0, (AGE_BUCKETS, CATEGORIES))
    region_x_price = rng.normal(0, 0.7, (REGIONS, PRICE_BUCKETS))

    sigma = spec.activity_sigma
    draws = rng.lognormal(np.log(spec.mean_per_user) - sigma**2 / 2, sigma, spec.users)
    counts = _exact_mean(draws, spec) if spec.exact_mean else _clipped(draws, spec)

    users, items = [], []
    scale = 1.0 / np.sqrt(d)
    for start in range(0, spec.users, 512):
        block = slice(start, min(start + 512, spec.users))
        affinity = (
            spec.preference_scale * (
                2.0 * np.tanh(user_latent[block] @ item_latent.T * scale)
                + age_x_category[age[block]][:, category]
                + region_x_price[region[block]][:, price]
            )
            + popularity
        )
        noisy = affinity + rng.gumbel(size=affinity.shape)
        for row, u in enumerate(range(block.start, block.stop)):
            chosen = np.argpartition(-noisy[row], counts[u])[: counts[u]]
            users.append(np.full(counts[u], u, dtype=np.int32))
            items.append(rng.permutation(chosen).astype(np.int32))
    user = np.concatenate(users)
    item = np.concatenate(items)

    # Each user is active from a random start, with exponential gaps between interactions.
    start_time = rng.integers(946_684_800, 1_009_843_200, size=spec.users)  # 2000-01-01 .. 2002-01-01
    gaps = rng.exponential(3600.0 * 6, size=len(user)).astype(np.int64) + 1
    first = np.r_[0, np.cumsum(counts)[:-1]]
    cumulative = np.cumsum(gaps)
    timestamp = start_time[user] + cumulative - (cumulative[first] - gaps[first])[user]

    kept_user = counts >= spec.min_kept
    rows = kept_user[user]
    seen_item = np.bincount(item[rows], minlength=spec.items) > 0
    new_user = (np.cumsum(kept_user) - 1).astype(np.int32)
    new_item = (np.cumsum(seen_item) - 1).astype(np.int32)
    user_features = {"user_age": age, "user_region": region} if spec.user_features else {}
    item_features = {"item_category": category, "item_price": price} if spec.item_features else {}
    side_values = {
        "user_age": [f"age_{a}" for a in range(AGE_BUCKETS)],
        "user_region": [f"region_{r}" for r in range(REGIONS)],
        "item_category": [f"category_{c}" for c in range(CATEGORIES)],
        "item_price": [f"price_{p}" for p in range(PRICE_BUCKETS)],
    }
    vocab = {
        "user_id": [str(u) for u in range(int(kept_user.sum()))],
        "item_id": [str(i) for i in range(int(seen_item.sum()))],
        **{n: side_values[n] for n in (*user_features, *item_features)},
    }
    return Interactions(
        user=new_user[user[rows]],
        item=new_item[item[rows]],
        timestamp=timestamp[rows].astype(np.int64),
        user_features={n: t[kept_user].astype(np.int32) for n, t in user_features.items()},
        item_features={n: t[seen_item].astype(np.int32) for n, t in item_features.items()},
        vocabularies=vocab,
        source=f"synthetic:{name}:seed={seed}",
        item_text=[text for text, seen in zip(item_texts(item_latent, seed), seen_item) if seen],
    )


def _clipped(draws: np.ndarray, spec: SyntheticSize) -> np.ndarray:
    return np.clip(draws.astype(int), spec.min_per_user, spec.max_per_user)


def _exact_mean(draws: np.ndarray, spec: SyntheticSize) -> np.ndarray:
    """The draws scaled, before clipping, so that the clipped counts average `mean_per_user`
    (within one interaction in total): the scale is found by bisection in log space."""
    low, high = -3.0, 3.0
    for _ in range(60):
        middle = (low + high) / 2
        if _clipped(draws * np.exp(middle), spec).mean() < spec.mean_per_user:
            low = middle
        else:
            high = middle
    return _clipped(draws * np.exp(high), spec)


def _normalised(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum()
