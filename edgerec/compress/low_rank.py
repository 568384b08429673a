"""Low-rank factorisation: Dense (m x n kernel) -> LowRankDense (m x r, r x n), SVD-initialised.

Only layers where the factorised form is actually smaller, r (m + n) < m n, are replaced;
the others (e.g. the 1-unit score layer) are kept, since factorising them adds bytes.
"""

from __future__ import annotations

from edgerec._keras import keras
from edgerec.compress.base import CompressionStep, Param, StepContext, layers_param, register, selected_layers
from edgerec.models.layers import LowRankDense


@register
class LowRank(CompressionStep):
    name = "low_rank"
    description = "Replace Dense kernels by truncated-SVD factors of the given rank."
    params = {
        "rank": Param(8, "rank r of every factorised kernel", lambda v: isinstance(v, int) and v >= 1, "an int >= 1"),
        "layers": layers_param(),
    }

    @classmethod
    def eligible(cls, layer: keras.layers.Layer) -> bool:
        return type(layer) is keras.layers.Dense

    @classmethod
    def candidates(cls) -> list[dict]:
        return [{"rank": rank} for rank in (16, 8, 4)]

    def apply(self, model: keras.Model, params: dict, ctx: StepContext) -> keras.Model:
        rank = params["rank"]
        chosen = selected_layers(self, model, params)

        def clone(layer):
            if layer.name in chosen:
                m, n = layer.kernel.shape
                if rank < min(m, n) and rank * (m + n) < m * n:
                    return LowRankDense.from_dense(layer, rank)
            return layer.__class__.from_config(layer.get_config())

        factored = keras.models.clone_model(model, clone_function=clone)
        _copy_unchanged_weights(model, factored)
        return factored

    def describe(self, model: keras.Model) -> dict:
        return {
            layer.name: {"rank": layer.rank, "params": int(layer.count_params())}
            for layer in model.layers
            if isinstance(layer, LowRankDense)
        }


def _copy_unchanged_weights(source: keras.Model, target: keras.Model) -> None:
    """clone_model re-initialises layers; carry over weights of every layer not factorised."""
    for layer in target.layers:
        if not isinstance(layer, LowRankDense):
            layer.set_weights(source.get_layer(layer.name).get_weights())
