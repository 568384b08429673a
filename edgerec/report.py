"""Bench rows + manifest -> report.md and plots: what the user gained (bytes, latency) and lost (accuracy).

Every number comes from the bundle: device-side metrics and latency from bench rows,
Keras-side metrics and baselines from the manifest's stages. Ratios are against the teacher.

The plots put each artifact at (bytes or p50 latency, AUC or NDCG@10) and mark the Pareto
front: the artifacts that no other artifact beats on both axes at once, i.e. the only ones
worth shipping for that trade-off. ``plots.json`` holds the exact numbers behind them, so a
reader can check a point without reading pixels. matplotlib (the ``report`` extra) is imported
only when drawing; without it report.md is still written, minus the pictures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from device_bench import table
from device_bench.errors import EdgerecError
from edgerec import io

METRICS = ("auc", "logloss", "hr@10", "ndcg@10")
NOT_APPLICABLE = "n/a"  # a metric the bundle's task cannot give (no HR@10 / NDCG@10 for CTR data)
# (x key, y key): one plot each; the x axis is a cost (smaller is better), y a metric (larger is better).
PLOTS = (("bytes", "auc"), ("bytes", "ndcg@10"), ("p50_us", "auc"), ("p50_us", "ndcg@10"))
AXIS_LABELS = {"bytes": "file size (log scale)", "p50_us": "p50 latency (µs)", "auc": "AUC",
               "ndcg@10": "NDCG@10"}
NO_MATPLOTLIB = "plots skipped: matplotlib is not installed (pip install 'edgerec[report]')"


class ReportInputError(EdgerecError, ValueError):
    """A bundle file the report needs is missing or unreadable (the message names it)."""


def _fmt(value, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ratio(value, reference) -> str:
    if value is None or not reference:
        return "—"
    return f"{value / reference:.3f}"


def _metric(metrics: dict, key: str, applicable: tuple[str, ...]) -> str:
    """The metric's value; "n/a" when the task has no such metric, "—" when it was not measured."""
    return _fmt(metrics.get(key)) if key in applicable else NOT_APPLICABLE


def applicable_metrics(manifest: dict) -> tuple[str, ...]:
    """The metrics the bundle's eval set can give; manifests older than the key had all of them."""
    return tuple(manifest.get("eval", {}).get("metrics", METRICS))


