"""The compression-step protocol and its registry.

A step follows TFMOT's apply/strip shape:
- `apply(model, params, ctx)` returns a trainable model (e.g. with pruning wrappers or
  fake-quant), which the pipeline fine-tunes under the distiller with `callbacks(...)`;
- `finalize(model, params)` returns the plain Keras model that goes to the converter.
Each step declares its parameters (default, allowed range, description) in one table, so
validation, error messages and help text come from one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from device_bench.errors import EdgerecError, suggest
from edgerec._keras import keras


class StepError(EdgerecError, ValueError):
    """A step name or parameter that cannot be used; the message names it."""


@dataclass(frozen=True)
class Param:
    default: Any
    description: str
    valid: Callable[[Any], bool]
    expected: str


@dataclass(frozen=True)
class StepContext:
    """What a step may need to know about the fine-tuning the pipeline will run after apply."""

    steps_per_epoch: int
    finetune_epochs: int
    previous_steps: tuple[str, ...] = ()
    keep_float: tuple[str, ...] = ()  # layers the int8 artifact keeps in float (recipe export.keep_float)
    # model input name -> how often each of its indices occurs in the training rows (`task.id_counts`),
    # for steps that treat frequent and rare ids differently
    id_counts: Mapping[str, np.ndarray] = field(default_factory=dict)


class CompressionStep:
    name: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[dict[str, Param]] = {}
    # True when the finalized model carries 8-bit fake-quantization: only the int8 converter mode
    # can use it, so the other export modes convert the model from before this step.
    fake_quant: ClassVar[bool] = False
    # True when the step's layers belong in the int8 file only (int4 tables: int16x8 cannot quantize
    # their CAST); as for a fake-quantizing step, the other modes convert the model from before it
    int8_only: ClassVar[bool] = False
    # eligible layers the step leaves alone unless `layers` names them
    not_by_default: ClassVar[tuple[str, ...]] = ()
    # True when the step replaces embedding tables by another layer (factorised, mixed-dimension, QR,
    # int4): a table one of them took is not a plain table any more, so a search chains two on one
    # table only where one of them takes the other's output (`packs_tables_of`)
    replaces_tables: ClassVar[bool] = False
    packs_tables_of: ClassVar[tuple[str, ...]] = ()  # table steps whose layers this one can replace in turn

    @classmethod
    def resolve(cls, given: dict) -> dict:
        """Fills defaults and validates `given`, naming any bad key or value."""
        for key in given:
            if key not in cls.params:
                valid = ", ".join(cls.params) or "none"
                raise StepError(
                    f"compress step '{cls.name}': unknown parameter '{key}'.{suggest(key, cls.params)} Valid: {valid}"
                )
        resolved = {key: given.get(key, param.default) for key, param in cls.params.items()}
        for key, value in resolved.items():
            param = cls.params[key]
            if isinstance(value, bool) or not param.valid(value):
                raise StepError(f"compress step '{cls.name}': {key} must be {param.expected}. Received: {value!r}")
        return resolved

    @classmethod
    def eligible(cls, layer: keras.layers.Layer) -> bool:
        """Whether this step can compress `layer`; the `layers` parameter picks among these."""
        return False

    @classmethod
    def candidates(cls) -> list[dict]:
        """Parameter settings (without `layers`) that a sensitivity sweep or a search tries.

        Ordered from the mildest to the most aggressive, so a sweep can stop early.
        """
        return []

    def apply(self, model: keras.Model, params: dict, ctx: StepContext) -> keras.Model:
        raise NotImplementedError

    def finalize(self, model: keras.Model, params: dict) -> keras.Model:
        return model

    def callbacks(self, params: dict, ctx: StepContext) -> list:
        return []

    def describe(self, model: keras.Model) -> dict:
        """Facts about the finalized model worth recording in the manifest (e.g. achieved sparsity)."""
        return {}


REGISTRY: dict[str, type[CompressionStep]] = {}


def register(cls: type[CompressionStep]) -> type[CompressionStep]:
    if cls.name in REGISTRY:
        raise StepError(f"compression step '{cls.name}' is registered twice ({REGISTRY[cls.name]} and {cls})")
    REGISTRY[cls.name] = cls
    return cls


def get(name: str) -> CompressionStep:
    if name not in REGISTRY:
        raise StepError(
            f"unknown compression step '{name}'.{suggest(name, REGISTRY)} Registered: {', '.join(sorted(REGISTRY))}"
        )
    return REGISTRY[name]()


def layers_param() -> Param:
    """The `layers` parameter every per-layer step takes: which layers to compress.

    null (the default) means every layer the step can compress; a list names a subset, which is
    how sensitivity analysis compresses one layer at a time and how a search gives layers
    different settings (one step entry per group of layers).
    """
    return Param(
        None,
        "names of the layers to compress (default: every layer this step can compress)",
        lambda v: v is None or (isinstance(v, list) and bool(v) and all(isinstance(x, str) for x in v)),
        "a non-empty list of layer names, or null for every eligible layer",
    )


def selected_layers(step: type[CompressionStep] | CompressionStep, model: keras.Model, params: dict) -> set[str]:
    """Names of the layers of `model` that `params["layers"]` picks among those `step` can compress.

    Raises StepError naming a layer that does not exist or that this step cannot compress.
    """
    names = [layer.name for layer in model.layers if step.eligible(layer)]
    chosen = params.get("layers")
    if chosen is None:
        return set(names) - set(step.not_by_default)
    for name in chosen:
        if name not in names:
            raise StepError(
                f"compress step '{step.name}': layers: '{name}' is not a layer this step can compress in "
                f"model '{model.name}'.{suggest(name, names)} Eligible: {', '.join(names) or 'none'}"
            )
    return set(chosen)


def is_plain_table(layer: keras.layers.Layer, min_rows: int = 2) -> bool:
    """A trained `keras.layers.Embedding` (not a compressed table) with at least `min_rows` rows."""
    return type(layer) is keras.layers.Embedding and not layer.mask_zero and layer.input_dim >= min_rows


def input_of(layer: keras.layers.Layer) -> str:
    """The name of the model input a layer reads (an embedding table's feature)."""
    inbound = layer.inbound_nodes[0].inbound_layers
    return (inbound[0] if isinstance(inbound, (list, tuple)) else inbound).name


def replace_layers(model: keras.Model, made: dict[str, keras.layers.Layer]) -> keras.Model:
    """A copy of `model` in which each layer named in `made` is that (already built and weighted)
    layer; every other layer is a fresh copy with the original's weights."""

    def clone(layer):
        return made.get(layer.name) or layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    for layer in copy.layers:
        if layer.name not in made:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return copy


def tables_compatible(first: str, second: str) -> bool:
    """Whether table steps `first` and `second` can both take one table, in chain order."""
    return second in REGISTRY[first].packs_tables_of or first in REGISTRY[second].packs_tables_of


def is_dense_like(layer: keras.layers.Layer) -> bool:
    from edgerec.models.layers import LowRankDense

    return isinstance(layer, (keras.layers.Dense, LowRankDense))
