"""The search `edgerec build --target` runs: the smallest int8 student meeting every clause on validation.

Strategy (every tried chain is recorded as a trial, scored the same way; see `trial`):
0. the student widths (`widths.plan`: the recipe's student and, by default, x2 and x3 of its
   embedding and hidden sizes while the budget covers them): each wider one trained alone and
   distilled by the build's own sequence (`sequence.train_width`, the best on validation kept),
   at a cost of one trial of the budget per student trained; the fine-tuned chains left are shared
   equally among the widths, narrowest first, a width's unused share passing to the wider ones.
   Steps 1-4 run on each width's student in turn;
1. the uncompressed int8 student (baseline) and the sensitivity probes: each step with candidates,
   on each layer it can compress, at each candidate setting, without fine-tuning (cheap; not
   counted in the budget);
2. the recipe's own chain, when it has one (counted): the search never ignores what a plain build
   would ship;
3. greedy growth under the budget (`--search-trials`): the probes that made the file smaller are
   grouped per (step, layer) and the groups ordered by bytes saved per unit of accuracy lost
   (least sensitive first); for each group, its settings from the most to the least aggressive
   are appended to the chain kept so far and the chain is fine-tuned and measured; the first that
   meets the target (or, while nothing meets it, does not move further from it) is kept.
   Chains apply their steps in registration order (`edgerec.compress`: structure, then tables,
   then dense factors and sparsity, fake-quantization last), whatever order the recipe lists them in;
   neighbouring entries of one step at one setting become one entry on all their layers (`merged`).
4. per-layer precision, while the kept chain still misses the target: the dense layers whose
   precision probe (`keep_float`, the empty chain with that layer in float32) gained accuracy are
   kept in float on top of the chain, most gain per byte first, one more layer per trial, under
   the same budget; a layer is kept when the trial comes closer to the target;
5. the choice, among every width's trials on the Pareto front (bytes, p50, every metric): the smallest that
   meets every clause (ties: the one furthest inside the target, then the fastest); if none does,
   the one closest to the target, and the result says so.

The teacher's metrics are measured on the same validation data, so relative clauses compare like
with like. Nothing here reads the held-out data the bundle reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from edgerec import io
from edgerec.checkpoints import BuildState
from edgerec.recipe import Recipe, StepConfig
from edgerec.report import plots
from edgerec.report import search as search_report
from edgerec.search import PRECISION, WHOLE_MODEL, pareto, sensitivity, target, widths
from device_bench import bundle
from device_bench.rows import OK

Log = Callable[[str], None]
RunnerFor = Callable[[widths.Width], tuple]  # width -> (its TrialRunner, its student choice)
DEFAULT_TRIALS = 12


def score(trial: dict, clauses: Sequence[target.Clause], teacher: dict[str, float]) -> float:
    """The smallest slack of any clause relative to its bound: >= 0 exactly when every clause holds."""
    return min(c.slack(trial["metrics"], teacher) / max(abs(c.threshold(teacher)), 1e-12) for c in clauses)


def chain_order() -> Callable[[StepConfig], int]:
    """Sort key of a searched chain's steps: the registry's order (see `edgerec.compress`)."""
    from edgerec import compress

    names = list(compress.REGISTRY)
    return lambda step: names.index(step.name)


def merged(chain: Sequence[StepConfig]) -> list[StepConfig]:
    """`chain` with neighbouring entries of one step at one setting on named layers made one entry on
    all their layers: int4_tables(@ a) -> int4_tables(@ b) is int4_tables(@ a, b), one fine-tune instead of two."""
    out: list[StepConfig] = []
    for step in chain:
        last = out[-1] if out else None
        same = (last is not None and last.name == step.name and last.params.get("layers") and step.params.get("layers")
                and {k: v for k, v in last.params.items() if k != "layers"}
                == {k: v for k, v in step.params.items() if k != "layers"})
        if same:
            layers = [*last.params["layers"], *(x for x in step.params["layers"] if x not in last.params["layers"])]
            out[-1] = StepConfig(step.name, {**last.params, "layers": layers},
                                 max(last.finetune_epochs, step.finetune_epochs))
        else:
            out.append(step)
    return out


def finetune_epochs(recipe: Recipe, name: str) -> int:
    """A searched step fine-tunes as long as the recipe's step of that name, else one epoch."""
    return next((s.finetune_epochs for s in recipe.compress if s.name == name), 1)


