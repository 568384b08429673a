"""Compressed embedding tables that convert to full-integer TFLite with builtin ops only.

A recommender's bytes are its tables (98 % of the default `student_int8`), so these layers each
replace a trained `keras.layers.Embedding` (ids of any shape S -> S + (output_dim,)) and keep its
name, so distillation and later steps still find it. Each is built from the trained table by a
`from_embedding` that starts fine-tuning close to the table it replaces.

- `MixedDimEmbedding` (Ginart et al., "Mixed Dimension Embeddings with Application to
  Memory-Efficient Recommendation Systems", ISIT 2021): the ids most seen in training keep
  full-width rows; the rest get `tail_dim`-wide rows projected to the full width. Two blocks.
  An int32 `position` table orders the ids by training count (4 bytes an id, in the file), so
  no vocabulary has to be renumbered: position < head -> the head row, else the tail row.
- `QREmbedding` (Shi et al., "Compositional Embeddings Using Complementary Partitions for
  Memory-Efficient Recommendation Systems", KDD 2020): id -> (id // m, id % m), and the row is
  the element-wise product of a quotient and a remainder row. Every id has its own pair, so no
  two ids share their embedding; ceil(V / m) + m rows instead of V.
- `PackedInt4Embedding`: int4 codes packed two per byte in a uint8 table, unpacked in the graph
  by a GATHER from the 256 x 2 table of every byte's two codes (`byte_codes`), times a per-row
  scale. `bench/sub8bit.py` measured it as the only sub-8-bit table that both ai-edge-litert 2.3
  and tflite-runtime 2.14 run (INT4 tensors fail on the latter). Frozen: the codes are not trained.
"""

from __future__ import annotations

import numpy as np

from edgerec._keras import keras, tf

CODE_MIN, CODE_MAX = -8, 7  # int4 codes
CODE_TABLE_BYTES = 256 * 2  # byte_codes() in an int8 file, once per packed table
CLIP_GRID = np.linspace(0.5, 1.0, 26)  # fractions of max|row| tried as the int4 clipping value (bench/sub8bit.py's)


def _check_sizes(**sizes: int) -> None:
    for key, value in sizes.items():
        if value < 1:
            raise ValueError(f"{key} must be >= 1. Received: {key}={value}")


def _table(embedding: keras.layers.Embedding) -> np.ndarray:
    if embedding.mask_zero:
        raise ValueError(f"embedding '{embedding.name}' has mask_zero=True, which compressed tables do not support")
    return embedding.embeddings.numpy()


@keras.saving.register_keras_serializable(package="edgerec")
class MixedDimEmbedding(keras.layers.Layer):
    """Two-block mixed-dimension table: y = head[min(p, H)] + tail[max(p - H + 1, 0)] @ projection,
    p = position[id], the id's rank by training count (0 = most seen), H = `head` ids.

    head [H + 1, d]: full rows of the H most seen ids; its last row is one vector shared by every
    tail id (it starts at zero). tail [V - H + 1, tail_dim]: the other ids' narrow rows after a
    row 0 shared by the head ids (zero at start). position [V] int32 is frozen.
    """

    def __init__(self, input_dim: int, output_dim: int, head: int, tail_dim: int, **kwargs):
        super().__init__(**kwargs)
        _check_sizes(input_dim=input_dim, output_dim=output_dim, tail_dim=tail_dim)
        if not 0 <= head < input_dim:
            raise ValueError(f"head must be in [0, {input_dim}). Received: head={head}")
        self.input_dim, self.output_dim, self.head, self.tail_dim = input_dim, output_dim, head, tail_dim

    def build(self, input_shape):
        self.position = self.add_weight(name="position", shape=(self.input_dim,), dtype="int32",
                                        initializer="zeros", trainable=False)
        self.head_rows = self.add_weight(name="head", shape=(self.head + 1, self.output_dim), initializer="uniform")
        self.tail_rows = self.add_weight(name="tail", shape=(self.input_dim - self.head + 1, self.tail_dim),
                                         initializer="uniform")
        self.projection = self.add_weight(name="projection", shape=(self.tail_dim, self.output_dim),
                                          initializer="glorot_uniform")
        super().build(input_shape)

    def call(self, inputs):
        position = tf.gather(self.position, tf.cast(inputs, "int32"))
        head = tf.gather(self.head_rows, tf.minimum(position, self.head))
        tail = tf.gather(self.tail_rows, tf.maximum(position - (self.head - 1), 0))
        return head + tf.matmul(tail, self.projection)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape).concatenate([self.output_dim])

    def get_config(self):
        config = {"input_dim": self.input_dim, "output_dim": self.output_dim, "head": self.head,
                  "tail_dim": self.tail_dim}
        return {**super().get_config(), **config}

    @classmethod
    def from_embedding(cls, embedding: keras.layers.Embedding, counts: np.ndarray, head: int,
                       tail_dim: int) -> "MixedDimEmbedding":
        """Head rows copied from the trained table; tail rows and projection from the truncated SVD
        of the tail ids' rows (their best rank-`tail_dim` approximation). Ties in `counts` keep id order."""
        table = _table(embedding)
        if counts.shape != (table.shape[0],):
            raise ValueError(f"counts must have one entry per row of '{embedding.name}' ({table.shape[0]}). "
                             f"Received: shape={counts.shape}")
        if not 1 <= tail_dim <= min(table.shape[1], table.shape[0] - head):
            raise ValueError(f"tail_dim must be in [1, {min(table.shape[1], table.shape[0] - head)}]. "
                             f"Received: tail_dim={tail_dim}")
        order = np.argsort(-counts, kind="stable")
        position = np.empty(len(order), dtype=np.int32)
        position[order] = np.arange(len(order), dtype=np.int32)
        u, s, vt = np.linalg.svd(table[order[head:]], full_matrices=False)
        root = np.sqrt(s[:tail_dim])
        layer = cls(table.shape[0], table.shape[1], head, tail_dim, name=embedding.name)
        layer.build((None,))
        zero_head, zero_tail = np.zeros((1, table.shape[1])), np.zeros((1, tail_dim))
        for weight, value in ((layer.position, position), (layer.head_rows, np.r_[table[order[:head]], zero_head]),
                              (layer.tail_rows, np.r_[zero_tail, u[:, :tail_dim] * root]),
                              (layer.projection, root[:, None] * vt[:tail_dim])):
            weight.assign(value.astype(weight.dtype.as_numpy_dtype))
        return layer

    @staticmethod
    def values(input_dim: int, output_dim: int, head: int, tail_dim: int) -> int:
        """Bytes in an int8 file: int8 rows and projection, the int32 positions and the projection's
        int32 (zero) bias that `converters.fc_bias` gives every FULLY_CONNECTED."""
        return 4 * input_dim + (head + 1) * output_dim + (input_dim - head + 1) * tail_dim + (tail_dim + 4) * output_dim


