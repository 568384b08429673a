"""The result-row contract that ``bench.json``, the report and CI gates read.

One row per (artifact, threads, batch). Every row, including an error row,
has every key below; values that were not measured are ``None`` (``metrics``
and ``keras_delta`` are ``{}``, ``fidelity`` keeps its keys with ``None``
values), so a consumer never meets a ``KeyError``. Keys are only ever
added, at the end, so that older readers keep working.

Later keys: ``xnnpack`` (bool, whether the default XNNPACK delegate was
allowed), ``cpus`` (the CPU ids the worker was pinned to, or None),
``items_per_s`` (batch / mean latency), ``fidelity`` (ranking agreement with
a reference artifact, see ``device_bench.fidelity``) and ``keras_delta``
(device metric − the Keras metric the manifest recorded at build time),
``reference_kernels`` (bool, whether the interpreter ran TFLite's reference
kernels instead of the optimized builtin ones; see ``device_bench.runtime.load``),
``by_popularity`` (the ranking metrics per popularity group of the held-out item, each with its
number of lists, ``device_bench.popularity``; ``{}`` when the eval set has no popularity counts).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from device_bench.atomic import atomic_path

LATENCY_KEYS = ("init", "first", "mean", "std", "min", "max", "p50", "p90", "p99", "runs")
ROW_KEYS = (
    "artifact",
    "path",
    "bytes",
    "runtime",
    "threads",
    "batch",
    "latency_us",
    "peak_rss_bytes",
    "rss_before_load_bytes",
    "metrics",
    "status",
    "xnnpack",
    "cpus",
    "items_per_s",
    "fidelity",
    "keras_delta",
    "reference_kernels",
    "by_popularity",
)
FIDELITY_KEYS = ("reference", "top10_overlap", "kendall_tau")
OK = "ok"


def new_row(
    path: Path, threads: int, batch: int, xnnpack: bool = True, cpus: list[int] | None = None,
    reference_kernels: bool = False,
) -> dict[str, Any]:
    """A row with nothing measured yet (``status`` still ``None``)."""
    return {
        "artifact": path.name,
        "path": str(path),
        "bytes": path.stat().st_size if path.is_file() else None,
        "runtime": {"name": None, "version": None},
        "threads": threads,
        "batch": batch,
        "latency_us": dict.fromkeys(LATENCY_KEYS),
        "peak_rss_bytes": None,
        "rss_before_load_bytes": None,
        "metrics": {},
        "status": None,
        "xnnpack": xnnpack,
        "cpus": cpus,
        "items_per_s": None,
        "fidelity": dict.fromkeys(FIDELITY_KEYS),
        "keras_delta": {},
        "reference_kernels": reference_kernels,
        "by_popularity": {},
    }


def error(reason: str) -> str:
    """``"error: <reason>"`` on one line, short enough for a table cell."""
    line = " ".join(str(reason).split())
    return f"error: {line[:300]}"


def write_json(path: str | Path, environment: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Write ``{"environment": ..., "rows": [...]}`` atomically.

    The JSON goes to a temporary file in the same folder and is renamed over
    ``path``, so a reader (or a run killed half-way) never sees half a file.
    """
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump({"environment": environment, "rows": rows}, f, indent=2)
            f.write("\n")


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}.{key}"))
        return flat
    if isinstance(value, list):
        return {prefix: ",".join(str(v) for v in value)}
    return {prefix: value}


def flatten(row: dict[str, Any]) -> dict[str, Any]:
    """One level of columns: ``latency_us.p50``, ``metrics.auc``, ``cpus`` as ``"0,1"``."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        flat.update(_flatten(value, key))
    return flat


def write_csv(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write the rows as a flat CSV, atomically; columns are the union over rows, in first-seen order.

    A column a row lacks (e.g. ``metrics.auc`` of an error row) is an empty cell.
    """
    flat_rows = [flatten(row) for row in rows]
    columns = list(dict.fromkeys(column for flat in flat_rows for column in flat))
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(flat_rows)