def groups(rows: list[dict], baseline: dict, clauses, teacher) -> list[list[dict]]:
    """Probe rows that saved bytes, grouped per (step, layer), each group most-saving setting first,
    groups ordered by bytes saved per unit of relative accuracy lost at that setting."""
    by_key: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if row["status"] == OK and row["bytes_saved"] > 0 and row["step"] != PRECISION:
            by_key.setdefault((row["step"], row["layer"]), []).append(row)
    base_score = score(baseline, clauses, teacher)

    def value(group):
        best = group[0]
        lost = max(0.0, base_score - score(best, clauses, teacher))
        return best["bytes_saved"] / (lost + 1e-3)

    ordered = [sorted(g, key=lambda r: -r["bytes_saved"]) for g in by_key.values()]
    return sorted(ordered, key=value, reverse=True)


def precision_order(rows: list[dict], baseline: dict, clauses, teacher) -> list[dict]:
    """Precision probes that brought the int8 student closer to the target (a higher `score`),
    most gained per byte of float first."""
    base = score(baseline, clauses, teacher)

    def gain(row):
        return score(row, clauses, teacher) - base

    helpful = [r for r in rows if r["step"] == PRECISION and r["status"] == OK and gain(r) > 0]
    return sorted(helpful, key=lambda r: gain(r) / max(1, -r["bytes_saved"]), reverse=True)


def run(runner_for: RunnerFor, planned: Sequence[widths.Width], clauses: Sequence[target.Clause], budget: int,
        recipe: Recipe, out: Path, log: Log, step_names: Sequence[str] | None = None) -> dict:
    """Searches every width of `planned` (from `widths.plan`), writes search.json, search.md (and search.png) into `out`.

    `runner_for(width)` trains (or restores) that width's students and gives its TrialRunner, all of
    them recording into one trial list, and the width's student choice (`sequence.Trained.candidates`).
    """
    names = list(step_names or sensitivity.default_steps())
    chains = budget - sum(w.trainings for w in planned)  # fine-tuned chains left to share
    records, rows, runner = [], [], None
    for index, width in enumerate(planned):
        if width.trainings:
            log(f"[search] width {width.describe()}: its students cost {width.trainings} trials of the budget")
        runner, choice = runner_for(width)
        if index == 0:
            log(f"[search] target {target.describe(clauses)} on validation; teacher there: "
                + ", ".join(f"{k} {v:.4f}" for k, v in runner.teacher_metrics.items()))
        first = len(runner.trials)
        share = chains // (len(planned) - index)  # an equal share, plus what narrower widths left unused
        log(f"[search] width {width.describe()}: up to {share} fine-tuned chains")
        used, swept = search_width(runner, clauses, share, recipe, names, log)
        chains -= used
        rows += [{**row, "width": width.multiplier} for row in swept["rows"]]
        records.append({**width.to_dict(), "student_trainings": width.trainings, "chains": used,
                        "trials": [t["id"] for t in runner.trials[first:]], "student_choice": choice})
    result = summarize(runner.trials, clauses, runner.teacher_metrics, runner.task.metric_names)
    result.update({
        "budget": budget, "counted_trials": budget - chains, "steps": names, "widths": records,
        "validation": runner.task.validation.describe(),
        "sensitivity": rows,
    })
    write(out, result)
    chosen = result["trials"][result["chosen"]]
    what = f"trial {chosen['id']}: {chosen['chain']} on width {widths.describe(chosen['width'])}"
    if result["met"]:
        log(f"[search] chosen {what} ({chosen['bytes']} bytes) meets {target.describe(clauses)} on validation")
    else:
        log(f"[search] WARNING: NO TRIAL MEETS {target.describe(clauses)} on validation; building the closest, {what}")
    return result


def search_width(runner, clauses: Sequence[target.Clause], budget: int, recipe: Recipe, names: Sequence[str],
                 log: Log) -> tuple[int, dict]:
    """Steps 1-4 of the module docstring on `runner`'s student, under `budget` fine-tuned chains;
    returns the chains used and the sweep (baseline and probe rows)."""
    teacher = runner.teacher_metrics
    meets = lambda t: t["status"] == OK and score(t, clauses, teacher) >= 0  # noqa: E731
    swept = sensitivity.sweep(runner, names, 0, log)
    baseline = swept["baseline"]
    if not meets(baseline):
        log("[search] WARNING: the uncompressed int8 student already misses the target on validation; "
            "compression is not expected to meet it")
    used = 0
    if recipe.compress and budget > used:
        runner.run(list(recipe.compress), "recipe")
        used += 1

    order = chain_order()
    chain: list[StepConfig] = []
    current = baseline
    for group in groups(swept["rows"], baseline, clauses, teacher):
        if table_taken(chain, group[0]):
            continue
        for row in group:
            if used >= budget:
                break
            step = StepConfig(row["step"], {**row["setting"], **({"layers": [row["layer"]]} if row["layer"] !=
                              WHOLE_MODEL else {})}, finetune_epochs(recipe, row["step"]))
            candidate = merged(sorted([*chain, step], key=order))
            trial = runner.run(candidate, "chain")
            used += 1
            keep = meets(trial) or (not meets(current) and trial["status"] == OK
                                    and score(trial, clauses, teacher) >= score(current, clauses, teacher))
            if keep:
                chain, current = candidate, trial
                log(f"[search] kept: {trial['chain']}")
                break
    kept: list[str] = []
    for row in precision_order(swept["rows"], baseline, clauses, teacher):
        if meets(current) or used >= budget:
            break
        trial = runner.run(chain, "precision", [*kept, row["layer"]])
        used += 1
        if trial["status"] == OK and score(trial, clauses, teacher) > score(current, clauses, teacher):
            kept.append(row["layer"])
            current = trial
            log(f"[search] kept: {trial['chain']}")
    return used, swept


