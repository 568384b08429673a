"""The result-row contract that ``bench.json``, the report and CI gates read.

One row per (artifact, threads, batch). Every row, including an error row,
has every key below; values that were not measured are ``None`` (``metrics``
is ``{}``), so a consumer never meets a ``KeyError``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from device_bench.atomic import atomic_path

LATENCY_KEYS = ("init", "first", "mean", "std", "min", "max", "p50", "p90", "p99", "runs")
METRIC_KEYS = ("auc", "logloss", "hr@10", "ndcg@10")
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
)
OK = "ok"


def new_row(path: Path, threads: int, batch: int) -> dict[str, Any]:
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
