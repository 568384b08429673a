"""Accuracy against cost: the report's plots, their numbers (plots.json) and the search's trial plot.

Each plot puts artifacts at (bytes or p50 latency, a headline metric) and marks the Pareto front
(`edgerec.search.pareto`, the project's one front): the artifacts no other artifact beats on both
axes at once, the only ones worth shipping for that trade-off. matplotlib (the ``report`` extra)
is imported only when drawing.
"""

from __future__ import annotations

from pathlib import Path

from device_bench import bundle as bundle_files
from device_bench import metrics as metric_table
from device_bench.rows import OK
from edgerec import io
from edgerec.report.cells import label
from edgerec.search import pareto

COST_LABELS = {"bytes": "file size (log scale)", "p50_us": "p50 latency (µs)"}  # x axes: smaller is better
# (x key, y key): one plot per cost and headline metric.
PLOTS = tuple((x, y) for x in COST_LABELS for y in metric_table.headline())
NO_MATPLOTLIB = "plots skipped: matplotlib is not installed (pip install 'edgerec[report]')"


def axis_label(key: str) -> str:
    return COST_LABELS[key] if key in COST_LABELS else label(key)


def plot_id(x: str, y: str) -> str:
    """Name of one plot, e.g. ``auc_vs_bytes``; also its PNG's stem."""
    return f"{y.replace('@', '')}_vs_{x.removesuffix('_us')}"


def _comparable_rows(rows: list[dict]) -> list[dict]:
    """One ok row per artifact, all at the smallest (threads, batch) the bench measured."""
    ok = [r for r in rows if r["status"] == OK]
    if not ok:
        return []
    config = min((r["threads"], r["batch"]) for r in ok)
    return [r for r in ok if (r["threads"], r["batch"]) == config]


def plot_data(rows: list[dict], applicable: tuple[str, ...] = metric_table.keys()) -> dict:
    """What plots.json holds: per artifact its coordinates and, per plot, whether it is on the front.

    An artifact without a value for an axis (no eval set, failed row) is left out of that plot;
    a plot of a metric the task cannot give (`applicable`) is not made at all.
    """
    chosen = _comparable_rows(rows)
    artifacts = [
        {
            "artifact": r["artifact"],
            "bytes": r["bytes"],
            "p50_us": r["latency_us"]["p50"],
            **{key: (r["metrics"] or {}).get(key) for key in metric_table.headline()},
            "on_front": {},
        }
        for r in chosen
    ]
    plots = []
    for x, y in (p for p in PLOTS if p[1] in applicable):
        name = plot_id(x, y)
        drawn = [a for a in artifacts if a[x] is not None and a[y] is not None]
        maximise = (False, metric_table.get(y).higher_is_better)
        for a, on_front in zip(drawn, pareto.front([(a[x], a[y]) for a in drawn], maximise)):
            a["on_front"][name] = on_front
        plots.append({
            "name": name, "file": None, "x": x, "y": y, "x_log": x == "bytes",
            "front": [a["artifact"] for a in drawn if a["on_front"][name]],
        })
    config = {"threads": chosen[0]["threads"], "batch": chosen[0]["batch"]} if chosen else None
    return {"config": config, "artifacts": artifacts, "plots": plots}


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=120)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig, ax, path: Path) -> None:
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def draw(data: dict, plot: dict, path: Path) -> None:
    """One plot of `plot_data` as a PNG: the front as a red staircase, dominated points in grey."""
    from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

    x, y, name = plot["x"], plot["y"], plot["name"]
    points = [a for a in data["artifacts"] if name in a["on_front"]]
    fig, ax = _figure()
    front = sorted((a for a in points if a["on_front"][name]), key=lambda a: a[x])
    rest = [a for a in points if not a["on_front"][name]]
    ax.step([a[x] for a in front], [a[y] for a in front], where="post", color="tab:red", alpha=0.5,
            label="Pareto front")
    ax.scatter([a[x] for a in front], [a[y] for a in front], color="tab:red", zorder=3)
    ax.scatter([a[x] for a in rest], [a[y] for a in rest], facecolors="none", edgecolors="tab:gray", zorder=3,
               label="dominated")
    for a in points:
        ax.annotate(bundle_files.artifact_name(a["artifact"]), (a[x], a[y]), textcoords="offset points",
                    xytext=(4, 4), fontsize=8)
    if plot["x_log"]:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(EngFormatter(unit="B"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(y))
    ax.set_title(f"{axis_label(y)} vs {axis_label(x).split(' (')[0]}")
    _save(fig, ax, path)


def draw_trials(result: dict, path: Path) -> None:
    """search.png: every ok trial at (bytes, the first clause's metric), the front (each point labelled
    with its student width), the choice, the bound."""
    from matplotlib.ticker import EngFormatter

    metric = result["clauses"][0]["metric"]
    ok = [t for t in result["trials"] if t["status"] == OK]
    fig, ax = _figure()
    styles = (
        ([t for t in ok if not t["on_front"]], {"facecolors": "none", "edgecolors": "tab:gray", "label": "dominated"}),
        ([t for t in ok if t["on_front"]], {"color": "tab:red", "label": "Pareto front (bytes, p50, all metrics)"}),
    )
    for group, style in styles:
        ax.scatter([t["bytes"] for t in group], [t["metrics"][metric] for t in group], zorder=3, **style)
    for t in styles[1][0]:  # the front's points name their student width
        ax.annotate(f"x{t['width']['multiplier']}", (t["bytes"], t["metrics"][metric]), textcoords="offset points",
                    xytext=(4, 4), fontsize=7)
    chosen = result["trials"][result["chosen"]]
    ax.scatter([chosen["bytes"]], [chosen["metrics"][metric]], marker="*", s=250, color="gold", edgecolors="black",
               zorder=4, label=f"chosen (trial {chosen['id']})")
    bound = result["clauses"][0]
    ax.axhline(bound["threshold"], color="tab:blue", linestyle="--", alpha=0.6, label=f"target {bound['clause']}")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(EngFormatter(unit="B"))
    ax.set_xlabel("int8 file size (log scale)")
    ax.set_ylabel(f"{label(metric)} (validation)")
    ax.set_title("Search trials")
    _save(fig, ax, path)


def markdown(data: dict, note: str | None) -> str:
    """The report's plots section: each picture (when drawn) and its front, by name."""
    config = data["config"]
    where = f" (threads {config['threads']}, batch {config['batch']})" if config else ""
    lines = [
        "## Accuracy against size and latency",
        "",
        f"Each point is one artifact{where}; the numbers are in `{bundle_files.PLOTS}`. "
        "The Pareto front joins the artifacts",
        "that no other artifact beats on both axes at once (smaller or faster, and more accurate).",
        "",
    ]
    if note:
        lines += [f"_{note}._", ""]
    if not data["artifacts"]:
        lines += ["_No artifact has an ok bench row: nothing to plot._", ""]
    for plot in data["plots"]:
        front = ", ".join(plot["front"]) or "—"
        if plot["file"]:
            lines += [f"![{plot['name']}]({plot['file']})", ""]
        lines += [f"Front of {plot['name'].replace('_', ' ')}: {front}", ""]
    return "\n".join(lines)
