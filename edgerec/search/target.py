"""Accuracy targets: `auc>=0.999*teacher,ndcg@10>=0.99*teacher,logloss<=0.45`.

A target is a comma-separated list of clauses `METRIC OP BOUND`, OP one of `>=` and `<=`, BOUND a
number or `FACTOR*teacher` (relative to the teacher's value of that metric, measured on the same
data). A trial meets the target when it meets every clause. Parsed without TensorFlow, so the CLI
refuses a bad target before anything trains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from device_bench.errors import EdgerecError, suggest

_CLAUSE = re.compile(r"^\s*(?P<metric>[A-Za-z][\w@]*)\s*(?P<op>>=|<=)\s*(?P<bound>.+?)\s*$")
_RELATIVE = re.compile(r"^(?P<factor>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\*\s*teacher$")
_NUMBER = re.compile(r"^[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?$")


class TargetError(EdgerecError, ValueError):
    """A target clause that cannot be used; the message names the clause."""


@dataclass(frozen=True)
class Clause:
    metric: str
    op: str  # ">=" or "<="
    value: float
    relative: bool  # value is a factor of the teacher's metric

    def threshold(self, teacher: dict[str, float]) -> float:
        """The bound in the metric's units: the factor times the teacher's value, or the number."""
        return self.value * teacher[self.metric] if self.relative else self.value

    def met(self, metrics: dict[str, float], teacher: dict[str, float]) -> bool:
        value, bound = metrics[self.metric], self.threshold(teacher)
        return value >= bound if self.op == ">=" else value <= bound

    def slack(self, metrics: dict[str, float], teacher: dict[str, float]) -> float:
        """How far `metrics` is inside the bound (negative: outside), in the metric's units."""
        value, bound = metrics[self.metric], self.threshold(teacher)
        return value - bound if self.op == ">=" else bound - value

    def __str__(self) -> str:
        bound = f"{self.value:g}*teacher" if self.relative else f"{self.value:g}"
        return f"{self.metric}{self.op}{bound}"


def parse(text: str, metric_names: Sequence[str]) -> tuple[Clause, ...]:
    """The clauses of `text`; `metric_names` are the metrics the task can give.

    Raises TargetError naming the bad clause and what was expected.
    """
    if not text or not text.strip():
        raise TargetError("--target: empty; expected clauses like 'auc>=0.999*teacher,ndcg@10>=0.99*teacher'")
    clauses = []
    for part in text.split(","):
        match = _CLAUSE.match(part)
        if not match:
            raise TargetError(
                f"--target: clause {part.strip()!r} is not METRIC>=BOUND or METRIC<=BOUND "
                "(BOUND a number or FACTOR*teacher, e.g. auc>=0.999*teacher)"
            )
        metric, op, bound = match["metric"].lower(), match["op"], match["bound"].replace(" ", "")
        if metric not in metric_names:
            hint = suggest(metric, metric_names)
            raise TargetError(
                f"--target: clause {part.strip()!r}: unknown metric {metric!r} for this task.{hint} "
                f"Metrics: {', '.join(metric_names)}"
            )
        relative = _RELATIVE.match(bound)
        if relative:
            clauses.append(Clause(metric, op, float(relative["factor"]), True))
        elif _NUMBER.match(bound):
            clauses.append(Clause(metric, op, float(bound), False))
        else:
            raise TargetError(
                f"--target: clause {part.strip()!r}: bound {bound!r} is neither a number nor FACTOR*teacher"
            )
    return tuple(clauses)


def describe(clauses: Sequence[Clause]) -> str:
    return ",".join(str(c) for c in clauses)
