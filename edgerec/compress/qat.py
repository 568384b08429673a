"""Quantization-aware training with TFMOT, annotating only the dense-like layers.

`quantize_model` on a whole recommender fails on its int32 id inputs, so each Dense /
LowRankDense is annotated (`quantize_annotate_layer`) and the model goes through
`quantize_apply`. Dense uses TFMOT's default 8-bit config; LowRankDense, a custom layer, gets
`LowRankDenseQuantizeConfig`. After pruning, the sparsity-preserving scheme
(`Default8BitPrunePreserveQuantizeScheme`) keeps zeros at zero for Dense, and the custom
config masks LowRankDense weights the same way. Layers the recipe keeps in float
(`export.keep_float`) are not annotated. Embedding tables are not fake-quantized here;
the full-integer converter quantizes them from the representative data. A FactorizedEmbedding
gets `FactorizedEmbeddingQuantizeConfig`: its projection is a matmul like a Dense kernel, so it
is fake-quantized with its output, while its V x r table is left to the converter like any table.
"""

from __future__ import annotations

import tensorflow_model_optimization as tfmot

from edgerec._keras import keras, tf
from edgerec.compress.base import CompressionStep, StepContext, is_dense_like, layers_param, register, selected_layers
from edgerec.compress.prune import layer_sparsity
from edgerec.models.layers import FactorizedEmbedding, LowRankDense

quantization = tfmot.quantization.keras


@keras.saving.register_keras_serializable(package="edgerec")
class SparsityPreservingQuantizer(quantization.quantizers.LastValueQuantizer):
    """8-bit symmetric per-tensor weight quantizer that keeps exact zeros at zero.

    The mask is recomputed from the weights on every call and has no gradient, so a pruned
    (zero) weight receives no update from Adam and stays zero through QAT.
    """

    def __init__(self, num_bits: int = 8, per_axis: bool = False, symmetric: bool = True, narrow_range: bool = True):
        super().__init__(num_bits=num_bits, per_axis=per_axis, symmetric=symmetric, narrow_range=narrow_range)

    def __call__(self, inputs, training, weights, **kwargs):
        mask = tf.stop_gradient(tf.cast(tf.not_equal(inputs, 0), inputs.dtype))
        return super().__call__(inputs * mask, training, weights, **kwargs)


@keras.saving.register_keras_serializable(package="edgerec")
class LowRankDenseQuantizeConfig(quantization.QuantizeConfig):
    """Quantizes both LowRankDense factors (8-bit weights) and its activation output."""

    def __init__(self, preserve_sparsity: bool = False):
        self.preserve_sparsity = preserve_sparsity

    def _weight_quantizer(self):
        if self.preserve_sparsity:
            return SparsityPreservingQuantizer()
        return quantization.quantizers.LastValueQuantizer(num_bits=8, per_axis=False, symmetric=True, narrow_range=True)

    def get_weights_and_quantizers(self, layer):
        return [(layer.kernel_u, self._weight_quantizer()), (layer.kernel_v, self._weight_quantizer())]

    def get_activations_and_quantizers(self, layer):
        quantizer = quantization.quantizers.MovingAverageQuantizer(
            num_bits=8, per_axis=False, symmetric=False, narrow_range=False
        )
        return [(layer.activation, quantizer)]

    def set_quantize_weights(self, layer, quantize_weights):
        layer.kernel_u, layer.kernel_v = quantize_weights

    def set_quantize_activations(self, layer, quantize_activations):
        layer.activation = quantize_activations[0]

    def get_output_quantizers(self, layer):
        return []

    def get_config(self):
        return {"preserve_sparsity": self.preserve_sparsity}


@keras.saving.register_keras_serializable(package="edgerec")
class FactorizedEmbeddingQuantizeConfig(LowRankDenseQuantizeConfig):
    """Quantizes a FactorizedEmbedding's r x d projection (8-bit weights) and its output."""

    def get_weights_and_quantizers(self, layer):
        return [(layer.projection, self._weight_quantizer())]

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        (layer.projection,) = quantize_weights

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [quantization.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]


@register
class QAT(CompressionStep):
    name = "qat"
    description = "Quantization-aware training (8-bit) of Dense/LowRankDense; sparsity-preserving after prune."
    params = {"layers": layers_param()}
    fake_quant = True

    @classmethod
    def eligible(cls, layer: keras.layers.Layer) -> bool:
        return is_dense_like(layer) or isinstance(layer, FactorizedEmbedding)

    @classmethod
    def candidates(cls) -> list[dict]:
        return [{}]

    def apply(self, model: keras.Model, params: dict, ctx: StepContext) -> keras.Model:
        preserve = "prune" in ctx.previous_steps
        chosen = selected_layers(self, model, params) - set(ctx.keep_float)  # kept float: no fake-quant to learn

        def annotate(layer):
            if layer.name not in chosen:
                return layer
            if isinstance(layer, LowRankDense):
                return quantization.quantize_annotate_layer(layer, LowRankDenseQuantizeConfig(preserve))
            if isinstance(layer, keras.layers.Dense):
                return quantization.quantize_annotate_layer(layer)
            return layer

        annotated = keras.models.clone_model(model, clone_function=annotate)
        annotated.set_weights(model.get_weights())
        factorized = {name for name in chosen if isinstance(model.get_layer(name), FactorizedEmbedding)}
        if chosen - factorized:
            with quantization.quantize_scope(
                {"LowRankDense": LowRankDense, "LowRankDenseQuantizeConfig": LowRankDenseQuantizeConfig}
            ):
                if preserve:
                    annotated = quantization.quantize_apply(
                        annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
                    )
                else:
                    annotated = quantization.quantize_apply(annotated)
        return _wrap_factorized_embeddings(annotated, factorized, preserve)

    def describe(self, model: keras.Model) -> dict:
        unwrapped = {}
        for layer in model.layers:
            inner = getattr(layer, "layer", None)
            if inner is not None and hasattr(inner, "get_weights"):
                kernels = [w for w in layer.get_weights() if w.ndim == 2]
                if kernels:
                    zeros = sum(int((k == 0).sum()) for k in kernels)
                    unwrapped[inner.name] = round(zeros / sum(k.size for k in kernels), 4)
        return {"quantized_layers": sorted(unwrapped), "sparsity": unwrapped or layer_sparsity(model)}


def _wrap_factorized_embeddings(model: keras.Model, names: set[str], preserve: bool) -> keras.Model:
    """Wraps the FactorizedEmbedding layers `names` in QuantizeWrapperV2 directly.

    They read int32 ids straight from a model input, and quantize_apply puts a float-only
    QuantizeLayer after every input that feeds an annotated layer (the reason quantize_model
    fails on id inputs); wrapping after quantize_apply fake-quantizes the projection without it.
    """
    if not names:
        return model

    def wrap(layer):
        if layer.name in names:
            return quantization.QuantizeWrapperV2(layer, FactorizedEmbeddingQuantizeConfig(preserve))
        return layer

    return keras.models.clone_model(model, clone_function=wrap)
