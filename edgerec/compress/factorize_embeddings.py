"""Factorised embeddings: Embedding (V x d table) -> FactorizedEmbedding (V x r table, r x d projection).

In a recommender the tables are most of the bytes; a V x d table at rank r costs r (V + d)
numbers instead of V d, so for V >> d the saving is about 1 - r / d. The factors start from
the truncated SVD of the trained table (the best rank-r approximation, Eckart–Young) and are
then fine-tuned under the teacher. The rank is given as `rank`, `energy` or `param_budget`
(see `rank.py`); a table where the chosen rank saves nothing, or with fewer than `min_rows`
rows, is kept whole and `describe` says so. `min_rows` exists for side-feature tables (an age
bucket, a region): they hold next to no bytes, and on the default preset factorising the
8-row age table at param_budget 0.25 cost the student validation NDCG@10 0.517 -> 0.462.
Each factorised layer keeps its name (`embedding_<feature>`), so distillation and later steps
still find it; the concatenation "embeddings" that `embedding` distillation reads is unchanged.
"""

from __future__ import annotations

from edgerec._keras import keras
from edgerec.compress.base import (CompressionStep, Param, StepContext, layers_param, register, replace_layers,
                                   selected_layers)
from edgerec.compress.rank import Plan, plan, rank_params, resolve_rank
from edgerec.models.layers import FactorizedEmbedding


@register
class FactorizeEmbeddings(CompressionStep):
    name = "factorize_embeddings"
    description = "Store V x d embedding tables as V x r tables times r x d projections, SVD-initialised."
    replaces_tables = True
    params = {
        **rank_params("embedding table"),
        "min_rows": Param(1, "tables with fewer rows are kept whole", lambda v: isinstance(v, int) and v >= 1,
                          "an int >= 1"),
        "layers": layers_param(),
    }

    def __init__(self):
        self.plans: dict = {}  # layer name -> rank.Plan, from the last apply, for describe

    @classmethod
    def resolve(cls, given: dict) -> dict:
        return resolve_rank(cls.name, super().resolve(given))

    @classmethod
    def eligible(cls, layer: keras.layers.Layer) -> bool:
        """An Embedding that some rank makes smaller: rank 1 costs V + d < V d iff (V - 1)(d - 1) > 1."""
        return (
            type(layer) is keras.layers.Embedding
            and not layer.mask_zero
            and (layer.input_dim - 1) * (layer.output_dim - 1) > 1
        )

    @classmethod
    def candidates(cls) -> list[dict]:
        # Kept energy, as for low_rank: one value adapts to each table's spectrum. The tables are
        # most of a recommender's bytes, so the search also needs to reach the size floor: the
        # parameter budgets end the list at about d/2, d/4 and d/8 values per id for a V x d table.
        return [{"energy": energy} for energy in (0.99, 0.95, 0.9, 0.8)] + [
            {"param_budget": budget} for budget in (0.5, 0.25, 0.125)
        ]

    def apply(self, model: keras.Model, params: dict, ctx: StepContext) -> keras.Model:
        chosen = selected_layers(self, model, params)
        self.plans = {layer.name: _plan(layer, params) for layer in model.layers if layer.name in chosen}

        made = {layer.name: FactorizedEmbedding.from_embedding(layer, self.plans[layer.name].rank)
                for layer in model.layers if layer.name in self.plans and not self.plans[layer.name].kept}
        return replace_layers(model, made)

    def describe(self, model: keras.Model) -> dict:
        """Per selected table: rank, kept energy, params before/after (or why it was kept whole).

        `int8_bytes_saved` is the parameters saved, one byte each in the full-integer artifact.
        """
        tables = {name: p.facts() for name, p in self.plans.items()}
        saved = sum(p.params_before - p.params_after for p in self.plans.values())
        return {"tables": tables, "int8_bytes_saved": saved}


def _plan(layer: keras.layers.Embedding, params: dict) -> Plan:
    """The table's rank plan, or a kept one when it has fewer than `min_rows` rows."""
    if layer.input_dim < params["min_rows"]:
        params_before = layer.input_dim * layer.output_dim
        return Plan(0, 1.0, params_before, params_before, f"{layer.input_dim} rows < min_rows {params['min_rows']}")
    return plan(layer.embeddings.numpy(), params)
