"""Human-readable output: a markdown table of rows, and the machine they ran on."""

from __future__ import annotations

import os
import platform
from typing import Any

import numpy as np

MISSING = "—"
COLUMNS = (
    "artifact",
    "status",
    "size KiB",
    "runtime",
    "threads",
    "batch",
    "init ms",
    "first µs",
    "mean µs",
    "std µs",
    "p50 µs",
    "p90 µs",
    "p99 µs",
    "runs",
    "peak RSS MiB",
    "AUC",
    "LogLoss",
    "HR@10",
    "NDCG@10",
)


def _fmt(value: Any, scale: float = 1.0, digits: int = 1) -> str:
    if value is None:
        return MISSING
    return f"{value / scale:.{digits}f}"


def _runtime(runtime: dict[str, Any]) -> str:
    if not runtime.get("name"):
        return MISSING
    return f"{runtime['name']} {runtime.get('version') or ''}".strip()


def _cells(row: dict[str, Any]) -> list[str]:
    latency = row.get("latency_us") or {}
    metrics = row.get("metrics") or {}
    return [
        str(row.get("artifact", MISSING)),
        str(row.get("status", MISSING)).replace("|", "\\|"),
        _fmt(row.get("bytes"), 1024),
        _runtime(row.get("runtime") or {}),
        str(row.get("threads", MISSING)),
        str(row.get("batch", MISSING)),
        _fmt(latency.get("init"), 1e3, 2),
        *(_fmt(latency.get(key)) for key in ("first", "mean", "std", "p50", "p90", "p99")),
        MISSING if latency.get("runs") is None else str(latency["runs"]),
        _fmt(row.get("peak_rss_bytes"), 2**20),
        *(_fmt(metrics.get(key), digits=4) for key in ("auc", "logloss", "hr@10", "ndcg@10")),
    ]


def markdown(rows: list[dict[str, Any]]) -> str:
    """One table line per row; "—" where a value is missing (error rows, no eval set)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def _cpu_model() -> str:
    # x86 has "model name"; a Raspberry Pi's arm64 kernel only "Model" / "Hardware".
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            fields = dict(
                (key.strip(), value.strip())
                for key, _, value in (line.partition(":") for line in cpuinfo)
                if value.strip()
            )
    except OSError:
        fields = {}
    for key in ("model name", "Model", "Hardware"):
        if key in fields:
            return fields[key]
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Where the rows were measured; stored next to them in the JSON."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
    }
