"""`edgerec distill --compare`: which distillation method earns its place on this data, with error bars.

Protocol (same data and budget for every arm):
- the task (split, training negatives, eval candidates) is fixed by the recipe seed, as in a build;
- the teacher is trained once, by the build's own `sequence.train_teacher` (same seeds, and an
  ensemble when the recipe sets `distill.ensemble`): the build's teacher;
- for each seed s: the student built with seed s (same initial weights and batch order in every
  arm) is trained up to `student_training.max_epochs` epochs on labels alone ("scratch"), and again under
  the frozen teacher with each arm: one method, weight 1.0, next to the recipe's `alpha`
  hard-label term, same optimizer and epochs. Every arm's student starts from those random
  weights, never from `distill.weight_transfer`, so the arms compare the losses alone.

Per arm the table gives mean ± sample std over seeds of every metric, and the fraction of the
teacher-scratch gap it closes, (m_arm - m_scratch) / (m_teacher - m_scratch) on NDCG@10 (AUC on
CTR data), computed per seed and then averaged. The verdict is computed from those numbers: the
goal of issue #4 is met when the best arm's mean - std >= 0.5.

Parsing, aggregation and the table need no TensorFlow (the CLI checks its flags before loading
it); `run` imports the training stages when it trains.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path
from typing import Callable, Sequence

from device_bench import bundle
from device_bench import metrics as metric_table
from device_bench.errors import EdgerecError, suggest
from edgerec import io
from edgerec.distill import methods as distill_methods
from edgerec.recipe import DistillMethod, Recipe
from edgerec.report import ablation as ablation_report

Log = Callable[[str], None]
SCRATCH = "scratch"  # the student trained on labels alone: the arm every gap is measured from
TEACHER = "teacher"
GOAL = 0.5  # issue #4: the best arm closes >= half the gap by more than its seed std
ABLATION = "the distillation ablation"  # it compares methods at the recipe's one alpha and temperature


class AblationError(EdgerecError, ValueError):
    """Flags the ablation cannot run with (unknown method, bad seeds, nothing left to compare)."""


def parse_methods(text: str) -> tuple[str, ...]:
    """'logits,hint' -> ('logits', 'hint'); an unknown name fails with a suggestion."""
    names = tuple(part.strip() for part in text.split(","))
    for name in names:
        if name not in distill_methods.REGISTRY:
            known = list(distill_methods.REGISTRY)
            hint = suggest(name, known)
            raise AblationError(f"--methods: unknown method {name!r}.{hint} Methods: {', '.join(known)}")
    _check_unique(names, "--methods", "method")
    return names


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0,1,2' -> (0, 1, 2): at least one seed, each a distinct non-negative integer."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise AblationError(f"--seeds: expected at least one seed, e.g. 0,1,2. Received: {text!r}")
    for part in parts:
        if not part.isdigit():
            raise AblationError(f"--seeds: expected non-negative integers separated by commas. Received: {part!r}")
    seeds = tuple(int(part) for part in parts)
    _check_unique(seeds, "--seeds", "seed")
    return seeds


def _check_unique(values: Sequence, flag: str, what: str) -> None:
    repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
    if repeated:
        raise AblationError(f"{flag}: each {what} once. Received {', '.join(map(str, repeated))} more than once")


def plan_arms(
    recipe: Recipe, ranking_data: bool, hidden_layers: tuple[int, int], names: Sequence[str] | None = None
) -> tuple[list[DistillMethod], list[str]]:
    """The arms to train (one method each, weight 1.0) and notes on the methods left out.

    `names` default to every method; `ranking` and `listwise` need candidate lists (`ranking_data`), `hint`
    needs a hidden layer in both models (`hidden_layers`: teacher's and student's count). A method
    the recipe configures keeps its parameters; `hint` otherwise regresses the teacher's last
    hidden layer from the student's (the representations their logits are read from).
    """
    configured = {m.name: m for m in recipe.distill.single(ABLATION).methods}
    arms, notes = [], []
    for name in names or tuple(distill_methods.REGISTRY):
        if distill_methods.REGISTRY[name].group and not ranking_data:
            notes.append(f"{name}: skipped, the data has no candidate lists (CTR rows)")
        elif name in configured:
            arms.append(dataclasses.replace(configured[name], weight=1.0))
        elif name == "hint" and not all(hidden_layers):
            notes.append("hint: skipped, the teacher or the student has no hidden layer to read")
        elif name == "hint":
            teacher_hidden, student_hidden = hidden_layers
            arms.append(DistillMethod("hint", student_layer=f"hidden_{student_hidden - 1}",
                                      teacher_layer=f"hidden_{teacher_hidden - 1}"))
        else:
            arms.append(DistillMethod(name))
    if not arms:
        raise AblationError("no distillation method this data can feed was selected: " + "; ".join(notes))
    return arms, notes


def describe_arm(method: DistillMethod) -> str:
    """'hint (hidden_0 -> hidden_1)': the method and the parameters it was given."""
    if method.name == "hint":
        return f"hint ({method.student_layer} → {method.teacher_layer})"
    params = {k: v for k, v in dataclasses.asdict(method).items() if k not in ("name", "weight") and v is not None}
    return method.name + (f" ({', '.join(f'{k} {v}' for k, v in params.items())})" if params else "")


def run(
    recipe: Recipe,
    out: Path,
    data: Path | None = None,
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    force: bool = False,
    log: Log = print,
) -> dict:
    """Trains the teacher, then per seed the scratch student and every arm; writes ablation.json and .md.

    An earlier ablation in `out` is kept unless `force`: it may have taken half an hour.
    """
    out = Path(out)
    if (out / bundle.ABLATION_JSON).exists() and not force:
        raise AblationError(f"{out} already holds an ablation ({bundle.ABLATION_JSON}); use --force to overwrite it")
    from edgerec._keras import tf  # TensorFlow only now: see the module docstring
    from edgerec.distill.teacher_logits import TeacherLogits
    from edgerec.sequence import CheckpointedRunner, train_teacher
    from edgerec.stages import load_task

    started = time.perf_counter()
    tf.config.experimental.enable_op_determinism()  # same seeds and machine -> the same table
    task = load_task(recipe, data, log)
    arms, notes = check_arms(recipe, task, methods, log)
    log(f"[ablation] arms: {SCRATCH}, {', '.join(describe_arm(a) for a in arms)}; seeds {list(seeds)}")

    teacher, teacher_stages = train_teacher(recipe, task, CheckpointedRunner(None, task, recipe.seed, log), log)
    teacher_stage = teacher_stages[-1]
    result = compare(recipe, task, teacher, teacher_stage.metrics, TeacherLogits(teacher, task), arms, notes, seeds, log)
    result["teacher"].update(params=teacher_stage.params, seconds=teacher_stage.seconds)
    result["seconds"] = round(time.perf_counter() - started, 1)
    write(out, result, log)
    return result


def check_arms(recipe: Recipe, task, methods: Sequence[str] | None, log: Log) -> tuple[list[DistillMethod], list[str]]:
    """The arms for `methods` on this task, each checked against the models before anything trains."""
    from edgerec.stages import check_fit

    arms, notes = plan_arms(recipe, bool(task.num_candidates), (len(recipe.teacher.hidden), len(recipe.student.hidden)),
                            methods)
    for arm in arms:  # a layer name the models lack fails before anything trains
        check_fit(recipe, task, (arm,))
    for note in notes:
        log(f"[ablation] {note}")
    return arms, notes


def compare(recipe: Recipe, task, teacher, teacher_metrics: dict, teacher_logits, arms: Sequence[DistillMethod],
            notes: list[str], seeds: Sequence[int], log: Log) -> dict:
    """Per seed, the scratch student and one student per arm under the trained `teacher`; the result dict.

    Shared by `edgerec distill --compare` and a build whose recipe sets `distill.compare`, which
    passes its own teacher (and its teacher-logit cache) so the teacher is not trained twice.
    """
    from edgerec.models.zoo import build_ranker
    from edgerec.stages import distill, measure, train_alone

    setting = recipe.distill.single(ABLATION)
    started = time.perf_counter()
    runs = []
    total = len(seeds) * (len(arms) + 1)
    for seed in seeds:
        for arm in (None, *arms):
            name = SCRATCH if arm is None else arm.name
            log(f"[ablation] seed {seed}, {name} (run {len(runs) + 1}/{total}, {time.perf_counter() - started:.0f}s so far)")
            t0 = time.perf_counter()
            student = build_ranker(task.features, recipe.student, "student", seed=seed)
            if arm is None:
                train_alone(student, task, recipe.student, recipe.student_training, SCRATCH, log)
            else:
                distill(teacher, student, task, recipe, recipe.student_training.max_epochs, name, log, methods=(arm,),
                        teacher_logits=teacher_logits)
            stage = measure(f"{name} seed {seed}", student, task, t0, log)
            runs.append({"arm": name, "seed": seed, "metrics": stage.metrics, "params": stage.params,
                         "seconds": stage.seconds})

    metrics = tuple(task.metric_names)
    return {
        "format": 1,
        "recipe": recipe.to_dict(),
        "data": task.data.source,
        "protocol": {
            "task": task.describe(),
            "seeds": list(seeds),
            "teacher": f"trained once, recipe seed {recipe.seed}",
            "student_training": dataclasses.asdict(recipe.student_training),
            "alpha": setting.alpha,
            "temperature": setting.temperature,
        },
        "arms": [{"arm": SCRATCH, "method": None}]
        + [{"arm": a.name, "method": describe_arm(a), "config": recipe_method(a)} for a in arms],
        "teacher": {"metrics": teacher_metrics},
        "runs": runs,
        "notes": notes,
        **summarize(teacher_metrics, runs, metrics),
        "seconds": round(time.perf_counter() - started, 1),
    }


def write(out: Path, result: dict, log: Log) -> None:
    """ablation.json (every run) and ablation.md (the table), atomically."""
    io.write_json(out / bundle.ABLATION_JSON, result)
    io.write_text(out / bundle.ABLATION_MD, ablation_report.markdown(result))
    log(f"[ablation] {result['verdict']['text']}")
    log(f"[done] ablation in {out} ({result['seconds']:.0f}s)")


def recipe_method(method: DistillMethod) -> dict:
    """The arm as a `distill.methods` entry, so a winner can be pasted into a recipe."""
    return {k: v for k, v in dataclasses.asdict(method).items() if v is not None}


def summarize(teacher: dict[str, float], runs: list[dict], metrics: Sequence[str]) -> dict:
    """{"gap_metric", "metrics", "summary", "verdict"} from the teacher's metrics and every (arm, seed) run.

    Gap closed is computed per seed against that seed's scratch run; a seed where the teacher
    does not beat scratch has no gap to close and is left out of that mean (and counted).
    """
    gap_metric = metric_table.headline(metrics)[-1]  # NDCG@10 where the task ranks, else AUC
    scratch = {r["seed"]: r["metrics"][gap_metric] for r in runs if r["arm"] == SCRATCH}
    summary = []
    for arm in dict.fromkeys(r["arm"] for r in runs):
        mine = [r for r in runs if r["arm"] == arm]
        gaps = [_gap_closed(r["metrics"][gap_metric], scratch[r["seed"]], teacher[gap_metric]) for r in mine]
        summary.append({
            "arm": arm,
            "seeds": [r["seed"] for r in mine],
            "metrics": {k: mean_std([r["metrics"][k] for r in mine]) for k in metrics},
            "gap_closed": {**mean_std([g for g in gaps if g is not None]), "per_seed": gaps},
        })
    return {"gap_metric": gap_metric, "metrics": list(metrics), "summary": summary,
            "verdict": verdict(summary, gap_metric)}


def _gap_closed(arm: float, scratch: float, teacher: float) -> float | None:
    return (arm - scratch) / (teacher - scratch) if teacher > scratch else None


def mean_std(values: Sequence[float]) -> dict[str, float | None]:
    """Mean and sample standard deviation (n - 1); std is None for one value, both None for none."""
    if not values:
        return {"mean": None, "std": None}
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None}


def verdict(summary: list[dict], gap_metric: str) -> dict:
    """Whether the best arm (highest mean gap closed) closes >= GOAL of the gap by more than its seed std."""
    label = metric_table.get(gap_metric).label
    candidates = [s for s in summary if s["arm"] != SCRATCH and s["gap_closed"]["mean"] is not None]
    if not candidates:
        return {"best_arm": None, "met": False,
                "text": f"No verdict: the teacher does not beat the student trained alone on {label} in any seed, "
                        "so there is no gap to close."}
    best = max(candidates, key=lambda s: s["gap_closed"]["mean"])
    mean, std = best["gap_closed"]["mean"], best["gap_closed"]["std"]
    lower = mean - (std or 0.0)
    met = lower >= GOAL
    spread = "(one seed: no std)" if std is None else f"± {std:.0%} (mean − std {lower:.0%})"
    # A steadier arm with a lower mean can still clear the bar: say so rather than hide it.
    steadier = [s["arm"] for s in candidates
                if s is not best and s["gap_closed"]["mean"] - (s["gap_closed"]["std"] or 0.0) >= GOAL]
    also = f" It is met by {', '.join(f'`{a}`' for a in steadier)}." if steadier else ""
    return {
        "best_arm": best["arm"], "gap_closed_mean": mean, "gap_closed_std": std, "met": met, "also_met_by": steadier,
        "text": f"Best arm `{best['arm']}` closes {mean:.0%} {spread} of the teacher–scratch {label} gap: the goal "
                f"(mean − std ≥ {GOAL:.0%}) is {'met' if met else 'not met'}.{also}",
    }
