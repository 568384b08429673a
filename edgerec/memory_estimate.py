"""Refuse a build that cannot fit in memory, before anything trains.

A recipe with `embedding_dim: 100000000` used to train for seconds and then die inside
TensorFlow with a ResourceExhaustedError traceback. Every model of the build (teachers,
assistants, the student at each width the build trains) is built here by `build_ranker` itself
with every variable created uninitialised (a resource handle with a shape and no buffer), so
the exact parameter count of each weight is known in milliseconds without allocating it, and
the estimate can never drift from what `build_ranker` makes. (Building inside a throwaway
`tf.Graph` would also allocate nothing, but tf_keras then swaps its layer classes' bases to the
graph-mode ones process-wide, which breaks every eager model made before it.)

Peak training memory is estimated as the largest of, over the models trained in turn:
  the trained model's float32 weights, Adam's two moment slots and its dense gradients
  (embedding gradients are sparse rows, so tables count 3 floats per parameter, other
  weights 4) + the frozen models it learns from or that stay loaded (4 bytes per parameter)
  + one epoch of training rows (int32 features and float32 labels, twice: sampled and shuffled).
A frozen weight of the trained model (a text-aware teacher's item text vectors) counts once: no
optimizer slots, no gradient.
It is a lower bound of what TensorFlow needs, so a refusal is never a false alarm caused by
the estimate's slack; a build close to the limit may still run out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from device_bench.errors import EdgerecError

if TYPE_CHECKING:
    import numpy as np

TABLE_FLOATS = 3  # weight + Adam m + v; the gradient of an embedding is sparse
DENSE_FLOATS = 4  # weight + Adam m + v + gradient
FROZEN_FLOATS = 1
EPOCH_COPIES = 2
CGROUP = Path("/sys/fs/cgroup")


class MemoryFitError(EdgerecError):
    """The build would need more memory than the machine has available."""


@dataclass(frozen=True)
class Weight:
    model: str  # the recipe key of its model: teacher (teacher_<i> in an ensemble), distill.assistants[i], student
    name: str
    shape: tuple[int, ...]
    table: bool  # an embedding table (sparse gradient)
    trainable: bool = True  # False: frozen in its own model (item text vectors), weight only

    @property
    def params(self) -> int:
        count = 1
        for size in self.shape:
            count *= size
        return count


@dataclass(frozen=True)
class Estimate:
    weights: tuple[Weight, ...]
    peak_bytes: int
    peak_stage: str

    def params(self, model: str | None = None) -> int:
        return sum(w.params for w in self.weights if model is None or w.model == model)

    @property
    def largest(self) -> Weight:
        return max(self.weights, key=lambda w: w.params)


def model_weights(features: list, config, role: str, item_vectors: np.ndarray | None = None) -> list[Weight]:
    """Every weight `build_ranker` would create for `config`, with its shape, allocated never."""
    from tensorflow.python.ops.resource_variable_ops import UninitializedVariable  # no public spelling

    from edgerec._keras import keras, tf
    from edgerec.models.zoo import build_ranker

    def shape_only(next_creator, **kwargs):
        if kwargs.get("shape") is None:  # a weight given as a value, not a shape: already allocated
            return next_creator(**kwargs)
        return UninitializedVariable(shape=kwargs["shape"], dtype=kwargs.get("dtype") or tf.float32,
                                     name=kwargs.get("name"), trainable=kwargs.get("trainable", True))

    with tf.variable_creator_scope(shape_only):
        model = build_ranker(features, config, role, item_vectors=item_vectors)
    tables = {id(v) for layer in model.layers if isinstance(layer, keras.layers.Embedding) for v in layer.weights}
    frozen = {id(v) for v in model.non_trainable_weights}  # a frozen layer's variables still say trainable
    return [Weight(role, w.name.split(":")[0], tuple(int(s) for s in w.shape), id(w) in tables, id(w) not in frozen)
            for w in model.weights]


def estimate(recipe, task) -> Estimate:
    """The recipe's models on the task's vocabularies, and the peak of training them one after another."""
    chain = [(f"teacher_{i}" if recipe.distill.ensemble > 1 else "teacher", recipe.teacher)
             for i in range(recipe.distill.ensemble)]
    chain += [(f"distill.assistants[{i}]", config) for i, config in enumerate(recipe.distill.assistants)]
    chain.append(("student", recipe.student))
    weights = {role: model_weights(task.features, config, role, task.item_vectors) for role, config in chain}
    epoch = task.train_rows_per_epoch * (len(task.features) + 1) * 4 * EPOCH_COPIES
    peak, stage = 0, ""
    for position, (role, _) in enumerate(chain):
        trained = sum(w.params * (FROZEN_FLOATS if not w.trainable else TABLE_FLOATS if w.table else DENSE_FLOATS)
                      for w in weights[role])
        loaded = sum(w.params for other, _ in chain[:position] for w in weights[other]) * FROZEN_FLOATS
        need = 4 * (trained + loaded) + epoch
        if need > peak:
            peak, stage = need, role
    return Estimate(tuple(w for ws in weights.values() for w in ws), peak, stage)


def available_bytes() -> int:
    """Memory this process may still take: the OS's available memory, or less under a cgroup limit."""
    import psutil

    available = psutil.virtual_memory().available
    try:
        limit = (CGROUP / "memory.max").read_text().strip()
        if limit != "max":
            available = min(available, int(limit) - int((CGROUP / "memory.current").read_text()))
    except (OSError, ValueError):
        pass  # no cgroup v2 limit visible: the OS figure stands
    return available


def check(recipe, task, available: int | None = None) -> Estimate:
    """Raises MemoryFitError naming the estimate and the largest weight when it cannot fit."""
    found = estimate(recipe, task)
    available = available_bytes() if available is None else available
    if found.peak_bytes > available:
        big = found.largest
        tables = [w for w in found.weights if w.table]
        table = max(tables, key=lambda w: w.params) if tables else big
        named = _describe(big) if table is big else f"{_describe(big)}; the largest table is {_describe(table)}"
        raise MemoryFitError(
            f"the build needs at least {_gib(found.peak_bytes)} to train {found.peak_stage} "
            f"({found.params(found.peak_stage):,} parameters) and {_gib(available)} is available; the largest "
            f"weight is {named}: lower {big.model.split('_')[0]}.embedding_dim or .hidden"
        )
    return found


def _describe(weight: Weight) -> str:
    shape = " x ".join(f"{s:,}" for s in weight.shape)
    return f"{weight.model} {weight.name} {shape} ({_gib(4 * weight.params)} in float32)"


def _gib(count: int) -> str:
    return f"{count / 2**30:,.1f} GiB"
