"""Human-readable output: a markdown table of rows, and the machine they ran on.

With a baseline artifact (``teacher.tflite`` by default in the CLI) the table
also gives each row's ratios to the baseline's row of the same threads and
batch: ``size ×`` = bytes / baseline bytes (below 1 is smaller), ``speed-up ×``
= baseline p50 / p50 (above 1 is faster), and per headline metric of
``device_bench.metrics`` (``AUC ×``, ``NDCG@10 ×``) metric / baseline metric.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
from typing import Any

import numpy as np

from device_bench import metrics as metric_table
from device_bench import popularity
from device_bench.runtime import RUNTIMES

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
    "items/s",
    "XNNPACK",
    "peak RSS MiB",
    *(m.label for m in metric_table.METRICS),
    "top-10 ∩ ref",
    "Kendall τ ref",
)
RATIO_COLUMNS = ("size ×", "speed-up ×", *(f"{metric_table.get(k).label} ×" for k in metric_table.headline()))


def _fmt(value: Any, scale: float = 1.0, digits: int = 1) -> str:
    if value is None:
        return MISSING
    return f"{value / scale:.{digits}f}"


def _runtime(runtime: dict[str, Any]) -> str:
    if not runtime.get("name"):
        return MISSING
    return f"{runtime['name']} {runtime.get('version') or ''}".strip()


def _ratio(numerator: Any, denominator: Any) -> str:
    if numerator is None or not denominator:
        return MISSING
    return f"{numerator / denominator:.2f}"


def _ratio_cells(row: dict[str, Any], base: dict[str, Any] | None) -> list[str]:
    if base is None:
        return [MISSING] * len(RATIO_COLUMNS)
    metrics, base_metrics = row.get("metrics") or {}, base.get("metrics") or {}
    return [
        _ratio(row.get("bytes"), base.get("bytes")),
        _ratio((base.get("latency_us") or {}).get("p50"), (row.get("latency_us") or {}).get("p50")),
        *(_ratio(metrics.get(key), base_metrics.get(key)) for key in metric_table.headline()),
    ]


def _cells(row: dict[str, Any]) -> list[str]:
    latency = row.get("latency_us") or {}
    metrics = row.get("metrics") or {}
    agreement = row.get("fidelity") or {}
    xnnpack = row.get("xnnpack")
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
        _fmt(row.get("items_per_s"), digits=0),
        MISSING if xnnpack is None else ("reference kernels" if row.get("reference_kernels") else "on" if xnnpack else "off"),
        _fmt(row.get("peak_rss_bytes"), 2**20),
        *(_fmt(metrics.get(m.key), digits=4) for m in metric_table.METRICS),
        *(_fmt(agreement.get(key), digits=3) for key in ("top10_overlap", "kendall_tau")),
    ]


SUMMARY_COLUMNS = ("artifact", "KiB", "p50 µs", *(metric_table.get(k).label for k in metric_table.headline()))


def summary(rows: list[dict[str, Any]], baseline: str | None = None) -> str:
    """The closing table of a build: per artifact (its first bench row) size, p50 and headline
    metrics, with ratios to `baseline`'s row; plain aligned text for a terminal or a log."""
    first: dict[str, dict[str, Any]] = {}
    for row in rows:
        first.setdefault(str(row.get("artifact")), row)
    base = first.get(baseline) if baseline else None
    columns = SUMMARY_COLUMNS + (("size ×", *(f"{metric_table.get(k).label} ×" for k in metric_table.headline()))
                                 if base else ())
    table = [list(columns)]
    for name, row in first.items():
        latency, metrics = row.get("latency_us") or {}, row.get("metrics") or {}
        cells = [name, _fmt(row.get("bytes"), 1024), _fmt(latency.get("p50")),
                 *(_fmt(metrics.get(k), digits=4) for k in metric_table.headline())]
        if base:
            base_metrics = base.get("metrics") or {}
            cells += [_ratio(row.get("bytes"), base.get("bytes")),
                      *(_ratio(metrics.get(k), base_metrics.get(k)) for k in metric_table.headline())]
        table.append(cells)
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
                     .rstrip() for line in table)


def markdown(rows: list[dict[str, Any]], baseline: str | None = None) -> str:
    """One table line per row; "—" where a value is missing (error rows, no eval set).

    ``baseline`` names an artifact (file name) to add the ratio columns for;
    a row is compared with the baseline's row of the same threads and batch.
    """
    columns = COLUMNS + (RATIO_COLUMNS if baseline else ())
    bases = {(r["threads"], r["batch"]): r for r in rows if baseline and r.get("artifact") == baseline}
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = _cells(row)
        if baseline:
            cells += _ratio_cells(row, bases.get((row.get("threads"), row.get("batch"))))
        lines.append("| " + " | ".join(cells) + " |")
    if baseline:
        lines.append(f"\nRatios vs {baseline}: size × = bytes / baseline, speed-up × = baseline p50 / p50.")
    return "\n".join(lines + popularity_lines(rows))


def popularity_lines(rows: list[dict[str, Any]]) -> list[str]:
    """NDCG@10 of each artifact by the held-out item's training popularity (``device_bench.popularity``),
    from the first of its rows that measured it; nothing when no row did (no counts in the eval set)."""
    measured = popularity.by_artifact(rows)
    if not measured:
        return []
    first = next(iter(measured.values()))
    bounds = popularity.bounds()
    header = ["artifact", *(f"{name} ({bounds[name]}) NDCG@10, {first[name]['lists']} lists" for name in first)]
    lines = ["", "NDCG@10 by the held-out item's training interactions:", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for artifact, groups in measured.items():
        cells = [_fmt(groups[name].get("ndcg@10"), digits=4) for name in first]
        lines.append("| " + " | ".join([artifact, *cells]) + " |")
    return lines


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


def _read_first_line(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.readline().strip() or None
    except OSError:
        return None


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None  # no such sysconf name (e.g. some BSDs)


def _runtime_versions() -> dict[str, str]:
    # From package metadata, not by importing: importing TensorFlow here would cost seconds and memory.
    versions = {}
    for name, (_, _, distribution) in RUNTIMES.items():
        try:
            versions[name] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def environment() -> dict[str, Any]:
    """Where the rows were measured; stored next to them in the JSON.

    The frequency governor matters on a Pi or phone: "ondemand"/"schedutil"
    ramp the clock during a run, "performance" holds it; None where unreadable.
    """
    return {
        "platform": platform.platform(),
        "os": platform.system(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "runtimes": _runtime_versions(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cpu_governor": _read_first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "memory_bytes": _memory_bytes(),
    }
