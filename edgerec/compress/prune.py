"""Magnitude pruning with TFMOT: prune_low_magnitude on the chosen layers, strip_pruning to finish.

Two steps share one implementation:
- `prune`: Dense / LowRankDense kernels, unstructured or in an m:n pattern;
- `prune_embeddings`: `Embedding` tables, unstructured.

Schedules (TFMOT's): `polynomial` ramps the sparsity from 0 to `target_sparsity` over the first
`ramp_fraction` of the fine-tuning steps (`PolynomialDecay`), so the remaining steps train with
the final mask and accuracy can recover; `constant` prunes to `target_sparsity` from the start
(`ConstantSparsity`) and keeps re-choosing the smallest weights until the end.

`pattern: "m:n"` is TFMOT's `sparsity_m_by_n=(m, n)`: at least m of every n consecutive weights
along a kernel's input axis are zero. That axis is the last one of a TFLite FULLY_CONNECTED
weight ([out, in]), so the groups are the ones m:n-sparse hardware reads. TFMOT computes that
mask once, at the first training step, and ignores the schedule; the sparsity is then m/n, so
`target_sparsity`, `schedule` and `ramp_fraction` are refused when they say otherwise. A kernel
whose input dimension is not a multiple of n would keep its last, partial group dense, so such a
layer is skipped (and named in `describe()`), or refused when named in `layers`.

Sparse weights do not shrink a TFLite file by themselves (kernels are stored dense unless the
converter's sparse encoding is asked for: `converters.tflite.convert(..., sparse=True)`, see
bench/sparse_encoding.py for where that pays); they also matter for compressed downloads and for
the sparsity-preserving QAT that follows.
"""

from __future__ import annotations

import re
from typing import ClassVar

import tensorflow_model_optimization as tfmot

from edgerec._keras import keras
from edgerec.compress.base import (
    CompressionStep,
    Param,
    StepContext,
    StepError,
    is_dense_like,
    layers_param,
    register,
    selected_layers,
)

sparsity = tfmot.sparsity.keras

SCHEDULES = ("polynomial", "constant")
PATTERN = re.compile(r"^(\d+):(\d+)$")


def parse_pattern(text: str) -> tuple[int, int] | None:
    """"m:n" -> (m, n) with 1 <= m < n; None when `text` is not such a pattern."""
    match = PATTERN.match(text) if isinstance(text, str) else None
    if not match:
        return None
    m, n = int(match[1]), int(match[2])
    return (m, n) if 1 <= m < n else None


