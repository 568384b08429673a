"""Custom layers, each serializable (get_config / registered) so clone_model and TFMOT work.

- `Cross`: DCN-v2 cross layer (Wang et al., "DCN V2", WWW 2021):
  x_{l+1} = x_0 * (W x_l + b) + x_l, with W of shape (d, d), optionally low-rank W = U V.
- `LowRankDense`: a Dense layer whose kernel is factorised, y = act((x U) V + b) with U (m, r)
  and V (r, n). Parameters r (m + n) + n instead of m n + n. Built from a trained Dense by
  truncated SVD (`from_dense`), which is the best rank-r approximation of the kernel
  (Eckart–Young), so fine-tuning starts close to the original function.
- `FactorizedEmbedding`: a V x d embedding table stored as a V x r table times an r x d
  projection, E = T P: r (V + d) numbers instead of V d, for large vocabularies (the low-rank
  form of the table; Eckart–Young again makes the truncated SVD of a trained table, `from_embedding`,
  the best rank-r start). A lookup gathers r numbers per id and projects them to d.
- `FactorizationMachine`: the FM second-order term (Rendle, "Factorization Machines", ICDM 2010)
  as used by DeepFM (Guo et al., IJCAI 2017), with no weights of its own.
"""

from __future__ import annotations

import numpy as np

from edgerec._keras import keras, tf


