"""Quotient-remainder embeddings for large vocabularies (Shi et al., KDD 2020).

Id i's row is quotient[i // m] * remainder[i % m] (element-wise, the paper's best operation), with
m = ceil(V / collisions): about V / collisions + collisions rows instead of V. Unlike the hashing
trick, no two ids get the same row, since (i // m, i % m) is unique; but every id shares each of its
two rows with others, so the step pays where tables are huge and ids many (Criteo-scale fields),
less on a few thousand items. The two tables start from an alternating least-squares fit of the
trained table (`QREmbedding.from_embedding`) and are fine-tuned under the teacher.
"""

from __future__ import annotations

from edgerec._keras import keras
from edgerec.compress.base import (CompressionStep, Param, StepContext, is_plain_table, layers_param, register,
                                   replace_layers, selected_layers)
from edgerec.models.tables import QREmbedding

MIN_ROWS = 16


def buckets(rows: int, collisions: int) -> int:
    """m, the remainder table's rows, for `rows` ids sharing each remainder row about `collisions` ways."""
    return max(1, -(-rows // collisions))


@register
class QREmbeddings(CompressionStep):
    name = "qr_embeddings"
    description = "Tables as element-wise products of a quotient and a remainder row (Shi et al.)."
    replaces_tables = True
    params = {
        "collisions": Param(4, "ids sharing each remainder row (the table keeps about 1/collisions of its rows)",
                            lambda v: isinstance(v, int) and v >= 2, "an integer >= 2"),
        "layers": layers_param(),
    }

    def __init__(self):
        self.facts: dict[str, dict] = {}

    @classmethod
    def eligible(cls, layer: keras.layers.Layer) -> bool:
        return is_plain_table(layer, MIN_ROWS)

    @classmethod
    def candidates(cls) -> list[dict]:
        return [{"collisions": c} for c in (2, 4, 8, 16)]

    def apply(self, model: keras.Model, params: dict, ctx: StepContext) -> keras.Model:
        self.facts, made = {}, {}
        chosen = selected_layers(self, model, params)
        for layer in model.layers:
            if layer.name not in chosen:
                continue
            m = buckets(layer.input_dim, params["collisions"])
            rows = m + -(-layer.input_dim // m)
            facts = {"remainder_rows": m, "quotient_rows": rows - m, "rows_before": layer.input_dim,
                     "int8_bytes_before": layer.input_dim * layer.output_dim,
                     "int8_bytes_after": rows * layer.output_dim}
            if rows >= layer.input_dim:
                self.facts[layer.name] = {**facts, "kept": "the two tables are not smaller"}
                continue
            self.facts[layer.name] = facts
            made[layer.name] = QREmbedding.from_embedding(layer, m)
        return replace_layers(model, made) if made else model

    def describe(self, model: keras.Model) -> dict:
        saved = sum(f["int8_bytes_before"] - f["int8_bytes_after"] for f in self.facts.values() if "kept" not in f)
        return {"tables": dict(self.facts), "int8_bytes_saved": saved}
