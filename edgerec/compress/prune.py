"""Magnitude pruning with TFMOT: prune_low_magnitude on dense-like layers, strip_pruning to finish.

The sparsity ramps from 0 to `target_sparsity` along a polynomial schedule over the first
`ramp_fraction` of the fine-tuning steps; the remaining steps train with the final mask so
accuracy can recover. Sparse weights do not shrink a TFLite file by themselves (kernels are
stored dense); they matter for compressed downloads and for the sparse-aware QAT that follows.
"""

from __future__ import annotations

import numpy as np
import tensorflow_model_optimization as tfmot

from edgerec._keras import keras
from edgerec.compress.base import (
    CompressionStep,
    Param,
    StepContext,
    is_dense_like,
    layers_param,
    register,
    selected_layers,
)

sparsity = tfmot.sparsity.keras


@register
class Prune(CompressionStep):
    name = "prune"
    description = "Magnitude pruning of Dense/LowRankDense kernels on a polynomial schedule."
    params = {
        "target_sparsity": Param(
            0.5, "fraction of kernel weights set to zero", lambda v: isinstance(v, float) and 0 <= v < 1, "a float in [0, 1)"
        ),
        "ramp_fraction": Param(
            0.7,
            "fraction of fine-tuning steps over which sparsity ramps up",
            lambda v: isinstance(v, float) and 0 < v <= 1,
            "a float in (0, 1]",
        ),
        "layers": layers_param(),
    }

    @classmethod
    def eligible(cls, layer: keras.layers.Layer) -> bool:
        return is_dense_like(layer)

    @classmethod
    def candidates(cls) -> list[dict]:
        return [{"target_sparsity": value} for value in (0.5, 0.75, 0.9)]

    def apply(self, model: keras.Model, params: dict, ctx: StepContext) -> keras.Model:
        total = max(1, ctx.steps_per_epoch * ctx.finetune_epochs)
        end_step = max(1, int(total * params["ramp_fraction"]))
        schedule = sparsity.PolynomialDecay(
            initial_sparsity=0.0,
            final_sparsity=params["target_sparsity"],
            begin_step=0,
            end_step=end_step,
            frequency=max(1, end_step // 20),
        )

        chosen = selected_layers(self, model, params)

        def clone(layer):
            if layer.name in chosen:
                return sparsity.prune_low_magnitude(layer, pruning_schedule=schedule)
            return layer

        return keras.models.clone_model(model, clone_function=clone)

    def callbacks(self, params: dict, ctx: StepContext) -> list:
        return [sparsity.UpdatePruningStep()]

    def finalize(self, model: keras.Model, params: dict) -> keras.Model:
        return sparsity.strip_pruning(model)

    def describe(self, model: keras.Model) -> dict:
        return {"sparsity": layer_sparsity(model)}


def layer_sparsity(model: keras.Model) -> dict[str, float]:
    """Achieved fraction of exact zeros in each dense-like layer's kernel(s)."""
    out = {}
    for layer in model.layers:
        if is_dense_like(layer):
            kernels = [w for w in layer.get_weights() if w.ndim == 2]
            zeros = sum(int((k == 0).sum()) for k in kernels)
            out[layer.name] = round(zeros / max(1, sum(k.size for k in kernels)), 4)
    return out
