"""Mixed-dimension embeddings: the ids seen most in training keep full rows, the rest get narrow ones.

Ginart et al. (ISIT 2021) size each id's row by its popularity: a rare id's row is trained on few
examples, so a narrow row projected to the common width loses little, and on popularity-skewed
data most ids are rare (in the MovieLens latest-small shape 66 % of items have at most 5
interactions). Two blocks (`MixedDimEmbedding`): the head is the most seen ids that together
carry `head_coverage` of the table's training occurrences (`StepContext.id_counts`, from the
training rows only); every other id gets a `tail_dim` x d row. The file also holds each id's
position (int32), so a table is replaced only where the two blocks and positions are smaller than
the table; `describe` says which were kept whole and why.
"""

from __future__ import annotations

import numpy as np

from edgerec._keras import keras
from edgerec.compress.base import (CompressionStep, Param, StepContext, StepError, input_of, is_plain_table,
                                   layers_param, register, replace_layers, selected_layers)
from edgerec.models.tables import MixedDimEmbedding

MIN_ROWS = 16  # smaller tables (side features) cost next to nothing


def head_size(counts: np.ndarray, coverage: float) -> int:
    """The fewest most-seen ids whose counts add up to `coverage` of all counts (ids never seen are never head)."""
    ordered = np.sort(counts)[::-1]
    total = ordered.sum()
    if total <= 0:
        return 0
    return min(int(np.searchsorted(np.cumsum(ordered), coverage * total) + 1), int((ordered > 0).sum()))


@register
class MixedDim(CompressionStep):
    name = "mixed_dim"
    description = "Full-width rows for the ids seen most in training, narrow projected rows for the rest (Ginart et al.)."
    replaces_tables = True
    params = {
        "head_coverage": Param(0.8, "share of the table's training occurrences the full-width (head) ids carry",
                               lambda v: isinstance(v, (int, float)) and 0 < v < 1, "a number in (0, 1)"),
        "tail_dim": Param(0.25, "width of the other ids' rows, as a fraction of the table's width",
                          lambda v: isinstance(v, (int, float)) and 0 < v < 1, "a number in (0, 1)"),
        "layers": layers_param(),
    }

    def __init__(self):
        self.facts: dict[str, dict] = {}

    @classmethod
    def eligible(cls, layer: keras.layers.Layer) -> bool:
        return is_plain_table(layer, MIN_ROWS) and layer.output_dim >= 2

    @classmethod
    def candidates(cls) -> list[dict]:
        return [{"head_coverage": 0.9, "tail_dim": 0.5}, {"head_coverage": 0.8, "tail_dim": 0.25},
                {"head_coverage": 0.6, "tail_dim": 0.25}, {"head_coverage": 0.5, "tail_dim": 0.125}]

    def apply(self, model: keras.Model, params: dict, ctx: StepContext) -> keras.Model:
        self.facts, made = {}, {}
        chosen = selected_layers(self, model, params)
        for layer in model.layers:
            if layer.name not in chosen:
                continue
            feature = input_of(layer)
            counts = ctx.id_counts.get(feature)
            if counts is None:
                raise StepError(f"compress step '{self.name}': no training counts for '{feature}' (table "
                                f"'{layer.name}'); the step sizes rows by how often each id was seen")
            d = layer.output_dim
            head = min(head_size(np.asarray(counts), params["head_coverage"]), layer.input_dim - 1)
            tail_dim = max(1, int(round(params["tail_dim"] * d)))
            before = layer.input_dim * d
            after = MixedDimEmbedding.values(layer.input_dim, d, head, tail_dim)
            facts = {"head_ids": head, "tail_ids": layer.input_dim - head, "tail_dim": tail_dim,
                     "int8_bytes_before": before, "int8_bytes_after": after}
            if after >= before:
                self.facts[layer.name] = {**facts, "kept": "the two blocks and the id positions are not smaller"}
                continue
            self.facts[layer.name] = facts
            made[layer.name] = MixedDimEmbedding.from_embedding(layer, np.asarray(counts), head, tail_dim)
        return replace_layers(model, made) if made else model

    def describe(self, model: keras.Model) -> dict:
        """Per selected table: head and tail ids, tail width, int8 bytes before and after (or why kept whole)."""
        saved = sum(f["int8_bytes_before"] - f["int8_bytes_after"] for f in self.facts.values() if "kept" not in f)
        return {"tables": dict(self.facts), "int8_bytes_saved": saved}
