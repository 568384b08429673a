"""The architecture registry: the names `ModelConfig.architecture` may take, and the facts about
each that a recipe or a dataset is checked against before anything trains.

TensorFlow-free, so `edgerec.recipe` validates against it when a recipe is read; `zoo.py`
builds each registered architecture (and says what each one is).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    name: str
    cross: bool = False  # has DCN-v2's cross stack, so takes cross_layers / cross_projection_dim
    needs_ids: bool = False  # defined on the (user_id, item_id) pair: interaction data only


REGISTRY: dict[str, Architecture] = {}  # in registration order: the order messages list them


def register(architecture: Architecture) -> Architecture:
    if architecture.name in REGISTRY:
        raise ValueError(f"architecture '{architecture.name}' is registered twice")
    REGISTRY[architecture.name] = architecture
    return architecture


register(Architecture("mlp"))
register(Architecture("neumf", needs_ids=True))
register(Architecture("deepfm"))
register(Architecture("dcn_v2", cross=True))
register(Architecture("two_tower", needs_ids=True))
