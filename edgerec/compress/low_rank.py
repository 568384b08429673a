"""Low-rank factorisation: Dense (m x n kernel) -> LowRankDense (m x r, r x n), SVD-initialised.

The rank is given per step as `rank`, `energy` or `param_budget` (see `rank.py`). Only layers
where the factorised form is actually smaller, r (m + n) < m n, are replaced; the others
(e.g. the 1-unit score layer) are kept, since factorising them adds bytes, and `describe`
says so.
"""

from __future__ import annotations

from edgerec._keras import keras
from edgerec.compress.base import CompressionStep, StepContext, layers_param, register, selected_layers
from edgerec.compress.rank import plan, rank_params, resolve_rank
from edgerec.models.layers import LowRankDense


@register
class LowRank(CompressionStep):
    name = "low_rank"
    description = "Replace Dense kernels by truncated-SVD factors of a given rank, kept energy or parameter budget."
    params = {**rank_params("factorised kernel"), "layers": layers_param()}

    def __init__(self):
        self.plans: dict = {}  # layer name -> rank.Plan, from the last apply, for describe

    @classmethod
    def resolve(cls, given: dict) -> dict:
        return resolve_rank(cls.name, super().resolve(given))

    @classmethod
    def eligible(cls, layer: keras.layers.Layer) -> bool:
        return type(layer) is keras.layers.Dense

    @classmethod
    def candidates(cls) -> list[dict]:
        # Kept energy rather than a fixed rank: one value adapts to each layer's size and
        # spectrum (rank 8 is mild for a 256-wide layer and no saving for an 8-wide one), and
        # a lower energy is more aggressive in every layer, so the order stays mildest first.
        return [{"energy": energy} for energy in (0.99, 0.95, 0.9, 0.8)]

    def apply(self, model: keras.Model, params: dict, ctx: StepContext) -> keras.Model:
        chosen = selected_layers(self, model, params)
        self.plans = {
            layer.name: plan(layer.kernel.numpy(), params, layer.units if layer.use_bias else 0)
            for layer in model.layers
            if layer.name in chosen
        }

        def clone(layer):
            if layer.name in self.plans and not self.plans[layer.name].kept:
                return LowRankDense.from_dense(layer, self.plans[layer.name].rank)
            return layer.__class__.from_config(layer.get_config())

        factored = keras.models.clone_model(model, clone_function=clone)
        _copy_unchanged_weights(model, factored)
        return factored

    def describe(self, model: keras.Model) -> dict:
        """Per selected layer: rank, kept energy, params before/after, or why it was kept whole."""
        return {name: layer_plan.facts() for name, layer_plan in self.plans.items()}


def _copy_unchanged_weights(source: keras.Model, target: keras.Model) -> None:
    """clone_model re-initialises layers; carry over weights of every layer not factorised."""
    for layer in target.layers:
        if not isinstance(layer, LowRankDense):
            layer.set_weights(source.get_layer(layer.name).get_weights())
