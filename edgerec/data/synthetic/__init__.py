"""Built-in synthetic data, so edgerec runs with no download, in the shapes of several data regimes.

`SIZES` is the one table of presets (`data.synthetic_size` in a recipe) and `generate` its entry point.

Ranking presets all come from the latent-factor generator in `interactions`, with per-preset
sizes and skews:
- `default`: about MovieLens-1M (6,040 users, 3,700 items, ~1M interactions); `smoke`: tiny, for CI.
- `ml100k`, `mllatest`, `lastfm`: fitted to the shapes of MovieLens-100K, MovieLens latest-small
  and the Last.fm-2K user-artist log (`shared/data/profiles.json`; the `target` of each row is that
  profile, checked by tests/unit/test_synthetic_presets.py). Activity is spread log-normally and
  scaled to the profile's exact interaction count; item popularity decays with rank as a power
  law times an exponential, (1 + rank)^-a * exp(-b * rank / items), which reproduces both the
  profile's Gini and its long tail of items seen at most 5 times. Side features follow the real
  sets: MovieLens-latest has item features only, Last.fm none (the task then ranks on ids alone).
  `lastfm` is the profile's log with its users of a single interaction dropped (the profile has
  252, this generator about 330), as in the findings: a leave-one-out task needs two per user.
  The shape does not fix how much a user's taste matters next to popularity, so each preset's
  `preference_scale` is set so that an id-only personal model (ALS) beats popularity on NDCG@10
  by about the ratio the findings measured on the public set with a NeuMF on ids
  (`shared/data/real-data-findings.md`: 1.70 for MovieLens-100K, 1.28 for latest-small, 1.22
  for Last.fm); at scale 1 the two smaller-data presets were popularity-bound (ALS 1.10 and
  0.97 of popularity), which no real log in the findings is.

Click-log presets come from the Criteo-like generator in `ctr` (fields fitted to the profile
`criteo-sample-like`, a logistic click model): `criteo8k` has the profile's 8,000 rows,
`criteo1m` a million, where field cardinalities grow as sampling the same distributions makes
them grow. Both give `LabeledRows`, encoded as `edgerec data prepare --source criteo` would,
so the task is a CtrTask.
"""

from __future__ import annotations

from edgerec.data.schema import Interactions, LabeledRows
from edgerec.data.synthetic import ctr, interactions
from edgerec.data.synthetic.ctr import CtrSize
from edgerec.data.synthetic.interactions import SyntheticSize
from edgerec.data.synthetic.shape import Quantiles, RankingShape

SIZES: dict[str, SyntheticSize | CtrSize] = {
    # About MovieLens-1M: 6,040 users, 3,706 items, ~1M interactions.
    "default": SyntheticSize(users=6040, items=3700, mean_per_user=165.0, min_per_user=20, max_per_user=3700 // 3),
    "smoke": SyntheticSize(users=300, items=200, mean_per_user=30.0, min_per_user=8, max_per_user=200 // 3),
    # profiles.json "movielens-100k-like": user side features (as gender/age/occupation), item genres.
    "ml100k": SyntheticSize(
        users=943, items=1800, mean_per_user=100_000 / 943, min_per_user=20, max_per_user=737, activity_sigma=1.0,
        popularity_exponent=0.0, popularity_decay=7.5, exact_mean=True,
        target=RankingShape(users=943, items=1682, interactions=100_000,
                            per_user=Quantiles(min=20, p10=23, median=65, p90=244, max=737),
                            per_item=Quantiles(min=1, p10=2, median=27, p90=169, max=583),
                            item_popularity_gini=0.629, share_of_interactions_on_top_1pct_items=0.076,
                            share_of_items_with_at_most_5_interactions=0.228, users_with_fewer_than_2=0),
    ),
    # profiles.json "movielens-latest-small-like": item genres, no user features; many items rated once.
    "mllatest": SyntheticSize(
        users=610, items=14_000, mean_per_user=100_836 / 610, min_per_user=20, max_per_user=2698, activity_sigma=1.35,
        popularity_exponent=1.2, popularity_decay=2.0, exact_mean=True, user_features=False, preference_scale=1.6,
        target=RankingShape(users=610, items=9724, interactions=100_836,
                            per_user=Quantiles(min=20, p10=24, median=70, p90=400, max=2698),
                            per_item=Quantiles(min=1, p10=1, median=3, p90=27, max=329),
                            item_popularity_gini=0.716, share_of_interactions_on_top_1pct_items=0.157,
                            share_of_items_with_at_most_5_interactions=0.664, users_with_fewer_than_2=0),
    ),
    # profiles.json "lastfm-2k-like": no side features; users with one interaction dropped (see above).
    "lastfm": SyntheticSize(
        users=1892, items=18_500, mean_per_user=71_064 / 1892, min_per_user=1, max_per_user=1208, activity_sigma=1.7,
        popularity_exponent=0.7, popularity_decay=1.5, exact_mean=True, user_features=False, item_features=False,
        min_kept=2, preference_scale=1.9,
        target=RankingShape(users=1892, items=12_523, interactions=71_064,
                            per_user=Quantiles(min=1, p10=1, median=8, p90=97, max=1208),
                            per_item=Quantiles(min=1, p10=1, median=2, p90=12, max=206),
                            item_popularity_gini=0.614, share_of_interactions_on_top_1pct_items=0.147,
                            share_of_items_with_at_most_5_interactions=0.754, users_with_fewer_than_2=252),
    ),
    # profiles.json "criteo-sample-like" (its fields' targets are in ctr.FIELDS), and the same log at 1M rows.
    "criteo8k": CtrSize(rows=8000),
    "criteo1m": CtrSize(rows=1_000_000),
}


def generate(size: str = "default", seed: int = 0) -> Interactions | LabeledRows:
    """The data of the named preset; deterministic for a given (size, seed)."""
    if size not in SIZES:
        raise ValueError(f"unknown synthetic size {size!r}; expected one of {sorted(SIZES)}")
    spec = SIZES[size]
    if isinstance(spec, CtrSize):
        return ctr.generate(spec, size, seed)
    return interactions.generate(spec, size, seed)
