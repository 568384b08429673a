"""The student widths `edgerec build --target` searches: `--student-widths 1,2,3`.

A width is a multiplier of the recipe student's width: its `embedding_dim` and every `hidden`
size times the multiplier, each capped by the teacher (its `embedding_dim`; its widest hidden
layer), never below the recipe's own. A wider student may meet an accuracy floor the recipe's
cannot, and compression may then shrink it below the narrow one; the search measures both.

Budget: the recipe's width (x1) is trained by the build anyway and costs nothing; every wider
width costs one trial of `--search-trials` per student it trains (`students`: the student alone
and one distilled student per distillation candidate, among which the build's `choose_student`
picks; 2 for a recipe with one distillation setting). A width is searched only when the budget
also leaves every searched width at least one fine-tuned chain.
Parsed and planned without TensorFlow, so the CLI refuses a bad flag before anything trains.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

from device_bench.errors import EdgerecError
from edgerec.recipe import ModelConfig, Recipe

DEFAULT = (1, 2, 3)  # tried while the budget covers them (see `plan`)
MAX_MULTIPLIER = 8


class WidthError(EdgerecError, ValueError):
    """A `--student-widths` value that cannot be used; the message names it and what was expected."""


@dataclass(frozen=True)
class Width:
    """One searched student: `multiplier` of the recipe's width, built as `config`; `trainings` is the
    trials of the budget it costs (the students it trains; none for the recipe's own width)."""

    multiplier: int
    config: ModelConfig
    trainings: int

    @property
    def key(self) -> str:
        """Checkpoint prefix of this width's student stages ('' for the recipe's: the build's own keys)."""
        return "" if self.multiplier == 1 else f"width_x{self.multiplier}/"

    def to_dict(self) -> dict:
        """What a trial, the front and the manifest record of the width."""
        return {"multiplier": self.multiplier, "embedding_dim": self.config.embedding_dim,
                "hidden": list(self.config.hidden)}

    def describe(self) -> str:
        return describe(self.to_dict())


def describe(width: dict) -> str:
    """'x2 (embedding 8, hidden [16])' from a `Width.to_dict()`."""
    return f"x{width['multiplier']} (embedding {width['embedding_dim']}, hidden {width['hidden']})"


def parse(text: str) -> tuple[int, ...]:
    """'1,2,3' -> (1, 2, 3): integers in [1, MAX_MULTIPLIER], each once, ascending; 1 (the recipe's
    student, which the build trains anyway) is always included."""
    parts = [part.strip() for part in text.split(",")]
    if not all(p.isdigit() and 1 <= int(p) <= MAX_MULTIPLIER for p in parts):
        raise WidthError(f"--student-widths: expected integers in [1, {MAX_MULTIPLIER}] separated by commas "
                         f"(multipliers of the recipe student's width), e.g. 1,2,3. Received: {text!r}")
    values = [int(p) for p in parts]
    if len(set(values)) != len(values):
        raise WidthError(f"--student-widths: expected each multiplier once. Received: {text!r}")
    return tuple(sorted({1, *values}))


def widen(student: ModelConfig, teacher: ModelConfig, multiplier: int) -> ModelConfig:
    """`student` with embedding and hidden sizes times `multiplier`, capped by the teacher's, never below its own."""
    cap = max(teacher.hidden, default=0)

    def scaled(size: int, limit: int) -> int:
        return max(size, min(size * multiplier, limit))

    return dataclasses.replace(student, embedding_dim=scaled(student.embedding_dim, teacher.embedding_dim),
                               hidden=tuple(scaled(h, cap) for h in student.hidden))


def students(recipe: Recipe) -> int:
    """Students the sequence trains at one width: the student alone and one per distillation candidate."""
    return 1 + len(recipe.distill.candidates())


def candidates(recipe: Recipe, multipliers: Sequence[int]) -> list[Width]:
    """One Width per distinct student config, narrowest first (multipliers the teacher caps to the same
    config are one width: the smallest multiplier names it)."""
    out: list[Width] = []
    for multiplier in sorted(multipliers):
        config = widen(recipe.student, recipe.teacher, multiplier)
        if all(w.config != config for w in out):
            out.append(Width(multiplier, config, 0 if multiplier == 1 else students(recipe)))
    return out


def needed(widths: Sequence[Width]) -> int:
    """The smallest budget that searches every width of `widths`: their trainings and a chain each."""
    return sum(w.trainings for w in widths) + len(widths)


def plan(recipe: Recipe, multipliers: Sequence[int] | None, budget: int) -> list[Width]:
    """The widths of `recipe`'s student the search trains and searches under `budget`.

    `multipliers` None is the default (`DEFAULT`): its widths narrowest first, as many as the budget
    covers (x1 always). Given ones must all fit, else WidthError names the budget they need.
    """
    widths = candidates(recipe, DEFAULT if multipliers is None else multipliers)
    if multipliers is None:
        return [w for i, w in enumerate(widths) if needed(widths[:i + 1]) <= budget or i == 0]
    if needed(widths) > budget:
        raise WidthError(
            f"--student-widths: {','.join(f'x{w.multiplier}' for w in widths)} need --search-trials >= "
            f"{needed(widths)} ({students(recipe)} student trainings per width beyond x1, and one fine-tuned chain "
            f"per width). Received: --search-trials {budget}")
    return widths
