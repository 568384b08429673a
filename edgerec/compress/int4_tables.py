"""int4 embedding tables, packed two codes per byte, unpacked in the graph by builtin int8 ops.

`bench/sub8bit.py` tried every sub-8-bit table form on ai-edge-litert 2.3 and tflite-runtime 2.14:
INT4 tensors (GATHER, EMBEDDING_LOOKUP) fail on tflite-runtime and TF's converter cannot emit an
int4 table, so only this form runs in both (`PackedInt4Embedding`). Each row keeps its own scale
(one byte in the int8 file); one scale per table lost twice the NDCG@10. The codes are frozen
(round-to-nearest with the clipping that minimises each row's error): the rest of the model is
fine-tuned under the teacher around them. The unpack is a second GATHER, a RESHAPE and a MUL per
lookup, so latency rises (about 3x int8's at batch 256 there); bytes fall to about 0.55x.
After `factorize_embeddings` it packs the V x r table and keeps (and fine-tunes) the projection.
Tables with fewer than MIN_ROWS rows stay int8: they hold next to no bytes. Each packed table
also carries its own 512-byte code table (the converter does not share them).
"""

from __future__ import annotations

from edgerec._keras import keras
from edgerec.compress.base import (CompressionStep, StepContext, is_plain_table, layers_param, register, replace_layers,
                                   selected_layers)
from edgerec.models.layers import FactorizedEmbedding
from edgerec.models.tables import CODE_TABLE_BYTES, PackedInt4Embedding

MIN_ROWS = 16


@register
class Int4Tables(CompressionStep):
    name = "int4_tables"
    description = "Embedding tables as int4 codes packed two per byte, with a scale per row (frozen)."
    replaces_tables = True
    int8_only = True  # int16x8 cannot quantize the unpack's CAST; fp16 / dynamic would keep float tables anyway
    params = {"layers": layers_param()}

    def __init__(self):
        self.facts: dict[str, dict] = {}

    packs_tables_of = ("factorize_embeddings",)

    @classmethod
    def eligible(cls, layer: keras.layers.Layer) -> bool:
        """A table with an even width (two codes a byte), or a factorised one (its V x r table is packed,
        an odd rank padded with a zero column), with at least MIN_ROWS rows."""
        if isinstance(layer, FactorizedEmbedding):
            return layer.input_dim >= MIN_ROWS
        return is_plain_table(layer, MIN_ROWS) and layer.output_dim % 2 == 0

    @classmethod
    def candidates(cls) -> list[dict]:
        return [{}]

    def apply(self, model: keras.Model, params: dict, ctx: StepContext) -> keras.Model:
        chosen = selected_layers(self, model, params)
        made = {layer.name: PackedInt4Embedding.from_embedding(layer) for layer in model.layers if layer.name in chosen}
        self.facts = {name: {"int8_bytes_before": layer.input_dim * (layer.rank or layer.output_dim),
                             "int8_bytes_after": layer.input_dim * (layer.width // 2 + 1) + CODE_TABLE_BYTES}
                      for name, layer in made.items()}
        return replace_layers(model, made) if made else model

    def describe(self, model: keras.Model) -> dict:
        saved = sum(f["int8_bytes_before"] - f["int8_bytes_after"] for f in self.facts.values())
        return {"tables": dict(self.facts), "int8_bytes_saved": saved}
