"""Distillation losses behind one interface: `compute_loss(teacher_outputs, student_outputs)`.

Each loss says which outputs it reads (`reads`: a teacher key and a student key). A key is a
layer name of the model ("score" is the logit), or `CANDIDATES` for the logits of the
candidate groups that ranking distillation needs. The `Distiller` computes those outputs and
calls `WeightedSum.compute_loss` with a dict {key: tensor} per side; a single loss is given the
one tensor it reads. Losses with learned projections create them in `build(teacher, student)`
and expose them as `projections` (trained with the student, never part of it).

Methods (the recipe names, registered with their parameters in `methods.py`):
- `logits`: soft labels for a binary head. A softmax over a single CTR logit is always 1, so
  the Hinton recipe cannot be applied as is: the soft target is the Bernoulli distribution
  sigmoid(z_t / T), the student's is sigmoid(z_s / T), the loss their binary cross-entropy
  scaled by T^2 so its gradient magnitude does not shrink as T grows (Hinton et al.,
  "Distilling the Knowledge in a Neural Network", 2015).
- `ranking`: Ranking Distillation (Tang & Wang, KDD 2018): in each user's candidate group the
  teacher's top-K items become positives for the student, weighted by rank.
- `listwise`: the teacher's ranking of each user's candidate group as a distribution: the
  student's softmax over the group matches the teacher's (ListNet's top-one probabilities, Cao
  et al., ICML 2007), at the distillation temperature, scaled by T^2. Unlike `ranking` it
  also says which candidates the teacher ranks low, and by how much.
- `unlabelled`: the `logits` loss on unlabelled pairs: each user's candidate group (items the
  user never interacted with, beyond the training rows) scored by the teacher, each pair's
  sigmoid(z_t / T) a soft label for the student, scaled by T^2. On sparse logs most (user, item)
  pairs carry no label, and the teacher's score is all a student can learn there. `ranking`
  and `listwise` read the same groups for their order only; this keeps each pair's probability.
- `hint`: FitNets hints (Romero et al., ICLR 2015): a learned projection of a named student
  layer regresses a named teacher layer (MSE).
- `embedding`: the same for the feature embeddings, one projection per feature, as the
  "distillation experts" of DE-RRD (Kang et al., CIKM 2020) map student representations into
  the teacher's space.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from device_bench.errors import EdgerecError, suggest
from edgerec._keras import keras, tf
from edgerec.distill import methods as distill_methods
from edgerec.recipe import DistillConfig, DistillMethod

SCORE = "score"  # the logit layer of every edgerec ranker
CANDIDATES = "candidates/score"  # logits of the candidate groups, shape (groups, candidates)


class DistillError(EdgerecError, ValueError):
    """A distillation method that cannot apply to these models (e.g. a layer name they lack)."""


class DistillationLoss:
    """Base class: maps (teacher outputs, student outputs) to a scalar loss."""

    reads: tuple[str, str] = (SCORE, SCORE)
    candidates: int = 0  # items per candidate group this loss needs (0: reads no groups)

    def build(self, teacher: keras.Model, student: keras.Model) -> None:
        """Creates learned projections from the two models' layer shapes (none by default)."""

    @property
    def projections(self) -> list[keras.layers.Layer]:
        return []

    def compute_loss(self, teacher_outputs: tf.Tensor, student_outputs: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}


class LogitsDistillation(DistillationLoss):
    """T^2 * BCE(sigmoid(z_t / T), sigmoid(z_s / T)), mean over the batch; inputs are logits."""

    def __init__(self, temperature: float = DistillConfig.temperature):
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0. Received: temperature={temperature}")
        self.temperature = float(temperature)

    def compute_loss(self, teacher_outputs: tf.Tensor, student_outputs: tf.Tensor) -> tf.Tensor:
        t = self.temperature
        soft_targets = tf.sigmoid(tf.reshape(teacher_outputs, [-1]) / t)
        student_logits = tf.reshape(student_outputs, [-1]) / t
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=soft_targets, logits=student_logits)
        return (t * t) * tf.reduce_mean(bce)

    def get_config(self) -> dict:
        return {"temperature": self.temperature}


_RANKING = distill_methods.Ranking.resolve({})  # constructor defaults: the registry's
_LISTWISE = distill_methods.Listwise.resolve({})
_UNLABELLED = distill_methods.Unlabelled.resolve({})