@keras.saving.register_keras_serializable(package="edgerec")
class Cross(keras.layers.Layer):
    """DCN-v2 cross layer. Call with [x0, xl]; input and output shape (batch, d).

    With `projection_dim=r` the (d, d) matrix is factorised as U (d, r) V (r, d), the
    "DCN-Mix"/low-rank form of the paper and of TFRS's `Cross(projection_dim=...)`: d^2 -> 2 d r
    weights and multiply-adds, which TFRS reports keeps accuracy around r = d / 4.
    """

    def __init__(self, projection_dim: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if projection_dim is not None and projection_dim < 1:
            raise ValueError(f"projection_dim must be >= 1 or None. Received: projection_dim={projection_dim}")
        self.projection_dim = projection_dim

    def build(self, input_shape):
        dim = int(input_shape[0][-1])
        if self.projection_dim is None:
            self.projection = None
        else:
            self.projection = keras.layers.Dense(self.projection_dim, use_bias=False, name="projection")
            self.projection.build((None, dim))
        self.dense = keras.layers.Dense(dim, name="dense")
        self.dense.build((None, self.projection_dim or dim))
        super().build(input_shape)

    def call(self, inputs):
        x0, xl = inputs
        projected = xl if self.projection is None else self.projection(xl)
        return x0 * self.dense(projected) + xl

    def get_config(self):
        return {**super().get_config(), "projection_dim": self.projection_dim}


@keras.saving.register_keras_serializable(package="edgerec")
class LowRankDense(keras.layers.Layer):
    """Dense layer with a rank-`rank` kernel: y = activation((x @ kernel_u) @ kernel_v + bias)."""

    def __init__(self, units: int, rank: int, activation=None, use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        if units < 1:
            raise ValueError(f"units must be >= 1. Received: units={units}")
        if rank < 1:
            raise ValueError(f"rank must be >= 1. Received: rank={rank}")
        self.units = units
        self.rank = rank
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias

    def build(self, input_shape):
        in_dim = int(input_shape[-1])
        self.kernel_u = self.add_weight(
            name="kernel_u", shape=(in_dim, self.rank), initializer="glorot_uniform", trainable=True
        )
        self.kernel_v = self.add_weight(
            name="kernel_v", shape=(self.rank, self.units), initializer="glorot_uniform", trainable=True
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.units,), initializer="zeros", trainable=True)
            if self.use_bias
            else None
        )
        super().build(input_shape)

    def call(self, inputs):
        out = tf.matmul(tf.matmul(inputs, self.kernel_u), self.kernel_v)
        if self.use_bias:
            out = out + self.bias
        return self.activation(out)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([self.units])

    def get_prunable_weights(self):
        """TFMOT PrunableLayer protocol: both factors are pruned; the bias is not."""
        return [self.kernel_u, self.kernel_v]

    def get_config(self):
        config = {
            "units": self.units,
            "rank": self.rank,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_dense(cls, dense: keras.layers.Dense, rank: int) -> "LowRankDense":
        """A LowRankDense initialised from `dense` by truncated SVD (sqrt(S) split between factors)."""
        kernel = dense.kernel.numpy()
        max_rank = min(kernel.shape)
        if not 1 <= rank <= max_rank:
            raise ValueError(f"rank must be in [1, {max_rank}] for kernel {kernel.shape}. Received: rank={rank}")
        u, s, vt = np.linalg.svd(kernel, full_matrices=False)
        root = np.sqrt(s[:rank])
        layer = cls(
            units=dense.units,
            rank=rank,
            activation=dense.activation,
            use_bias=dense.use_bias,
            name=dense.name,
        )
        layer.build((None, kernel.shape[0]))
        weights = [u[:, :rank] * root, root[:, None] * vt[:rank]]
        if dense.use_bias:
            weights.append(dense.bias.numpy())
        layer.set_weights(weights)
        return layer


@keras.saving.register_keras_serializable(package="edgerec")
class FactorizedEmbedding(keras.layers.Layer):
    """Embedding with a rank-`rank` table: y = gather(table, ids) @ projection, no bias.

    ids of any shape S -> output S + (output_dim,), as `keras.layers.Embedding`. The weight
    names follow Embedding ("embeddings" is the V x r table) plus "projection" (r x d); in a
    full-integer TFLite model they become an int8 GATHER and an int8 FULLY_CONNECTED.
    """

    def __init__(self, input_dim: int, output_dim: int, rank: int, **kwargs):
        super().__init__(**kwargs)
        for key, value in (("input_dim", input_dim), ("output_dim", output_dim), ("rank", rank)):
            if value < 1:
                raise ValueError(f"{key} must be >= 1. Received: {key}={value}")
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.rank = rank

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings", shape=(self.input_dim, self.rank), initializer="uniform", trainable=True
        )
        self.projection = self.add_weight(
            name="projection", shape=(self.rank, self.output_dim), initializer="glorot_uniform", trainable=True
        )
        super().build(input_shape)

    def call(self, inputs):
        return tf.matmul(tf.gather(self.embeddings, tf.cast(inputs, "int32")), self.projection)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape).concatenate([self.output_dim])

    def get_config(self):
        config = {"input_dim": self.input_dim, "output_dim": self.output_dim, "rank": self.rank}
        return {**super().get_config(), **config}

    @classmethod
    def from_embedding(cls, embedding: keras.layers.Embedding, rank: int) -> "FactorizedEmbedding":
        """A FactorizedEmbedding with `embedding`'s name, initialised by truncated SVD of its table.

        sqrt(S) goes to each factor, as in `LowRankDense.from_dense`, so both have similar
        ranges and quantize equally well.
        """
        if embedding.mask_zero:
            raise ValueError(f"embedding '{embedding.name}' has mask_zero=True, which FactorizedEmbedding does not support")
        table = embedding.embeddings.numpy()
        max_rank = min(table.shape)
        if not 1 <= rank <= max_rank:
            raise ValueError(f"rank must be in [1, {max_rank}] for table {table.shape}. Received: rank={rank}")
        u, s, vt = np.linalg.svd(table, full_matrices=False)
        root = np.sqrt(s[:rank])
        layer = cls(embedding.input_dim, embedding.output_dim, rank, name=embedding.name)
        layer.build((None,))
        layer.set_weights([u[:, :rank] * root, root[:, None] * vt[:rank]])
        return layer


@keras.saving.register_keras_serializable(package="edgerec")
class FactorizationMachine(keras.layers.Layer):
    """Pairwise interactions of F field embeddings: input (batch, F, d), output (batch, 1).

    sum_{i<j} <v_i, v_j> = 1/2 * sum_k [(sum_i v_ik)^2 - sum_i v_ik^2], Rendle's O(F d) form
    of the O(F^2 d) sum. Built from SUM, MUL and SUB only, so it converts to full-integer int8.
    """

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"FactorizationMachine expects (batch, fields, dim). Received: input_shape={input_shape}")
        super().build(input_shape)

    def call(self, inputs):
        summed = tf.reduce_sum(inputs, axis=1)
        squares = tf.reduce_sum(inputs * inputs, axis=1)
        return 0.5 * tf.reduce_sum(summed * summed - squares, axis=1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([input_shape[0], 1])
