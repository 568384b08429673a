"""Structured pruning: remove whole hidden units and rebuild narrower Dense layers.

Unstructured pruning (`prune`) zeroes single weights, which a `.tflite` stores dense anyway: it
buys neither bytes nor speed. Removing a unit of a ReLU layer removes its kernel column and bias,
and the matching row of every layer that reads it, so the converted file and each
FULLY_CONNECTED really shrink.

A unit's importance is the L2 norm of its incoming weights (kernel column and bias) times the L2
norm of its outgoing weights (the rows of the Dense layers that read it): a unit that receives
or sends little moves the output little (the product form of magnitude criteria such as Li et
al., "Pruning Filters for Efficient ConvNets", ICLR 2017, applied to both sides of a unit). The
`fraction` least important units of each chosen layer go; the fine-tune that follows under the
teacher recovers what they carried.

A unit can be removed when everything between its layer and the next Dense layers only moves
columns: Dropout, Concatenate (the towers' concatenation before the score) or nothing. A
hidden layer feeding anything else (a DCN cross layer, a product) is left whole and `describe`
says why. The manifest records each layer's width before and after.
"""

from __future__ import annotations

import numpy as np

from edgerec._keras import keras
from edgerec.compress.base import CompressionStep, Param, StepContext, StepError, layers_param, register, selected_layers

PASS_THROUGH = (keras.layers.Dropout, keras.layers.Activation)


@register
class PruneUnits(CompressionStep):
    name = "prune_units"
    description = "Remove the least important whole units of hidden ReLU layers; rebuild narrower layers."
    params = {
        "fraction": Param(
            0.5, "share of each chosen layer's units to remove (at least one unit stays)",
            lambda v: isinstance(v, (int, float)) and 0 < v < 1, "a fraction in (0, 1)",
        ),
        "layers": layers_param(),
    }

    def __init__(self):
        self.facts: dict = {}

    @classmethod
    def eligible(cls, layer: keras.layers.Layer) -> bool:
        return type(layer) is keras.layers.Dense and layer.get_config()["activation"] == "relu"

    @classmethod
    def candidates(cls) -> list[dict]:
        return [{"fraction": f} for f in (0.25, 0.5, 0.75)]

    def apply(self, model: keras.Model, params: dict, ctx: StepContext) -> keras.Model:
        chosen = selected_layers(self, model, params)
        readers = _readers(model)
        self.facts, keep = {}, {}
        for layer in (layer for layer in model.layers if layer.name in chosen):
            why = _unsupported(layer, readers)
            if why is not None:
                if params["layers"] is not None:
                    raise StepError(f"compress step '{self.name}': layers: '{layer.name}' {why}")
                self.facts[layer.name] = {"kept_whole": why}
                continue
            units = layer.units
            kept = max(1, units - int(round(params["fraction"] * units)))
            keep[layer.name] = np.sort(np.argsort(-_importance(layer, readers))[:kept])
            self.facts[layer.name] = {"units_before": units, "units_after": kept}
        if not keep:
            return model
        return _rebuild(model, keep)

    def describe(self, model: keras.Model) -> dict:
        """Per chosen layer: its width before and after, or why it was kept whole."""
        return dict(self.facts)


def _inputs_of(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    inbound = layer.inbound_nodes[0].inbound_layers
    return list(inbound) if isinstance(inbound, (list, tuple)) else [inbound]


def _readers(model: keras.Model) -> dict[str, list[keras.layers.Layer]]:
    """Layer name -> the layers that read its output."""
    readers: dict[str, list] = {layer.name: [] for layer in model.layers}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.InputLayer):
            for source in _inputs_of(layer):
                readers[source.name].append(layer)
    return readers


