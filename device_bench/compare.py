"""Compare two ``bench.json`` files row by row: a before/after table and a CI gate.

Rows are matched by (artifact, threads, batch). For each match the table
gives A, B and the relative change ``(B - A) / |A|`` of the p50 latency, the
size and every metric either side has. The gate fails when a chosen metric
*drops* by more than ``max_drop`` (relative; for LogLoss, where lower is
better, a drop is an increase) or the p50 grows by more than
``max_slowdown``. A chosen metric or p50 that A has and B lacks (B's row is
an error) fails too: a broken artifact must not pass as "no regression".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device_bench import metrics as metric_table
from device_bench.errors import EdgerecError

MISSING = "—"

Key = tuple[str, int, int]


class CompareInputError(EdgerecError, ValueError):
    """A file is not a readable bench JSON, or the two files share no rows (message names it)."""


@dataclass(frozen=True)
class Comparison:
    """The markdown table and the gate's failures (empty when the gate passes)."""

    table: str
    failures: list[str]
    unmatched: list[str]


def _rows_by_key(path: str | Path) -> dict[Key, dict[str, Any]]:
    try:
        rows = json.loads(Path(path).read_text())["rows"]
        keyed = {(str(r["artifact"]), int(r["threads"]), int(r["batch"])): r for r in rows}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CompareInputError(
            f"{path}: not a readable bench JSON with rows[*].artifact/threads/batch ({exc!r})"
        ) from exc
    if len(keyed) != len(rows):
        raise CompareInputError(f"{path}: several rows share one (artifact, threads, batch); cannot match them")
    return keyed


def _change(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or a == 0:
        return None
    return (b - a) / abs(a)


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return MISSING
    return str(value) if isinstance(value, int) else f"{value:.{digits}g}"


def _quantities(row_a: dict[str, Any], row_b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    quantities = {
        "p50 µs": ((row_a.get("latency_us") or {}).get("p50"), (row_b.get("latency_us") or {}).get("p50")),
        "bytes": (row_a.get("bytes"), row_b.get("bytes")),
    }
    metrics_a, metrics_b = row_a.get("metrics") or {}, row_b.get("metrics") or {}
    for metric in dict.fromkeys([*metrics_a, *metrics_b]):
        quantities[metric] = (metrics_a.get(metric), metrics_b.get(metric))
    return quantities


def _gate(
    name: str, quantities: dict[str, tuple[Any, Any]], metrics: list[str], max_drop: float, max_slowdown: float | None
) -> list[str]:
    failures = []
    for metric in metrics:
        a, b = quantities.get(metric, (None, None))
        if a is not None and b is None:
            failures.append(f"{name}: {metric} missing in B (A has {a})")
        elif a is not None and (change := _change(a, b)) is not None:
            drop = -change if metric_table.get(metric).higher_is_better else change
            if drop > max_drop:
                failures.append(f"{name}: {metric} dropped {drop:.2%} ({a} -> {b}), more than {max_drop:.2%}")
    if max_slowdown is not None:
        a, b = quantities["p50 µs"]
        if a is not None and b is None:
            failures.append(f"{name}: p50 missing in B (A has {a} µs)")
        elif (change := _change(a, b)) is not None and change > max_slowdown:
            failures.append(f"{name}: p50 slowed {change:.2%} ({a} -> {b} µs), more than {max_slowdown:.2%}")
    return failures


def compare(
    path_a: str | Path,
    path_b: str | Path,
    metrics: list[str] | tuple[str, ...] = ("ndcg@10",),
    max_drop: float = 0.01,
    max_slowdown: float | None = None,
) -> Comparison:
    """Compare the rows of ``path_a`` (before) and ``path_b`` (after).

    Raises:
      CompareInputError: a file is unreadable or not bench JSON, or the files have no row in common.
    """
    rows_a, rows_b = _rows_by_key(path_a), _rows_by_key(path_b)
    common = [key for key in rows_a if key in rows_b]
    if not common:
        raise CompareInputError(
            f"{path_a} and {path_b} have no row with the same (artifact, threads, batch); "
            f"A has {sorted(rows_a)}, B has {sorted(rows_b)}"
        )
    lines = ["| artifact | threads | batch | quantity | A | B | change |", "|---|---|---|---|---|---|---|"]
    failures = []
    for key in common:
        name = f"{key[0]} threads={key[1]} batch={key[2]}"
        quantities = _quantities(rows_a[key], rows_b[key])
        for quantity, (a, b) in quantities.items():
            change = _change(a, b)
            cells = [*map(str, key), quantity, _fmt(a), _fmt(b), MISSING if change is None else f"{change:+.2%}"]
            lines.append("| " + " | ".join(cells) + " |")
        failures += _gate(name, quantities, list(metrics), max_drop, max_slowdown)
    unmatched = [f"{k[0]} threads={k[1]} batch={k[2]}" for k in [*rows_a, *rows_b] if k not in common]
    return Comparison("\n".join(lines), failures, unmatched)
