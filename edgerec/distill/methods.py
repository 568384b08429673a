"""The distillation-method registry: the one list of methods a recipe may name.

Each method declares its recipe parameters in one table (default, allowed values, description),
and whether it reads each user's candidate group (`group`: ranking data only). The module imports
no TensorFlow, so `edgerec.recipe` validates a recipe against it before anything trains; each
method's loss builder is registered under the same name in `losses.BUILDERS` (checked at import),
and `losses.from_config` builds each loss from the parameters resolved here.
The losses themselves (and the papers they follow) are in `losses.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

POSITION_WEIGHTS = ("exponential", "uniform")


@dataclass(frozen=True)
class Param:
    """One recipe parameter of a method; `valid(value, resolved)` sees every resolved parameter,
    so a bound may depend on another one (ranking: candidates > top_k)."""

    default: Any
    description: str
    valid: Callable[[Any, dict], bool]
    expected: str
    required: bool = False  # the recipe must give it (it has no useful default)


class DistillationMethod:
    name: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[dict[str, Param]] = {}
    group: ClassVar[bool] = False  # reads each user's candidate group, so needs ranking data (not CTR rows)

    @classmethod
    def resolve(cls, given: dict) -> dict:
        """Every parameter of the method: `given` over the defaults (keys outside `params` are ignored)."""
        return {key: given.get(key, param.default) for key, param in cls.params.items()}


REGISTRY: dict[str, type[DistillationMethod]] = {}  # in registration order: the order recipes and tables list


def register(cls: type[DistillationMethod]) -> type[DistillationMethod]:
    if cls.name in REGISTRY:
        raise ValueError(f"distillation method '{cls.name}' is registered twice ({REGISTRY[cls.name]} and {cls})")
    REGISTRY[cls.name] = cls
    return cls


def group_methods() -> list[str]:
    """Names of the methods that read candidate groups (ranking data only)."""
    return [name for name, method in REGISTRY.items() if method.group]


def _layer(role: str) -> Param:
    return Param(None, f"{role} layer name", lambda v, p: bool(v), "a layer name (method 'hint' needs both layers)",
                 required=True)


def _candidates(valid: Callable[[Any, dict], bool], expected: str) -> Param:
    return Param(20, "items in each user's candidate group (the user's positive among sampled negatives)", valid,
                 expected)


@register
class Logits(DistillationMethod):
    name = "logits"
    description = "soft labels for a binary head: T^2 * BCE(sigmoid(z_t / T), sigmoid(z_s / T))"


@register
class Ranking(DistillationMethod):
    name = "ranking"
    description = "the teacher's top-K items of each user's candidate group become weighted positives"
    group = True
    params = {
        "top_k": Param(5, "teacher-top items of each group the student learns as positives", lambda v, p: v >= 1,
                       ">= 1"),
        "candidates": _candidates(lambda v, p: v > p["top_k"], "> top_k"),
        "position_weights": Param("exponential", "weight by rank: exponential exp(-rank / decay), or uniform",
                                  lambda v, p: v in POSITION_WEIGHTS, f"one of {list(POSITION_WEIGHTS)}"),
        "decay": Param(2.0, "rank decay of the exponential position weights", lambda v, p: v > 0, "> 0"),
    }


@register
class Listwise(DistillationMethod):
    name = "listwise"
    description = "the student's softmax over each user's candidate group matches the teacher's"
    group = True
    params = {"candidates": _candidates(lambda v, p: v >= 2, ">= 2")}


@register
class Hint(DistillationMethod):
    name = "hint"
    description = "student_layer (through a learned projection) regresses teacher_layer"
    params = {"student_layer": _layer("student"), "teacher_layer": _layer("teacher")}


@register
class Embedding(DistillationMethod):
    name = "embedding"
    description = "each student feature embedding (through a learned projection) regresses the teacher's"


@register
class Unlabelled(DistillationMethod):
    name = "unlabelled"
    description = "soft labels on each user's candidate group: unseen (user, item) pairs the teacher scores"
    group = True
    params = {"candidates": _candidates(lambda v, p: v >= 1, ">= 1")}