class RankingDistillation(DistillationLoss):
    """-sum_{r=1..K} w_r log sigmoid(z_s[pi_r]), mean over groups; pi = the teacher's order.

    Inputs are the logits of G candidate groups, shape (G, C): each row one user's C candidate
    items (items the user never interacted with, sampled by the task). The student learns to
    score the teacher's top K of each row as positives, the paper's point-wise form. Position
    weights w_r: `exponential` w_r ~ exp(-r / decay) (the paper's position importance w^a), or
    `uniform`; normalised to sum to 1 so the loss scale does not grow with K. The paper's
    second, dynamic weight (rank discrepancy w^b) is not implemented.
    """

    reads = (CANDIDATES, CANDIDATES)

    def __init__(self, top_k: int = _RANKING["top_k"], candidates: int = _RANKING["candidates"],
                 position_weights: str = _RANKING["position_weights"], decay: float = _RANKING["decay"]):
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1. Received: top_k={top_k}")
        if candidates <= top_k:
            raise ValueError(f"candidates must be > top_k ({top_k}). Received: candidates={candidates}")
        if position_weights not in distill_methods.POSITION_WEIGHTS:
            raise ValueError(
                f"position_weights must be one of {distill_methods.POSITION_WEIGHTS}. Received: {position_weights!r}"
            )
        if decay <= 0:
            raise ValueError(f"decay must be > 0. Received: decay={decay}")
        self.top_k = top_k
        self.candidates = candidates
        self.position_weights = position_weights
        self.decay = float(decay)

    def weights(self) -> np.ndarray:
        """w_1..w_K, summing to 1."""
        ranks = np.arange(1, self.top_k + 1, dtype=np.float64)
        w = np.exp(-ranks / self.decay) if self.position_weights == "exponential" else np.ones_like(ranks)
        return w / w.sum()

    def compute_loss(self, teacher_outputs: tf.Tensor, student_outputs: tf.Tensor) -> tf.Tensor:
        top = tf.math.top_k(teacher_outputs, k=self.top_k).indices
        picked = tf.gather(student_outputs, top, batch_dims=1)  # (G, K) student logits
        w = tf.constant(self.weights(), dtype=picked.dtype)
        return tf.reduce_mean(tf.reduce_sum(w * tf.nn.softplus(-picked), axis=1))  # -log sigmoid(z) = softplus(-z)

    def get_config(self) -> dict:
        return {k: getattr(self, k) for k in ("top_k", "candidates", "position_weights", "decay")}


class ListwiseDistillation(DistillationLoss):
    """T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) per candidate group, mean over groups.

    Inputs are the logits of G candidate groups, shape (G, C), as for `RankingDistillation`.
    NDCG@K and HR@K only depend on the order of a user's candidates, and the candidates a user
    never interacted with carry no label at all: the teacher's distribution over them is the
    signal hard labels cannot give. A softmax is shift-invariant, so the loss leaves the
    student's calibration (its logit level) to the hard-label and `logits` terms.
    """

    reads = (CANDIDATES, CANDIDATES)

    def __init__(self, temperature: float = DistillConfig.temperature, candidates: int = _LISTWISE["candidates"]):
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0. Received: temperature={temperature}")
        if candidates < 2:
            raise ValueError(f"candidates must be >= 2 (a list to rank). Received: candidates={candidates}")
        self.temperature = float(temperature)
        self.candidates = candidates

    def compute_loss(self, teacher_outputs: tf.Tensor, student_outputs: tf.Tensor) -> tf.Tensor:
        t = self.temperature
        log_p_teacher = tf.nn.log_softmax(teacher_outputs / t, axis=-1)
        log_p_student = tf.nn.log_softmax(student_outputs / t, axis=-1)
        kl = tf.reduce_sum(tf.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=-1)
        return (t * t) * tf.reduce_mean(kl)

    def get_config(self) -> dict:
        return {"temperature": self.temperature, "candidates": self.candidates}


class UnlabelledDistillation(LogitsDistillation):
    """T^2 * BCE(sigmoid(z_t / T), sigmoid(z_s / T)) over every pair of the candidate groups (G, C), mean.

    `LogitsDistillation` on the groups instead of the training rows: the pairs have no hard label,
    so the teacher's probability is the student's only target there.
    """

    reads = (CANDIDATES, CANDIDATES)

    def __init__(self, temperature: float = DistillConfig.temperature, candidates: int = _UNLABELLED["candidates"]):
        super().__init__(temperature)
        if candidates < 1:
            raise ValueError(f"candidates must be >= 1. Received: candidates={candidates}")
        self.candidates = candidates

    def get_config(self) -> dict:
        return {"temperature": self.temperature, "candidates": self.candidates}