def artifact_table(rows: list[dict], reference: str = "teacher.tflite", applicable: tuple[str, ...] = METRICS) -> str:
    """One line per ok row: size and speed vs the reference artifact, accuracy and its ratio."""
    ref = next((r for r in rows if r["artifact"] == reference and r["status"] == "ok"), None)
    lines = [
        "| artifact | threads | batch | size KiB | smaller than teacher | p50 µs | speed-up | "
        "AUC | LogLoss | HR@10 | NDCG@10 | AUC / teacher | NDCG@10 / teacher | status |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        m = r["metrics"] or {}
        p50 = r["latency_us"]["p50"]
        same = ref and next(
            (x for x in rows if x["artifact"] == reference and x["threads"] == r["threads"] and x["batch"] == r["batch"]),
            None,
        )
        lines.append(
            "| "
            + " | ".join(
                [
                    r["artifact"],
                    str(r["threads"]),
                    str(r["batch"]),
                    _fmt(r["bytes"] / 1024 if r["bytes"] else None, 1),
                    f"{ref['bytes'] / r['bytes']:.1f}×" if ref and r["bytes"] else "—",
                    _fmt(p50, 1),
                    f"{same['latency_us']['p50'] / p50:.2f}×" if same and p50 else "—",
                    *(_metric(m, k, applicable) for k in METRICS),
                    *(_ratio(m.get(k), ref and ref["metrics"].get(k)) if k in applicable else NOT_APPLICABLE
                      for k in ("auc", "ndcg@10")),
                    r["status"],
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def stage_table(stages: list[dict], applicable: tuple[str, ...] = METRICS) -> str:
    lines = ["| model (Keras, held-out) | params | AUC | LogLoss | HR@10 | NDCG@10 | seconds |", "|---|---:|---:|---:|---:|---:|---:|"]
    for s in stages:
        m = s["metrics"]
        params = "—" if s.get("params") is None else f"{s['params']:,}"
        lines.append(
            f"| {s['name']} | {params} | " + " | ".join(_metric(m, k, applicable) for k in METRICS) + f" | {s.get('seconds', 0):.0f} |"
        )
    return "\n".join(lines)


def sparsity_table(stages: list[dict]) -> str:
    """Achieved zeros per pruned layer and embedding table, one column per step that reports them.

    Empty when no step left any zeros (e.g. QAT alone reports 0 % everywhere). Layers a step
    skipped (an m:n pattern the kernel's shape cannot take) are listed with the reason.
    """
    reporting = [s for s in stages if s.get("facts", {}).get("sparsity")]
    if not any(v for s in reporting for v in s["facts"]["sparsity"].values()):
        return ""
    layers = list(dict.fromkeys(name for s in reporting for name in s["facts"]["sparsity"]))
    lines = [
        "| layer or table | " + " | ".join(s["name"] for s in reporting) + " |",
        "|---|" + "---:|" * len(reporting),
    ]
    for name in layers:
        cells = (s["facts"]["sparsity"].get(name) for s in reporting)
        lines.append(f"| {name} | " + " | ".join("—" if v is None else f"{v:.1%}" for v in cells) + " |")
    skipped = [f"- {s['name']}: `{name}` left dense: {why}" for s in reporting
               for name, why in s["facts"].get("skipped", {}).items()]
    return "\n".join(lines + ([""] + skipped if skipped else []))


def markdown(manifest: dict, rows: list[dict], seconds: float | None = None, environment: dict | None = None) -> str:
    """The report's tables; ``environment`` is where the rows were measured (default: this machine)."""
    env = table.environment() if environment is None else environment
    recipe = manifest["recipe"]
    steps = ", ".join(s["name"] for s in recipe["compress"]) or "none"
    built = "" if seconds is None else f" Built in {seconds:.0f} s."
    if manifest.get("search"):
        steps = f"searched for `{manifest['search']['target']}`: {manifest['search']['chain']}"
        built += "\n\n" + search_note(manifest["search"])
    applicable = applicable_metrics(manifest)
    ranking = "ndcg@10" in applicable
    parity = "\n".join(
        f"| {a['file']} | {a['mode']} | {a['parity']['max_abs_logit_diff']:.2e} | "
        f"{a['parity']['mean_abs_logit_diff']:.2e} | "
        f"{_fmt(a['parity'].get('top10_overlap'), 3) if ranking else NOT_APPLICABLE} |"
        for a in manifest["artifacts"]
    )
    baseline = (
        "the item-popularity ranking" if ranking
        else "the training click rate as every row's score (AUC 0.5, the LogLoss of the prior)"
    )
    parity_rows = (
        "candidate lists of the first users);\ntop-10 overlap is the mean share of each user's Keras top-10 that "
        "the artifact also ranks top-10." if ranking
        else "the first held-out rows; no candidate lists, so no top-10 overlap)."
    )
    return f"""# edgerec bundle report

Recipe `{recipe['name']}` (seed {manifest['seed']}), data `{manifest['schema']['source']}`,
compression steps: {steps}.{built}

## Artifacts on this machine

Measured by `edgerec bench` on {env.get('cpu') or env.get('machine')} ({env.get('cores')} cores), one child
process per artifact; accuracy is computed by the TFLite interpreter on the bundle's held-out `eval.npz`
({manifest['eval']['protocol']}).

{artifact_table(rows, applicable=applicable)}

## Every model of the build, scored in Keras on the same held-out data

The baselines show whether the teacher and the distilled student are worth it: {baseline},
and the student architecture trained alone on labels (no teacher, no compression).

{stage_table(manifest['stages'], applicable)}
{_sparsity_section(manifest['stages'])}
## Keras vs TFLite parity

Logits of the Keras model and of the written artifact on the same rows ({parity_rows}

| artifact | mode | max abs logit diff | mean abs logit diff | top-10 overlap |
|---|---|---:|---:|---:|
{parity}
"""


def _sparsity_section(stages: list[dict]) -> str:
    table = sparsity_table(stages)
    if not table:
        return ""
    return f"""
## Achieved sparsity

Share of exact zeros in each pruned layer's kernels and each pruned embedding table, after each
compression step that reports it (Keras weights; full-integer conversion keeps zeros at zero).

{table}
"""


def search_note(summary: dict) -> str:
    """The report's word on a `--target` build: met or, loudly, not met; where the trials are."""
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in summary["validation_metrics"].items())
    if summary["met"]:
        head = f"The search's chosen chain meets `{summary['target']}` on the validation split"
    else:
        head = (f"**The search found no chain meeting `{summary['target']}` on the validation split: "
                "`student_int8.tflite` is the closest trial and does NOT meet it**")
    return (f"{head} (trial {summary['chosen_trial']} of {summary['trials']}; validation {metrics}; "
            f"{summary['validation']}). Every trial and the Pareto front are in `search.md` / `search.json`.")


def plot_id(x: str, y: str) -> str:
    """Name of one plot, e.g. ``auc_vs_bytes``; also its PNG's stem."""
    return f"{y.replace('@', '')}_vs_{x.removesuffix('_us')}"


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """For each (cost, metric) point: True unless another point is no worse on both and better on one.

    Lower cost and higher metric are better; equal points do not dominate each other.
    """
    return [
        not any(cx <= x and cy >= y and (cx < x or cy > y) for cx, cy in points)
        for x, y in points
    ]


def _comparable_rows(rows: list[dict]) -> list[dict]:
    """One ok row per artifact, all at the smallest (threads, batch) the bench measured."""
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        return []
    config = min((r["threads"], r["batch"]) for r in ok)
    return [r for r in ok if (r["threads"], r["batch"]) == config]


def plot_data(rows: list[dict], applicable: tuple[str, ...] = METRICS) -> dict:
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
            "auc": (r["metrics"] or {}).get("auc"),
            "ndcg@10": (r["metrics"] or {}).get("ndcg@10"),
            "on_front": {},
        }
        for r in chosen
    ]
    plots = []
    for x, y in (p for p in PLOTS if p[1] in applicable):
        name = plot_id(x, y)
        drawn = [a for a in artifacts if a[x] is not None and a[y] is not None]
        for a, on_front in zip(drawn, pareto_front([(a[x], a[y]) for a in drawn])):
            a["on_front"][name] = on_front
        plots.append({
            "name": name, "file": None, "x": x, "y": y, "x_log": x == "bytes",
            "front": [a["artifact"] for a in drawn if a["on_front"][name]],
        })
    config = {"threads": chosen[0]["threads"], "batch": chosen[0]["batch"]} if chosen else None
    return {"config": config, "artifacts": artifacts, "plots": plots}


def _draw(data: dict, plot: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

    x, y, name = plot["x"], plot["y"], plot["name"]
    points = [a for a in data["artifacts"] if name in a["on_front"]]
    fig = Figure(figsize=(6, 4), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    front = sorted((a for a in points if a["on_front"][name]), key=lambda a: a[x])
    rest = [a for a in points if not a["on_front"][name]]
    ax.step([a[x] for a in front], [a[y] for a in front], where="post", color="tab:red", alpha=0.5,
            label="Pareto front")
    ax.scatter([a[x] for a in front], [a[y] for a in front], color="tab:red", zorder=3)
    ax.scatter([a[x] for a in rest], [a[y] for a in rest], facecolors="none", edgecolors="tab:gray", zorder=3,
               label="dominated")
    for a in points:
        ax.annotate(a["artifact"].removesuffix(".tflite"), (a[x], a[y]), textcoords="offset points",
                    xytext=(4, 4), fontsize=8)
    if plot["x_log"]:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(EngFormatter(unit="B"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(AXIS_LABELS[x])
    ax.set_ylabel(AXIS_LABELS[y])
    ax.set_title(f"{AXIS_LABELS[y]} vs {AXIS_LABELS[x].split(' (')[0]}")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def _plots_markdown(data: dict, note: str | None) -> str:
    config = data["config"]
    where = f" (threads {config['threads']}, batch {config['batch']})" if config else ""
    lines = [
        "## Accuracy against size and latency",
        "",
        f"Each point is one artifact{where}; the numbers are in `plots.json`. The Pareto front joins the artifacts",
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


@dataclass
class Written:
    """What :func:`write` produced, for the caller to print."""

    files: list[Path] = field(default_factory=list)
    note: str | None = None  # set when the plots were skipped


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise ReportInputError(f"{path}: no such file ({what})")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ReportInputError(f"{path}: not valid JSON ({exc})") from None


def write(bundle: str | Path, bench: str | Path | None = None, seconds: float | None = None) -> Written:
    """Write report.md, plots.json and the PNG plots into ``bundle`` from its manifest and bench rows.

    ``bench`` defaults to the bundle's bench.json; ``seconds`` is the build time when called by
    the pipeline. Without matplotlib the PNGs are skipped and ``Written.note`` says so.

    Raises:
      ReportInputError: the bundle folder, its manifest.json or the bench JSON is missing or unreadable.
    """
    bundle = Path(bundle)
    if not bundle.is_dir():
        raise ReportInputError(f"{bundle}: no such bundle folder")
    manifest = _read_json(bundle / "manifest.json", "the bundle manifest")
    bench_path = bundle / "bench.json" if bench is None else Path(bench)
    result = _read_json(bench_path, "bench rows; run `edgerec bench BUNDLE --json FILE`")
    if not isinstance(result.get("rows"), list):
        raise ReportInputError(f"{bench_path}: has no \"rows\" list")
    rows = result["rows"]

    data = plot_data(rows, applicable_metrics(manifest))
    written = Written()
    try:
        import matplotlib  # noqa: F401 - only to learn whether the plots can be drawn
    except ImportError:
        written.note = NO_MATPLOTLIB
    else:
        for plot in (p for p in data["plots"] if any(p["name"] in a["on_front"] for a in data["artifacts"])):
            plot["file"] = f"{plot['name']}.png"
            _draw(data, plot, bundle / plot["file"])
            written.files.append(bundle / plot["file"])
    io.write_json(bundle / "plots.json", data)
    text = markdown(manifest, rows, seconds, result.get("environment")) + "\n" + _plots_markdown(data, written.note)
    ablation = bundle / "ablation.md"  # written by a build whose recipe sets distill.compare
    if ablation.is_file():
        text += "\n" + ablation.read_text().replace("# Distillation ablation", "## Distillation ablation (`distill.compare`)", 1)
    io.write_text(bundle / "report.md", text)
    written.files += [bundle / "plots.json", bundle / "report.md"]
    return written