def _dense_readers(layer: keras.layers.Layer, readers: dict) -> list[tuple[keras.layers.Layer, list]] | str:
    """The Dense layers the units of `layer` reach, each with the path to it; a reason when a unit
    reaches anything that does more than move columns."""
    found, frontier = [], [(layer, [])]
    while frontier:
        current, path = frontier.pop()
        for reader in readers[current.name]:
            if type(reader) is keras.layers.Dense:
                found.append((reader, path))
            elif isinstance(reader, PASS_THROUGH) or isinstance(reader, keras.layers.Concatenate):
                frontier.append((reader, [*path, reader]))
            else:
                return f"feeds {type(reader).__name__} '{reader.name}', which removing a unit would change"
    return found or "feeds no Dense layer (a model output?)"


def _unsupported(layer: keras.layers.Layer, readers: dict) -> str | None:
    found = _dense_readers(layer, readers)
    return found if isinstance(found, str) else None


def importance(model: keras.Model, name: str) -> np.ndarray:
    """The importance of each unit of `model`'s Dense layer `name` (what the step ranks units by)."""
    return _importance(model.get_layer(name), _readers(model))


def _importance(layer: keras.layers.Dense, readers: dict) -> np.ndarray:
    """||incoming column, bias|| x ||outgoing rows|| per unit of `layer` (see the module docstring)."""
    kernel, bias = layer.get_weights()
    incoming = np.sqrt((kernel ** 2).sum(axis=0) + bias ** 2)
    outgoing = np.zeros(layer.units)
    for reader, path in _dense_readers(layer, readers):
        rows = _rows_in(layer, path, reader)
        outgoing += (reader.get_weights()[0][rows] ** 2).sum(axis=1)
    return incoming * np.sqrt(outgoing)


def _rows_in(layer: keras.layers.Layer, path: list, reader: keras.layers.Dense) -> np.ndarray:
    """The rows of `reader`'s kernel that `layer`'s units feed, through the Concatenates on `path`."""
    offset, current = 0, layer
    for step in [*path, reader]:
        if isinstance(step, keras.layers.Concatenate):
            for source in _inputs_of(step):
                if source is current:
                    break
                offset += int(source.output.shape[-1])
        current = step
    return offset + np.arange(int(layer.output.shape[-1]))


def _column_maps(model: keras.Model, keep: dict[str, np.ndarray]) -> dict[str, np.ndarray | None]:
    """Per layer, which of its original output columns the narrower model keeps (None: all of them)."""
    maps: dict[str, np.ndarray | None] = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            maps[layer.name] = None
            continue
        sources = _inputs_of(layer)
        if layer.name in keep:
            maps[layer.name] = keep[layer.name]
        elif type(layer) is keras.layers.Dense or all(maps[s.name] is None for s in sources):
            maps[layer.name] = None
        elif isinstance(layer, PASS_THROUGH):
            maps[layer.name] = maps[sources[0].name]
        elif isinstance(layer, keras.layers.Concatenate):
            parts, offset = [], 0
            for source in sources:
                width = int(source.output.shape[-1])
                kept = maps[source.name]
                parts.append(offset + (np.arange(width) if kept is None else kept))
                offset += width
            maps[layer.name] = np.concatenate(parts)
        else:  # _unsupported kept such layers out of `keep`
            raise AssertionError(f"{layer.name} reads a pruned layer")
    return maps


def _rebuild(model: keras.Model, keep: dict[str, np.ndarray]) -> keras.Model:
    """`model` with the kept units only: narrower pruned layers, their readers' rows sliced to match."""
    maps = _column_maps(model, keep)

    def clone(layer):
        config = layer.get_config()
        if layer.name in keep:
            config["units"] = len(keep[layer.name])
        return layer.__class__.from_config(config)

    narrow = keras.models.clone_model(model, clone_function=clone)
    for layer in narrow.layers:
        old = model.get_layer(layer.name)
        weights = old.get_weights()
        if type(old) is keras.layers.Dense:
            rows = maps[_inputs_of(old)[0].name]
            columns = keep.get(old.name)
            kernel = weights[0] if rows is None else weights[0][rows]
            weights = [kernel if columns is None else kernel[:, columns],
                       *([] if len(weights) == 1 else [weights[1] if columns is None else weights[1][columns]])]
        layer.set_weights(weights)
    return narrow
