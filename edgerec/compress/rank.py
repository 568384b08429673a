"""Choosing the rank of a truncated-SVD factorisation, shared by `low_rank` and `factorize_embeddings`.

An m x n matrix W with singular values s_1 >= s_2 >= ... is replaced by factors of rank r,
m x r and r x n: r (m + n) numbers instead of m n, and the best rank-r approximation
(Eckart–Young) keeps the fraction sum_{i<=r} s_i^2 / sum_i s_i^2 of ||W||_F^2 (its "energy").
The rank is given in exactly one of three ways:
- `rank`: the same r for every layer (default 8);
- `energy` e in (0, 1]: per layer, the smallest r whose kept energy is >= e, so a layer with a
  steep spectrum gets a small rank and a flat one a large rank;
- `param_budget` b in (0, 1): per layer, the largest r with r (m + n) <= b m n, a size target.
A layer is factorised only when the chosen rank makes it smaller, r < min(m, n) and
r (m + n) < m n; otherwise it is kept and `plan` says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgerec.compress.base import Param, StepError

DEFAULT_RANK = 8
WAYS = ("rank", "energy", "param_budget")


def rank_params(what: str) -> dict[str, Param]:
    """The three mutually exclusive ways to give the rank of `what` (e.g. "factorised kernel")."""
    return {
        "rank": Param(
            None,
            f"rank r of every {what} (default {DEFAULT_RANK} when neither energy nor param_budget is given)",
            lambda v: v is None or (isinstance(v, int) and v >= 1),
            "an int >= 1",
        ),
        "energy": Param(
            None,
            f"per layer, the smallest rank keeping this fraction of the {what}'s squared Frobenius norm",
            lambda v: v is None or (isinstance(v, float) and 0 < v <= 1),
            "a float in (0, 1]",
        ),
        "param_budget": Param(
            None,
            f"per layer, the largest rank r with r (m + n) <= param_budget * m * n for an m x n {what}",
            lambda v: v is None or (isinstance(v, float) and 0 < v < 1),
            "a float in (0, 1)",
        ),
    }


def resolve_rank(step: str, params: dict) -> dict:
    """Checks that at most one way is given and fills the default rank when none is."""
    given = [way for way in WAYS if params[way] is not None]
    if len(given) > 1:
        raise StepError(
            f"compress step '{step}': give one of rank, energy, param_budget, not both {given[0]} and {given[1]}. "
            f"Received: " + ", ".join(f"{way}={params[way]!r}" for way in given)
        )
    if not given:
        return {**params, "rank": DEFAULT_RANK}
    return params


@dataclass(frozen=True)
class Plan:
    """What factorising one m x n matrix at the chosen rank gives.

    `kept` says why a matrix is left whole (then nothing is lost: kept_energy 1, params unchanged).
    """

    rank: int
    kept_energy: float
    params_before: int
    params_after: int
    kept: str | None = None

    def facts(self) -> dict:
        out = {
            "rank": self.rank,
            "kept_energy": round(self.kept_energy, 6),
            "params_before": self.params_before,
            "params_after": self.params_after,
        }
        return {**out, "kept": self.kept} if self.kept else out


def choose_rank(singular_values: np.ndarray, m: int, n: int, params: dict) -> int:
    """The rank `params` asks for on an m x n matrix with these singular values (0: none fits the budget)."""
    if params["energy"] is not None:
        squares = np.asarray(singular_values, np.float64) ** 2
        total = squares.sum()
        if total == 0:
            return 1
        kept = np.cumsum(squares) / total
        # the tolerance absorbs rounding in the cumulative sum, so energy=1.0 means "all of it"
        return int(np.argmax(kept >= params["energy"] - 1e-9)) + 1
    if params["param_budget"] is not None:
        budget = params["param_budget"] * m * n
        rank = int(budget // (m + n))
        while (rank + 1) * (m + n) <= budget:  # guard both ways against floor rounding
            rank += 1
        while rank > 0 and rank * (m + n) > budget:
            rank -= 1
        return rank
    return params["rank"]


def plan(matrix: np.ndarray, params: dict, extra_params: int = 0) -> Plan:
    """The rank for `matrix` and what factorising it at that rank keeps and costs.

    `extra_params` (e.g. a bias) is counted on both sides, unchanged by the factorisation.
    """
    m, n = matrix.shape
    s = np.linalg.svd(np.asarray(matrix, np.float64), compute_uv=False)
    rank = choose_rank(s, m, n, params)
    before = m * n + extra_params
    after = rank * (m + n) + extra_params
    if rank < 1:
        why = f"param_budget {params['param_budget']} allows no rank: 1 x ({m} + {n}) > {params['param_budget']} x {m} x {n}"
        return Plan(rank, 1.0, before, before, why)
    if rank >= min(m, n) or after >= before:
        return Plan(rank, 1.0, before, before, f"rank {rank} of a {m} x {n} matrix needs {after} >= {before} params")
    total = float((s**2).sum())
    return Plan(rank, float((s[:rank] ** 2).sum() / total) if total else 1.0, before, after)
