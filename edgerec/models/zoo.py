"""Teacher and student builders: functional tf_keras models, one named int32 input per feature.

Both output a single LOGIT per row, shape (batch, 1), named "score". A logit, not a
probability, because (a) distillation needs logits, and (b) after int8 quantization a sigmoid
output has 1/256 resolution and would tie most candidates in a top-10 ranking; apps apply
the sigmoid themselves when they need a probability.
"""

from __future__ import annotations

from edgerec._keras import keras
from edgerec.data.schema import FeatureSpec
from edgerec.models.layers import Cross
from edgerec.recipe import ModelConfig


def build_ranker(features: list[FeatureSpec], config: ModelConfig, name: str, seed: int = 0) -> keras.Model:
    """Embeddings per feature -> concat -> [DCN-v2 cross stack] and MLP -> Dense(1) logit."""
    keras.utils.set_random_seed(seed)
    inputs = {f.name: keras.Input(shape=(), dtype="int32", name=f.name) for f in features}
    embedded = [
        keras.layers.Embedding(f.vocab_size, config.embedding_dim, name=f"embedding_{f.name}")(inputs[f.name])
        for f in features
    ]
    x0 = keras.layers.Concatenate(name="embeddings")(embedded)
    towers = []
    if config.cross_layers:
        xl = x0
        for i in range(config.cross_layers):
            xl = Cross(projection_dim=config.cross_projection_dim or None, name=f"cross_{i}")([x0, xl])
        towers.append(xl)
    h = x0
    for i, units in enumerate(config.hidden):
        h = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(h)
    towers.append(h)
    top = keras.layers.Concatenate(name="towers")(towers) if len(towers) > 1 else towers[0]
    score = keras.layers.Dense(1, name="score")(top)
    return keras.Model(inputs=inputs, outputs=score, name=name)
