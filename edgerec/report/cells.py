"""The pieces every markdown document of edgerec is made of: tables, value cells, metric names.

Metric labels come from the metric table (`device_bench.metrics`), so a header, a plot axis and
a sentence name a metric the same way.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from device_bench import metrics as metric_table

MISSING = "—"  # a value that was not measured (a failed row, a baseline without it)
NOT_APPLICABLE = "n/a"  # a metric the task cannot give (no HR@10 / NDCG@10 for CTR data)
_RULES = {"l": "---", "r": "---:"}


def table(header: Sequence[str], align: str, rows: Iterable[Sequence[str]]) -> str:
    """A markdown table: `align` has one letter per column, `l` (text) or `r` (numbers)."""
    lines = [_line(header), "|" + "".join(f"{_RULES[a]}|" for a in align)]
    return "\n".join(lines + [_line(cells) for cells in rows])


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def fmt(value: float | None, digits: int = 4) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def label(key: str) -> str:
    """The metric's display label: 'ndcg@10' -> 'NDCG@10'."""
    return metric_table.get(key).label


def metric_cell(metrics: Mapping[str, float | None], key: str, applicable: Sequence[str]) -> str:
    """The metric's value; "n/a" when the task has no such metric, "—" when it was not measured."""
    return fmt(metrics.get(key)) if key in applicable else NOT_APPLICABLE


def labelled(metrics: Mapping[str, float]) -> str:
    """'AUC 0.9000, NDCG@10 0.4800': each metric by its label, in the dict's order."""
    return ", ".join(f"{label(k)} {v:.4f}" for k, v in metrics.items())


def mean_std(stat: Mapping[str, float | None], percent: bool = False) -> str:
    """'0.8050 ± 0.0071' (or '51% ± 2%'); the mean alone for one value, "—" for none."""
    if stat["mean"] is None:
        return MISSING
    show = (lambda v: f"{v:.0%}") if percent else (lambda v: f"{v:.4f}")
    return show(stat["mean"]) + ("" if stat["std"] is None else f" ± {show(stat['std'])}")