@keras.saving.register_keras_serializable(package="edgerec")
class QREmbedding(keras.layers.Layer):
    """Quotient-remainder table: y = quotient[id // m] * remainder[id % m] (element-wise), m = `buckets`."""

    def __init__(self, input_dim: int, output_dim: int, buckets: int, **kwargs):
        super().__init__(**kwargs)
        _check_sizes(input_dim=input_dim, output_dim=output_dim, buckets=buckets)
        self.input_dim, self.output_dim, self.buckets = input_dim, output_dim, buckets

    @property
    def quotients(self) -> int:
        return -(-self.input_dim // self.buckets)

    def build(self, input_shape):
        self.quotient = self.add_weight(name="quotient", shape=(self.quotients, self.output_dim), initializer="ones")
        self.remainder = self.add_weight(name="remainder", shape=(self.buckets, self.output_dim), initializer="uniform")
        super().build(input_shape)

    def call(self, inputs):
        ids = tf.cast(inputs, "int32")
        return tf.gather(self.quotient, ids // self.buckets) * tf.gather(self.remainder, ids % self.buckets)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape).concatenate([self.output_dim])

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "buckets": self.buckets}

    @classmethod
    def from_embedding(cls, embedding: keras.layers.Embedding, buckets: int, sweeps: int = 5) -> "QREmbedding":
        """Fitted to the trained table E by alternating least squares, per column j:
        E[i, j] ~ Q[i // m, j] R[i % m, j], each sweep solving Q given R, then R given Q, in closed form
        (from R = the mean row of each remainder class and Q = 1)."""
        table = _table(embedding).astype(np.float64)
        layer = cls(table.shape[0], table.shape[1], buckets, name=embedding.name)
        ids = np.arange(table.shape[0])
        q_of, r_of = ids // buckets, ids % buckets

        def solve(index, other, size):
            numerator = np.zeros((size, table.shape[1]))
            denominator = np.zeros((size, table.shape[1]))
            np.add.at(numerator, index, table * other)
            np.add.at(denominator, index, other * other)
            return np.where(denominator > 1e-12, numerator / np.maximum(denominator, 1e-12), 1.0)

        quotient = np.ones((layer.quotients, table.shape[1]))
        remainder = solve(r_of, quotient[q_of], buckets)
        for _ in range(sweeps):
            quotient = solve(q_of, remainder[r_of], layer.quotients)
            remainder = solve(r_of, quotient[q_of], buckets)
        layer.build((None,))
        layer.quotient.assign(quotient.astype(np.float32))
        layer.remainder.assign(remainder.astype(np.float32))
        return layer


def byte_codes() -> np.ndarray:
    """[256, 2] float32: the two int4 codes of every byte `pack_bytes` writes (the in-graph lookup table)."""
    byte = np.arange(256)
    return (np.stack([byte >> 4, byte & 15], axis=1) + CODE_MIN).astype(np.float32)


def pack_bytes(codes: np.ndarray) -> np.ndarray:
    """[V, d] codes in [-8, 7] -> [V, d/2] uint8: byte j = 16 (codes[:, 2j] + 8) + (codes[:, 2j + 1] + 8)."""
    if codes.shape[1] % 2:
        raise ValueError(f"packing needs an even embedding width. Received: shape={codes.shape}")
    offset = codes.astype(np.int16) - CODE_MIN
    return (offset[:, 0::2] * 16 + offset[:, 1::2]).astype(np.uint8)


def quantize_rows(table: np.ndarray, row_scale: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """int4 codes [V, d] in [-8, 7] and scales ([V, 1] per row, else [1, 1]) with table ~ codes * scale.

    The scale of a row is c / 7 for the clipping value c = a max|row|, a in CLIP_GRID, that
    minimises sum (codes scale - row)^2 (a = 1 is plain max scaling; clipping trades the few
    largest values for a finer step everywhere else).
    """
    table = np.asarray(table, dtype=np.float32)
    axis_max = np.abs(table).max(axis=1, keepdims=True) if row_scale else np.abs(table).max().reshape(1, 1)
    best_error = np.full(axis_max.shape, np.inf)
    best = np.ones_like(axis_max)
    for a in CLIP_GRID:
        scale = np.where(axis_max > 0, a * axis_max / CODE_MAX, 1.0)
        error = (np.clip(np.round(table / scale), CODE_MIN, CODE_MAX) * scale - table) ** 2
        error = error.sum(axis=1, keepdims=True) if row_scale else error.sum().reshape(1, 1)
        better = error < best_error
        best_error, best = np.where(better, error, best_error), np.where(better, scale, best)
    scale = best.astype(np.float32)
    return np.clip(np.round(table / scale), CODE_MIN, CODE_MAX).astype(np.int8), scale


@keras.saving.register_keras_serializable(package="edgerec")
class PackedInt4Embedding(keras.layers.Layer):
    """A frozen table of int4 codes packed two per byte, with a float scale per row, and for a
    factorised table (`FactorizedEmbedding`) its r x d projection after the lookup.

    Weights: `packed` [V, w/2] uint8 and `scale` [V, 1] (frozen), and with `rank` a trainable
    `projection` [w, d] (w = rank rounded up to even; a padded column has code 0 and a zero
    projection row). ids -> codes(GATHER(packed, ids)) * GATHER(scale, ids) [@ projection],
    codes = RESHAPE(GATHER(byte_codes(), CAST int32(byte)), [..., w]). In the int8 file the
    scale column becomes an int8 table (one byte a row) and the code table is exact (its values
    -8..7 at the scale calibration gives them).
    """

    def __init__(self, input_dim: int, output_dim: int, rank: int | None = None, **kwargs):
        super().__init__(**kwargs)
        _check_sizes(input_dim=input_dim, output_dim=output_dim, rank=rank or 1)
        if rank is None and output_dim % 2:
            raise ValueError(f"output_dim must be even (two codes per byte). Received: output_dim={output_dim}")
        self.input_dim, self.output_dim, self.rank = input_dim, output_dim, rank

    @property
    def width(self) -> int:
        """Codes per row: the table's width, or its rank rounded up to even."""
        return self.output_dim if self.rank is None else self.rank + self.rank % 2

    def build(self, input_shape):
        self.packed = self.add_weight(name="packed", shape=(self.input_dim, self.width // 2), dtype="uint8",
                                      initializer="zeros", trainable=False)
        self.scale = self.add_weight(name="scale", shape=(self.input_dim, 1), initializer="ones", trainable=False)
        if self.rank is not None:
            self.projection = self.add_weight(name="projection", shape=(self.width, self.output_dim),
                                              initializer="glorot_uniform")
        super().build(input_shape)

    def call(self, inputs):
        ids = tf.cast(inputs, "int32")
        byte = tf.cast(tf.gather(self.packed, ids), tf.int32)
        codes = tf.gather(tf.constant(byte_codes()), byte)  # S + (w/2, 2)
        codes = tf.reshape(codes, [-1, *inputs.shape[1:], self.width])  # static but for the batch axis
        rows = codes * tf.gather(self.scale, ids)
        return rows if self.rank is None else tf.matmul(rows, self.projection)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape).concatenate([self.output_dim])

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim, "rank": self.rank}

    @classmethod
    def from_embedding(cls, embedding: keras.layers.Layer) -> "PackedInt4Embedding":
        """From a trained `keras.layers.Embedding`, or a `FactorizedEmbedding` (its V x r table packed,
        its projection kept)."""
        factorized = hasattr(embedding, "projection")
        table = embedding.embeddings.numpy() if factorized else _table(embedding)
        layer = cls(embedding.input_dim, embedding.output_dim, embedding.rank if factorized else None,
                    name=embedding.name)
        layer.build((None,))
        table = np.pad(table, ((0, 0), (0, layer.width - table.shape[1])))
        codes, scale = quantize_rows(table)
        layer.packed.assign(pack_bytes(codes))
        layer.scale.assign(scale)
        if factorized:
            projection = embedding.projection.numpy()
            layer.projection.assign(np.pad(projection, ((0, layer.width - projection.shape[0]), (0, 0))))
        return layer

    def table(self) -> np.ndarray:
        """The float rows this layer looks up (codes times scales), before any projection."""
        packed, scale = self.packed.numpy(), self.scale.numpy()
        return byte_codes()[packed.astype(np.int64)].reshape(self.input_dim, self.width) * scale
