"""A built-in implicit-feedback generator, so edgerec runs with no data download.

It is shaped like MovieLens-style logs rather than like noise:
- users and items have latent factors (dim 24); a user's taste is driven by their age bucket
  and region, an item's factors by its category, so side features carry signal;
- item popularity follows a power law (Zipf-like), and cheap items are more popular;
- two feature crosses (age x category, region x price) add non-linear affinity that a model
  must learn from the feature interaction, not from either feature alone;
- each user picks items by Gumbel-top-k sampling from softmax(affinity), with a log-normal
  number of interactions, and the picks get increasing timestamps.
The latent dimension is larger than a small student's embedding, so a wide teacher can fit
structure that a small model trained alone cannot: that gap is what distillation is for.
Deterministic for a given (size, seed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgerec.data.schema import Interactions


@dataclass(frozen=True)
class SyntheticSize:
    users: int
    items: int
    mean_per_user: float
    min_per_user: int


SIZES = {
    # About MovieLens-1M: 6,040 users, 3,706 items, ~1M interactions.
    "default": SyntheticSize(users=6040, items=3700, mean_per_user=165.0, min_per_user=20),
    "smoke": SyntheticSize(users=300, items=200, mean_per_user=30.0, min_per_user=8),
}

LATENT_DIM = 24
AGE_BUCKETS = 7
REGIONS = 10
CATEGORIES = 18
PRICE_BUCKETS = 5


def generate(size: str = "default", seed: int = 0) -> Interactions:
    """Generates interactions of the named size; see the module docstring for the model."""
    if size not in SIZES:
        raise ValueError(f"unknown synthetic size {size!r}; expected one of {sorted(SIZES)}")
    spec = SIZES[size]
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

    # Power-law popularity over a random item order; cheaper items get a further boost.
    popularity_rank = rng.permutation(spec.items)
    popularity = -1.0 * np.log1p(popularity_rank) - 0.25 * price

    age_x_category = rng.normal(0, 1.0, (AGE_BUCKETS, CATEGORIES))
    region_x_price = rng.normal(0, 0.7, (REGIONS, PRICE_BUCKETS))

    counts = rng.lognormal(np.log(spec.mean_per_user) - 0.32, 0.8, spec.users)
    counts = np.clip(counts.astype(int), spec.min_per_user, spec.items // 3)

    users, items = [], []
    scale = 1.0 / np.sqrt(d)
    for start in range(0, spec.users, 512):
        block = slice(start, min(start + 512, spec.users))
        affinity = (
            2.0 * np.tanh(user_latent[block] @ item_latent.T * scale)
            + age_x_category[age[block]][:, category]
            + region_x_price[region[block]][:, price]
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

    vocab = {
        "user_id": [str(u) for u in range(spec.users)],
        "item_id": [str(i) for i in range(spec.items)],
        "user_age": [f"age_{a}" for a in range(AGE_BUCKETS)],
        "user_region": [f"region_{r}" for r in range(REGIONS)],
        "item_category": [f"category_{c}" for c in range(CATEGORIES)],
        "item_price": [f"price_{p}" for p in range(PRICE_BUCKETS)],
    }
    return Interactions(
        user=user,
        item=item,
        timestamp=timestamp.astype(np.int64),
        user_features={"user_age": age.astype(np.int32), "user_region": region.astype(np.int32)},
        item_features={"item_category": category.astype(np.int32), "item_price": price.astype(np.int32)},
        vocabularies=vocab,
        source=f"synthetic:{size}:seed={seed}",
    )


def _normalised(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum()