class HintDistillation(DistillationLoss):
    """mean((P(h_s) - h_t)^2): a learned Dense P maps student layer h_s onto teacher layer h_t.

    The projection sits on the student side, as in FitNets: projecting the teacher instead
    would let the loss reach 0 by shrinking the projection, teaching nothing.
    """

    def __init__(self, student_layer: str, teacher_layer: str):
        self.reads = (teacher_layer, student_layer)
        self.projection: keras.layers.Layer | None = None

    def build(self, teacher: keras.Model, student: keras.Model) -> None:
        teacher_dim = layer_output(teacher, self.reads[0]).shape[-1]
        student_dim = layer_output(student, self.reads[1]).shape[-1]
        self.projection = keras.layers.Dense(teacher_dim, name=f"hint_{self.reads[1]}_to_{self.reads[0]}")
        self.projection.build((None, student_dim))

    @property
    def projections(self) -> list[keras.layers.Layer]:
        return [self.projection] if self.projection is not None else []

    def compute_loss(self, teacher_outputs: tf.Tensor, student_outputs: tf.Tensor) -> tf.Tensor:
        if self.projection is None:
            raise RuntimeError("HintDistillation.build(teacher, student) must run before compute_loss")
        return tf.reduce_mean(tf.square(self.projection(student_outputs) - teacher_outputs))

    def get_config(self) -> dict:
        return {"student_layer": self.reads[1], "teacher_layer": self.reads[0]}


