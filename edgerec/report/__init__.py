"""The markdown documents of edgerec's commands, rendered here; this module is the bundle's report.

(The device side renders its own bench tables, `device_bench.table` / `.compare`: it cannot
import edgerec. `bench/` scripts print their own one-off tables.)

Bench rows + manifest -> report.md and plots: what the user gained (bytes, latency) and lost
(accuracy). Every number comes from the bundle: device-side metrics and latency from bench rows,
Keras-side metrics and baselines from the manifest's stages. Ratios are against the teacher.
``plots.json`` holds the exact numbers behind the plots (`plots`), so a reader can check a point
without reading pixels; without matplotlib report.md is still written, minus the pictures.

Each trained stage's learning curve is a panel of one more figure (`curves`).

The other documents have a module each: `ablation` (ablation.md), `search` (search.md),
`sensitivity` (sensitivity.md); all are built from the pieces in `cells`. A renderer reads only
the result dict it is given (the JSON written next to it), never the module that computed it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from device_bench import bundle as bundle_files
from device_bench import metrics as metric_table
from device_bench import popularity
from device_bench import table
from device_bench.errors import EdgerecError
from edgerec import io
from edgerec.report import curves, plots, retrieval
from edgerec.report.cells import MISSING, NOT_APPLICABLE, fmt, label, metric_cell
from edgerec.report.cells import table as md_table
from edgerec.search.widths import describe as describe_width


class ReportInputError(EdgerecError, ValueError):
    """A bundle file the report needs is missing or unreadable (the message names it)."""


def _ratio(value, reference) -> str:
    if value is None or not reference:
        return MISSING
    return f"{value / reference:.3f}"


def applicable_metrics(manifest: dict) -> tuple[str, ...]:
    """The metrics the bundle's eval set can give; manifests older than the key had all of them."""
    return tuple(manifest.get("eval", {}).get("metrics", metric_table.keys()))


def artifact_table(rows: list[dict], reference: str = bundle_files.artifact_file(bundle_files.TEACHER),
                   applicable: tuple[str, ...] = metric_table.keys()) -> str:
    """One line per ok row: size and speed vs the reference artifact, accuracy and its ratio."""
    ref = next((r for r in rows if r["artifact"] == reference and r["status"] == "ok"), None)
    header = ["artifact", "threads", "batch", "size KiB", "smaller than teacher", "p50 µs", "speed-up",
              *map(label, metric_table.keys()), *(f"{label(k)} / teacher" for k in metric_table.headline()), "status"]
    lines = []
    for r in rows:
        m = r["metrics"] or {}
        p50 = r["latency_us"]["p50"]
        same = ref and next(
            (x for x in rows if x["artifact"] == reference and x["threads"] == r["threads"] and x["batch"] == r["batch"]),
            None,
        )
        lines.append([
            r["artifact"],
            str(r["threads"]),
            str(r["batch"]),
            fmt(r["bytes"] / 1024 if r["bytes"] else None, 1),
            f"{ref['bytes'] / r['bytes']:.1f}×" if ref and r["bytes"] else MISSING,
            fmt(p50, 1),
            f"{same['latency_us']['p50'] / p50:.2f}×" if same and p50 else MISSING,
            *(metric_cell(m, k, applicable) for k in metric_table.keys()),
            *(_ratio(m.get(k), ref and ref["metrics"].get(k)) if k in applicable else NOT_APPLICABLE
              for k in metric_table.headline()),
            r["status"],
        ])
    return md_table(header, "l" + "r" * (len(header) - 2) + "l", lines)


def stage_table(stages: list[dict], applicable: tuple[str, ...] = metric_table.keys()) -> str:
    header = ["model (Keras, held-out)", "params", *map(label, metric_table.keys()), "seconds"]
    lines = [
        [s["name"], MISSING if s.get("params") is None else f"{s['params']:,}",
         *(metric_cell(s["metrics"], k, applicable) for k in metric_table.keys()), f"{s.get('seconds', 0):.0f}"]
        for s in stages
    ]
    return md_table(header, "l" + "r" * (len(header) - 1), lines)