class _MagnitudePruning(CompressionStep):
    """Shared by `prune` and `prune_embeddings`: schedule choice, wrapping, stripping, reporting."""

    params: ClassVar[dict[str, Param]] = {
        "target_sparsity": Param(
            0.5, "fraction of weights set to zero", lambda v: isinstance(v, float) and 0 <= v < 1, "a float in [0, 1)"
        ),
        "schedule": Param(
            "polynomial",
            "'polynomial' ramps sparsity up over ramp_fraction of fine-tuning; 'constant' prunes to target from the start",
            lambda v: v in SCHEDULES,
            " or ".join(f"'{s}'" for s in SCHEDULES),
        ),
        "ramp_fraction": Param(
            0.7,
            "fraction of fine-tuning steps over which sparsity ramps up (schedule 'polynomial' only)",
            lambda v: isinstance(v, float) and 0 < v <= 1,
            "a float in (0, 1]",
        ),
        "layers": layers_param(),
    }

    @classmethod
    def resolve(cls, given: dict) -> dict:
        resolved = super().resolve(given)
        if resolved["schedule"] == "constant" and "ramp_fraction" in given:
            raise StepError(
                f"compress step '{cls.name}': ramp_fraction applies to schedule 'polynomial' only; "
                "schedule 'constant' prunes to target_sparsity from the first step"
            )
        return resolved

    @classmethod
    def candidates(cls) -> list[dict]:
        return [{"target_sparsity": value} for value in (0.5, 0.75, 0.9)]

    def schedule(self, params: dict, ctx: StepContext) -> sparsity.PruningSchedule:
        total = max(1, ctx.steps_per_epoch * ctx.finetune_epochs)
        if params["schedule"] == "constant":
            return sparsity.ConstantSparsity(params["target_sparsity"], begin_step=0, frequency=max(1, total // 20))
        end_step = max(1, int(total * params["ramp_fraction"]))
        return sparsity.PolynomialDecay(
            initial_sparsity=0.0,
            final_sparsity=params["target_sparsity"],
            begin_step=0,
            end_step=end_step,
            frequency=max(1, end_step // 20),
        )

    def wrap_options(self, model: keras.Model, chosen: set[str], params: dict, ctx: StepContext) -> dict:
        """Keyword arguments of `prune_low_magnitude`; may narrow `chosen` (in place)."""
        return {"pruning_schedule": self.schedule(params, ctx)}

    def apply(self, model: keras.Model, params: dict, ctx: StepContext) -> keras.Model:
        chosen = selected_layers(self, model, params)
        options = self.wrap_options(model, chosen, params, ctx)

        def clone(layer):
            if layer.name in chosen:
                return sparsity.prune_low_magnitude(layer, **options)
            return layer

        return keras.models.clone_model(model, clone_function=clone)

    def callbacks(self, params: dict, ctx: StepContext) -> list:
        return [sparsity.UpdatePruningStep()]

    def finalize(self, model: keras.Model, params: dict) -> keras.Model:
        return sparsity.strip_pruning(model)

    def describe(self, model: keras.Model) -> dict:
        return {"sparsity": weight_sparsity(model, self.eligible)}


@register
class Prune(_MagnitudePruning):
    name = "prune"
    description = "Magnitude pruning of Dense/LowRankDense kernels: polynomial or constant schedule, or an m:n pattern."
    params = {
        **_MagnitudePruning.params,
        "pattern": Param(
            None,
            "'m:n': at least m zeros in every n consecutive weights along each kernel's input axis (e.g. '2:4'); "
            "sparsity is then m/n",
            lambda v: v is None or parse_pattern(v) is not None,
            "null or a string 'm:n' with integers 1 <= m < n, e.g. '2:4'",
        ),
    }
    skipped: dict[str, str] = {}  # layers the last apply left dense, with the reason (for describe)

    @classmethod
    def resolve(cls, given: dict) -> dict:
        resolved = super().resolve(given)
        pattern = resolved["pattern"]
        if pattern is None:
            return resolved
        m, n = parse_pattern(pattern)
        if "target_sparsity" in given and abs(given["target_sparsity"] - m / n) > 1e-9:
            raise StepError(
                f"compress step 'prune': target_sparsity {given['target_sparsity']} contradicts pattern '{pattern}', "
                f"which sets the sparsity to {m}/{n} = {m / n:g}; leave target_sparsity out"
            )
        for key in ("schedule", "ramp_fraction"):
            if key in given:
                raise StepError(
                    f"compress step 'prune': {key} does not apply with pattern '{pattern}' "
                    "(TFMOT sets an m:n mask once, at the first training step); leave it out"
                )
        return {**resolved, "target_sparsity": m / n}

    # The logit layer holds a few dozen weights, each the only path from one tower unit (a GMF
    # dimension, say) to the score: pruning half of it saved 32 weights and cost a Last.fm-shaped
    # student 0.16 NDCG@10. It is pruned only when `layers` names it.
    not_by_default = ("score",)

    @classmethod
    def eligible(cls, layer: keras.layers.Layer) -> bool:
        return is_dense_like(layer)

    @classmethod
    def candidates(cls) -> list[dict]:
        return [{"target_sparsity": 0.5}, {"pattern": "2:4"}, {"target_sparsity": 0.75}, {"target_sparsity": 0.9}]

    def wrap_options(self, model: keras.Model, chosen: set[str], params: dict, ctx: StepContext) -> dict:
        self.skipped = {}
        if params["pattern"] is None:
            return super().wrap_options(model, chosen, params, ctx)
        m, n = parse_pattern(params["pattern"])
        for name in sorted(chosen):
            odd = [tuple(w.shape) for w in _kernels(model.get_layer(name)) if w.shape[0] % n]
            if not odd:
                continue
            reason = f"kernel input dimension not a multiple of {n}: shape {odd[0]}; its last group would stay dense"
            if params["layers"] is not None:
                raise StepError(f"compress step 'prune': layers: '{name}' cannot take pattern '{params['pattern']}': {reason}")
            self.skipped[name] = reason
        chosen -= set(self.skipped)
        # TFMOT ignores the schedule under sparsity_m_by_n; a constant one states what happens.
        return {"pruning_schedule": sparsity.ConstantSparsity(m / n, begin_step=0), "sparsity_m_by_n": (m, n)}

    def describe(self, model: keras.Model) -> dict:
        facts = super().describe(model)
        if self.skipped:
            facts["skipped"] = dict(self.skipped)
        return facts


@register
class PruneEmbeddings(_MagnitudePruning):
    """Element-wise magnitude pruning of embedding tables.

    Each table loses its smallest entries wherever they are, so a row keeps its strongest
    coordinates; TFMOT prunes elements, not rows. Whole-row pruning (dropping the rows of rare
    ids, which then read as zeros) would be vocabulary pruning, a different trade-off this step
    does not make. TFLite's sparse encoding covers FULLY_CONNECTED / CONV weights only, not
    GATHER tables, so a pruned table shrinks a compressed download (zip, app store) but not the
    .tflite file.
    """

    name = "prune_embeddings"
    description = "Element-wise magnitude pruning of Embedding tables (polynomial or constant schedule)."
    params = _MagnitudePruning.params

    @classmethod
    def eligible(cls, layer: keras.layers.Layer) -> bool:
        return isinstance(layer, keras.layers.Embedding)


def _kernels(layer: keras.layers.Layer) -> list:
    """The weights pruning acts on: 2-D kernels (Dense, both LowRankDense factors) or a table."""
    return [w for w in layer.weights if len(w.shape) == 2]


def weight_sparsity(model: keras.Model, eligible=is_dense_like) -> dict[str, float]:
    """Achieved fraction of exact zeros in the 2-D weights of each `eligible` layer of `model`."""
    out = {}
    for layer in model.layers:
        if eligible(layer):
            kernels = [w.numpy() for w in _kernels(layer)]
            zeros = sum(int((k == 0).sum()) for k in kernels)
            out[layer.name] = round(zeros / max(1, sum(k.size for k in kernels)), 4)
    return out


def layer_sparsity(model: keras.Model) -> dict[str, float]:
    """Achieved fraction of exact zeros in each dense-like layer's kernel(s)."""
    return weight_sparsity(model, is_dense_like)
