"""Built-in synthetic data, so edgerec runs with no download: one table of presets, one entry point.

Ranking presets come from the latent-factor generator in `interactions`: `default` is about
MovieLens-1M, `smoke` a tiny set for CI. TEMPORARY
"""

from __future__ import annotations

from edgerec.data.schema import Interactions
from edgerec.data.synthetic import interactions
from edgerec.data.synthetic.interactions import SyntheticSize
from edgerec.data.synthetic.shape import Quantiles, RankingShape

SIZES: dict[str, SyntheticSize] = {
    # About MovieLens-1M: 6,040 users, 3,706 items, ~1M interactions.
    "default": SyntheticSize(users=6040, items=3700, mean_per_user=165.0, min_per_user=20, max_per_user=3700 // 3),
    "smoke": SyntheticSize(users=300, items=200, mean_per_user=30.0, min_per_user=8, max_per_user=200 // 3),
}


def generate(size: str = "default", seed: int = 0) -> Interactions:
    """The data of the named preset; deterministic for a given (size, seed)."""
    if size not in SIZES:
        raise ValueError(f"unknown synthetic size {size!r}; expected one of {sorted(SIZES)}")
    return interactions.generate(SIZES[size], size, seed)