def sparsity_table(stages: list[dict]) -> str:
    """Achieved zeros per pruned layer and embedding table, one column per step that reports them.

    Empty when no step left any zeros (e.g. QAT alone reports 0 % everywhere). Layers a step
    skipped (an m:n pattern the kernel's shape cannot take) are listed with the reason.
    """
    reporting = [s for s in stages if s.get("facts", {}).get("sparsity")]
    if not any(v for s in reporting for v in s["facts"]["sparsity"].values()):
        return ""
    layers = list(dict.fromkeys(name for s in reporting for name in s["facts"]["sparsity"]))
    shares = [[s["facts"]["sparsity"].get(name) for s in reporting] for name in layers]
    cells = [[name, *(MISSING if v is None else f"{v:.1%}" for v in row)] for name, row in zip(layers, shares)]
    skipped = [f"- {s['name']}: `{name}` left dense: {why}" for s in reporting
               for name, why in s["facts"].get("skipped", {}).items()]
    lines = [md_table(["layer or table", *(s["name"] for s in reporting)], "l" + "r" * len(reporting), cells)]
    return "\n".join(lines + ([""] + skipped if skipped else []))


def _verdicts(manifest: dict) -> str:
    """The teacher against the strongest baseline (held-out) and which student shipped (validation), as lines."""
    lines = []
    verdict = manifest.get("baselines")
    if verdict:
        name = f"{verdict['strongest']} {label(verdict['metric'])} {verdict['value']:.4f}"
        lines.append(f"The teacher ({label(verdict['metric'])} {verdict['teacher']:.4f}) beats the strongest baseline ({name})."
                     if verdict["teacher_beats"] else
                     f"**The teacher does not beat the strongest baseline** ({label(verdict['metric'])} "
                     f"{verdict['teacher']:.4f} against {name}).")
    choice = manifest.get("student_choice")
    if choice and choice.get("candidates"):
        lines.append(_student_choice(choice))
    return "".join(f"\n{line}\n" for line in lines)