def table_taken(chain: Sequence[StepConfig], row: dict) -> bool:
    """Whether `row` would take a table that a step of `chain` already replaced in a way `row`'s step
    cannot follow (see `CompressionStep.replaces_tables`): such a chain cannot apply, so it costs no trial."""
    from edgerec import compress
    from edgerec.compress.base import tables_compatible

    if not compress.REGISTRY[row["step"]].replaces_tables:
        return False
    return any(compress.REGISTRY[s.name].replaces_tables and not tables_compatible(s.name, row["step"])
               and (not s.params.get("layers") or row["layer"] in s.params["layers"]) for s in chain)


def run_once(state: BuildState, runner_for: RunnerFor, planned: Sequence[widths.Width],
             clauses: Sequence[target.Clause], budget: int, recipe: Recipe, out: Path, log: Log) -> dict:
    """`run` once per build: a resumed build whose search finished restores its result (search.json
    is already written) instead of running every trial again; `runner_for` is called only when the
    search does run. Within a search cut short, the wider widths' students are checkpointed stages
    of the build (see `sequence.train_width`), restored on resume; the trials are run again."""
    record = state.done("search")
    if record is not None and (out / bundle.SEARCH_JSON).is_file():
        log("[search] restored from its checkpoint")
        return record
    result = run(runner_for, planned, clauses, budget, recipe, out, log)
    state.save("search", result)
    return result


def summarize(trials: list[dict], clauses, teacher: dict[str, float], metric_names: Sequence[str]) -> dict:
    """Marks each trial (meets, score, on the front) and picks the chosen one (see the module docstring)."""
    ok = [t for t in trials if t["status"] == OK]
    if not ok:
        raise ValueError("every trial failed, the uncompressed int8 student included: " + trials[0]["status"])
    flags = dict(zip((t["id"] for t in ok), pareto.trial_front(ok, metric_names)))
    marked = []
    for t in trials:
        good = t["status"] == OK
        marked.append({**t, "meets": good and score(t, clauses, teacher) >= 0,
                       "score": round(score(t, clauses, teacher), 6) if good else None,
                       "on_front": flags.get(t["id"], False)})
    front = [t for t in marked if t["on_front"]]
    meeting = [t for t in front if t["meets"]]
    if meeting:
        chosen = min(meeting, key=lambda t: (t["bytes"], -t["score"], t["p50_us"]))
    else:
        chosen = max(front, key=lambda t: (t["score"], -t["bytes"]))
    return {
        "format": 1,
        "target": target.describe(clauses),
        "clauses": [{"clause": str(c), "metric": c.metric, "op": c.op, "threshold": round(c.threshold(teacher), 6)}
                    for c in clauses],
        "teacher_metrics": teacher,
        "metrics": list(metric_names),
        "trials": marked,
        "front": [t["id"] for t in front],
        "chosen": chosen["id"],
        "met": chosen["meets"],
    }


def chosen_steps(result: dict) -> tuple[StepConfig, ...]:
    """The chosen trial's chain, as the recipe's `compress` entries."""
    return tuple(StepConfig(**s) for s in result["trials"][result["chosen"]]["steps"])


def chosen_width(result: dict) -> int:
    """The multiplier of the student width the chosen trial compressed."""
    return result["trials"][result["chosen"]]["width"]["multiplier"]


def chosen_keep_float(result: dict) -> tuple[str, ...]:
    """The layers the chosen trial keeps in float32, as the recipe's `export.keep_float`."""
    return tuple(result["trials"][result["chosen"]].get("keep_float", ()))


def write(out: Path, result: dict) -> None:
    out = Path(out)
    io.write_json(out / bundle.SEARCH_JSON, result)
    note = None
    try:
        plots.draw_trials(result, out / bundle.SEARCH_PNG)
        result_png = f"![trials: bytes against the first target metric]({bundle.SEARCH_PNG})\n"
    except ImportError:
        note, result_png = plots.NO_MATPLOTLIB, ""
    io.write_text(out / bundle.SEARCH_MD, search_report.markdown(result, result_png, note))