class EmbeddingDistillation(HintDistillation):
    """mean over features of mean((e_s,f P_f + b_f - e_t,f)^2), one projection per feature.

    Reads the "embeddings" layer (every feature's embedding, concatenated) of both models, so
    it needs both to embed the same F features; P_f is (d_student, d_teacher).
    """

    def __init__(self):
        super().__init__(student_layer="embeddings", teacher_layer="embeddings")
        self.fields = 0

    def build(self, teacher: keras.Model, student: keras.Model) -> None:
        if len(teacher.inputs) != len(student.inputs):
            raise DistillError(
                f"embedding distillation needs the same features in both models. "
                f"Received: {len(teacher.inputs)} teacher and {len(student.inputs)} student inputs"
            )
        self.fields = len(student.inputs)
        teacher_dim = layer_output(teacher, "embeddings").shape[-1] // self.fields
        student_dim = layer_output(student, "embeddings").shape[-1] // self.fields
        self.projection = keras.layers.EinsumDense(
            "bfs,fst->bft", output_shape=(self.fields, teacher_dim), bias_axes="ft", name="embedding_projection"
        )
        self.projection.build((None, self.fields, student_dim))

    def compute_loss(self, teacher_outputs: tf.Tensor, student_outputs: tf.Tensor) -> tf.Tensor:
        if self.projection is None:
            raise RuntimeError("EmbeddingDistillation.build(teacher, student) must run before compute_loss")
        student_fields = tf.reshape(student_outputs, [-1, self.fields, student_outputs.shape[-1] // self.fields])
        teacher_fields = tf.reshape(teacher_outputs, [-1, self.fields, teacher_outputs.shape[-1] // self.fields])
        return tf.reduce_mean(tf.square(self.projection(student_fields) - teacher_fields))

    def get_config(self) -> dict:
        return {}


class WeightedSum(DistillationLoss):
    """sum_i w_i * s_i * loss_i; each term is given the outputs it `reads` from a dict per side.

    s_i is 1, except for the candidate-group terms (`ranking`, `listwise`, `unlabelled`): their loss is a mean
    over the few groups riding along a batch (about 5 groups of 20 items next to 4,096 rows on
    the default recipe), so unscaled each group item would weigh about a thousand training rows
    and drown the hard labels (measured: at weight 1.0 both cut NDCG@10 below the student trained
    alone). s_i = group items / rows in the batch makes weight 1.0 mean "a group item counts
    as much as a training row does in the row-mean terms".
    """

    def __init__(self, terms: Sequence[tuple[float, DistillationLoss]]):
        if not terms:
            raise ValueError("WeightedSum needs at least one (weight, loss) term. Received: []")
        for weight, loss in terms:
            if weight <= 0 or isinstance(loss, WeightedSum):
                raise ValueError(f"terms must be (weight > 0, single loss). Received: ({weight}, {loss!r})")
        self.terms = [(float(w), loss) for w, loss in terms]
        self.candidates = max(loss.candidates for _, loss in self.terms)

    @property
    def keys(self) -> tuple[set[str], set[str]]:
        """The teacher and the student output keys some term reads."""
        return {loss.reads[0] for _, loss in self.terms}, {loss.reads[1] for _, loss in self.terms}

    @property
    def reads_layers(self) -> bool:
        """Whether some term reads an intermediate layer (so the models must have it)."""
        return any(key not in (SCORE, CANDIDATES) for keys in self.keys for key in keys)

    def build(self, teacher: keras.Model, student: keras.Model) -> None:
        for _, loss in self.terms:
            loss.build(teacher, student)

    @property
    def projections(self) -> list[keras.layers.Layer]:
        return [p for _, loss in self.terms for p in loss.projections]

    def compute_loss(self, teacher_outputs: dict[str, tf.Tensor], student_outputs: dict[str, tf.Tensor]) -> tf.Tensor:
        values = []
        for weight, loss in self.terms:
            value = weight * loss.compute_loss(teacher_outputs[loss.reads[0]], student_outputs[loss.reads[1]])
            if loss.reads[1] == CANDIDATES:
                value *= group_share(student_outputs[CANDIDATES], student_outputs[SCORE])
            values.append(value)
        return tf.add_n(values)

    def get_config(self) -> dict:
        return {"terms": [(w, type(loss).__name__, loss.get_config()) for w, loss in self.terms]}


def group_share(groups: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
    """Candidate-group items per training row in a batch: the scale of a group term (see `WeightedSum`)."""
    return tf.cast(tf.size(groups), groups.dtype) / tf.cast(tf.size(rows), groups.dtype)


def layer_output(model: keras.Model, name: str) -> tf.Tensor:
    """The symbolic output of layer `name` in `model`'s own graph.

    A compression step's clone_model keeps unchanged layers as the same objects, so such a
    layer has one node per model and `layer.output` (node 0) may belong to the model it was
    cloned from; tf_keras has no public lookup of a model's node, hence `_network_nodes`.
    """
    layer = find_layer(model, name)
    nodes = range(len(layer._inbound_nodes))
    return next(layer.get_output_at(i) for i in nodes if f"{layer.name}_ib-{i}" in model._network_nodes)


def find_layer(model: keras.Model, name: str) -> keras.layers.Layer:
    """The layer `name` of `model`, also when a compression step wrapped it (pruning, QAT)."""
    for layer in model.layers:
        if layer.name == name or getattr(getattr(layer, "layer", None), "name", None) == name:
            return layer
    names = [layer.name for layer in model.layers]
    hint = suggest(name, names)
    raise DistillError(f"model '{model.name}' has no layer '{name}'.{hint} Its layers: {', '.join(names)}")


# Each registered method's loss, from its resolved parameters and the recipe's temperature. The
# registry (`methods.py`) names the methods without TensorFlow; the builders live here, beside the losses.
BUILDERS: dict[str, Callable[[dict, float], DistillationLoss]] = {
    "logits": lambda params, temperature: LogitsDistillation(temperature),
    "ranking": lambda params, temperature: RankingDistillation(**params),
    "listwise": lambda params, temperature: ListwiseDistillation(temperature, **params),
    "hint": lambda params, temperature: HintDistillation(**params),
    "embedding": lambda params, temperature: EmbeddingDistillation(),
    "unlabelled": lambda params, temperature: UnlabelledDistillation(temperature, **params),
}
if list(BUILDERS) != list(distill_methods.REGISTRY):  # a method registered without a loss, or the reverse
    raise ImportError(f"distillation builders {list(BUILDERS)} do not match the registry {list(distill_methods.REGISTRY)}")


def from_config(config: DistillConfig, methods: Sequence[DistillMethod] | None = None) -> WeightedSum:
    """The weighted sum of the recipe's methods (or of `methods`, e.g. one ablation arm)."""
    chosen = config.methods if methods is None else methods
    return WeightedSum([(m.weight, BUILDERS[m.name](m.params(), config.temperature)) for m in chosen])