def _student_choice(choice: dict) -> str:
    """Which student ships as student.tflite, chosen on validation: one sentence for the distilled
    student against the one trained alone, a table of every candidate's score for more."""
    metric, candidates = choice["metric"], choice["candidates"]
    shipped = next(c["candidate"] for c in candidates if c["chosen"])
    what = ("student trained alone (the teacher did not help)" if shipped == bundle_files.NO_TEACHER
            else "distilled student" if len(candidates) <= 2 else f"student distilled at {shipped}")
    head = f"`{bundle_files.artifact_file(bundle_files.STUDENT)}` is the {what}, chosen on validation {label(metric)}"
    if len(candidates) <= 2:
        scores = "; ".join(f"{c['candidate']} {c['validation'][metric]:.4f}" for c in candidates)
        return f"{head} ({scores})."
    cells = [[c["candidate"], f"{c['validation'][metric]:.4f}", "yes" if c["chosen"] else ""] for c in candidates]
    return f"{head} among {len(candidates)} candidates:\n\n" + md_table(
        ["candidate", f"validation {label(metric)}", "shipped"], "lrl", cells)


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
    ranking = any(metric_table.get(k).ranking_only for k in applicable)  # the eval set has candidate lists
    parity = "\n".join(
        f"| {a['file']} | {a['mode']} | {a['parity']['max_abs_logit_diff']:.2e} | "
        f"{a['parity']['mean_abs_logit_diff']:.2e} | "
        f"{fmt(a['parity'].get('top10_overlap'), 3) if ranking else NOT_APPLICABLE} |"
        for a in manifest["artifacts"]
    )
    baseline = (
        "the item-popularity ranking, implicit-feedback matrix factorisations (ALS, BPR) on the same training "
        "positives" if ranking
        else "the training click rate as every row's score (AUC 0.5, the LogLoss of the prior), logistic regression "
        "on the same features"
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
process per artifact; accuracy is computed by the TFLite interpreter on the bundle's held-out `{bundle_files.EVAL_SET}`
({manifest['eval']['protocol']}).

{artifact_table(rows, applicable=applicable)}
{retrieval.section(manifest, rows)}
## Every model of the build, scored in Keras on the same held-out data

The baselines show whether the teacher and the distilled student are worth it: {baseline},
and the student architecture trained alone on labels (no teacher, no compression).

{stage_table(manifest['stages'], applicable)}
{_verdicts(manifest)}{_popularity_section(manifest['stages'], rows)}{_sparsity_section(manifest['stages'])}
## Keras vs TFLite parity

Logits of the Keras model and of the written artifact on the same rows ({parity_rows}

| artifact | mode | max abs logit diff | mean abs logit diff | top-10 overlap |
|---|---|---:|---:|---:|
{parity}
"""


def popularity_table(stages: list[dict], rows: list[dict] = ()) -> str:
    """Held-out NDCG@10 of each model by the held-out item's training popularity (`device_bench.popularity`):
    the build's Keras models, then each artifact as `edgerec bench` scored it (its first row that did);
    empty when nothing reports it (CTR data, a manifest from before it was measured)."""
    reporting = [(s["name"], s["facts"]["by_popularity"]) for s in stages if s.get("facts", {}).get("by_popularity")]
    reporting += [(f"{artifact} (bench)", groups) for artifact, groups in popularity.by_artifact(rows).items()]
    if not reporting:
        return ""
    first = reporting[0][1]
    header = ["model (held-out)", *(f"{name} NDCG@10 ({first[name]['lists']} lists)" for name in first)]
    cells = [[name, *(f"{g['ndcg@10']:.4f}" if "ndcg@10" in g else MISSING for g in groups.values())]
             for name, groups in reporting]
    return md_table(header, "l" + "r" * (len(header) - 1), cells)


def _popularity_section(stages: list[dict], rows: list[dict]) -> str:
    groups = popularity_table(stages, rows)
    if not groups:
        return ""
    cuts = ", ".join(f"{name} {bounds}" for name, bounds in popularity.bounds().items())
    return f"""
## By item popularity

The same held-out lists, grouped by how many training interactions their held-out item has
({cuts}): what the teacher's knowledge adds, and what compression takes from rare
items, shows on the tail, which the average hides. Keras models as the build scored them;
`.tflite` artifacts through the interpreter, as `edgerec bench` scored them.

{groups}
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
                f"`{bundle_files.artifact_file(bundle_files.STUDENT_INT8)}` is the closest trial and does NOT meet it**")
    width = f", on student width {describe_width(summary['width'])}" if "width" in summary else ""  # older bundles
    return (f"{head} (trial {summary['chosen_trial']} of {summary['trials']}{width}; validation {metrics}; "
            f"{summary['validation']}). Every trial and the Pareto front are in "
            f"`{bundle_files.SEARCH_MD}` / `{bundle_files.SEARCH_JSON}`.")


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
    """Write report.md, plots.json and the PNG plots (the learning curves among them) into ``bundle``
    from its manifest and bench rows.

    ``bench`` defaults to the bundle's bench.json; ``seconds`` is the build time when called by
    the pipeline. Without matplotlib the PNGs are skipped and ``Written.note`` says so.

    Raises:
      ReportInputError: the bundle folder, its manifest.json or the bench JSON is missing or unreadable.
    """
    bundle = Path(bundle)
    if not bundle.is_dir():
        raise ReportInputError(f"{bundle}: no such bundle folder")
    try:
        manifest = bundle_files.read_manifest(bundle)
    except bundle_files.BundleError as exc:
        raise ReportInputError(str(exc)) from None
    bench_path = bundle / bundle_files.BENCH if bench is None else Path(bench)
    result = _read_json(bench_path, "bench rows; run `edgerec bench BUNDLE --json FILE`")
    if not isinstance(result.get("rows"), list):
        raise ReportInputError(f"{bench_path}: has no \"rows\" list")
    rows = result["rows"]

    data = plots.plot_data(rows, applicable_metrics(manifest))
    written = Written()
    curves_file = None
    try:
        import matplotlib  # noqa: F401 - only to learn whether the plots can be drawn
    except ImportError:
        written.note = plots.NO_MATPLOTLIB
    else:
        for plot in (p for p in data["plots"] if any(p["name"] in a["on_front"] for a in data["artifacts"])):
            plot["file"] = f"{plot['name']}.png"
            plots.draw(data, plot, bundle / plot["file"])
            written.files.append(bundle / plot["file"])
        if curves.with_curves(manifest["stages"]):
            curves_file = bundle_files.LEARNING_CURVES_PNG
            curves.draw(manifest["stages"], bundle / curves_file)
            written.files.append(bundle / curves_file)
    io.write_json(bundle / bundle_files.PLOTS, data)
    text = markdown(manifest, rows, seconds, result.get("environment")) + "\n" + plots.markdown(data, written.note)
    learning = curves.markdown(manifest["stages"], curves_file)
    if learning:
        text += "\n" + learning
    ablation = bundle / bundle_files.ABLATION_MD  # written by a build whose recipe sets distill.compare
    if ablation.is_file():
        text += "\n" + ablation.read_text().replace("# Distillation ablation", "## Distillation ablation (`distill.compare`)", 1)
    io.write_text(bundle / bundle_files.REPORT, text)
    written.files += [bundle / bundle_files.PLOTS, bundle / bundle_files.REPORT]
    return written
