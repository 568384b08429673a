"""`run(recipe) -> bundle`: the only place the order of the stages lives.

interactions or labelled rows -> task -> teacher (or an ensemble) -> student trained alone (baseline)
-> [assistants, each distilled from the one before] -> a distilled student per distillation candidate
-> the student that ships (the best of them and the student alone, on validation)
-> compression steps (each fine-tuned under the distiller)
-> the two-tower retrieval student (interaction data), distilled from the same supervisor
-> TFLite artifacts with parity -> eval.npz, vocabularies, manifest.json -> on-device bench rows -> report.md
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from converters import manifest as manifest_mod
from converters import parity, representative, tflite
from device_bench import rows as bench_rows
from device_bench import run as bench_run
from device_bench import table
from device_bench import atomic, bundle, metrics
from device_bench.errors import EdgerecError
from edgerec import ablation, baselines, compress, io, report, retrieval, train
from edgerec._keras import tf
from edgerec.build_lock import build_lock
from edgerec.checkpoints import BuildState
from edgerec.data.task import CtrTask, RankingTask
from edgerec.data.vocab import OOV_INDEX
from edgerec.distill.teacher_logits import TeacherLogits
from edgerec.recipe import Recipe
from edgerec.search import search, widths
from edgerec.search import target as target_mod
from edgerec.sequence import CheckpointedRunner, Trained, train_supervised
from edgerec.stages import Compressed, Stage, check_fit, check_steps, load_task
from edgerec.stages import compress as compress_chain

Log = Callable[[str], None]
PARITY_GROUPS = 300  # held-out candidate lists scored by both Keras and TFLite for parity
PARITY_ROWS = 30_000  # CTR tasks (no candidate lists): held-out rows scored by both


class BundleExistsError(EdgerecError, FileExistsError):
    """The output folder already holds a bundle and overwriting it was not asked for."""


@dataclass
class Build:
    """What every stage of one build shares, so each stage helper takes this and at most a few arguments.

    `baselines` are the stages the build opens with; `stages` collects every Stage record in
    report order; `runner` seeds, trains, measures and
    checkpoints each model stage (see `edgerec.sequence.CheckpointedRunner`).
    """

    recipe: Recipe
    task: RankingTask | CtrTask
    out: Path
    log: Log
    state: BuildState
    runner: CheckpointedRunner
    started: float
    baselines: list[Stage]
    stages: list[Stage] = field(default_factory=list)


def run(
    recipe: Recipe, out: Path, data: Path | None = None, force: bool = False, resume: bool = False, log: Log = print,
    target: str | None = None, search_trials: int = search.DEFAULT_TRIALS, student_widths: tuple[int, ...] | None = None,
) -> dict:
    """Builds the whole bundle into `out`; returns the manifest.

    Each stage is checkpointed (see `edgerec.checkpoints`); `resume=True` continues a build
    that was killed, skipping the stages it finished. With `target` (e.g.
    "auc>=0.999*teacher,ndcg@10>=0.99*teacher") the compression chain is not the recipe's but the
    one `edgerec.search.search` finds on a validation split carved from the training data, on the
    student width it finds (`student_widths`: multipliers of the recipe student's width; None: the
    default of `edgerec.search.widths`), and the manifest's recipe is the one that ships.
    """
    out = Path(out)
    _check_recipe(recipe, target)
    planned = [] if target is None else widths.plan(recipe, student_widths, search_trials)
    searching = None if target is None else {"target": target, "trials": search_trials,
                                             "widths": [w.multiplier for w in planned]}
    with build_lock(out):  # a second build into the same folder is refused, not interleaved
        state = _open_state(out, recipe, data, force, resume, log, searching)
        started = time.perf_counter()
        # Same seed and machine -> the same numbers: TensorFlow's parallel reductions otherwise sum
        # in whatever order the threads finish.
        tf.config.experimental.enable_op_determinism()

        build = _start(recipe, out, data, log, state, started)
        clauses = None if target is None else target_mod.parse(target, build.task.metric_names)
        for width in planned[1:]:  # a wider student the data or the distillation methods cannot take fails now
            check_fit(dataclasses.replace(recipe, student=width.config), build.task)
        arms = _ablation_arms(build)
        trained = train_supervised(recipe, build.task, build.runner, log)
        verdict = _against_baselines(build, trained)
        if arms is not None:
            _compare(build, trained, arms)
        searched = None
        if clauses is not None:
            searched, trained = _search(build, trained, planned, clauses, search_trials)
        build.stages += trained.stages
        shipped = _recipe_shipped(recipe, searched)
        recipe_used = trained.students_recipe(shipped)
        compressed = _compress(build, trained, recipe_used)
        retrieval_student = _retrieval_student(build, trained)
        entries = _export_artifacts(build, trained, compressed, recipe_used, searched)
        entries += _export_retrieval(build, retrieval_student)
        manifest = _write_bundle(build, trained, verdict, entries, searched, shipped)
        _bench(build)
        _finish(build)
        return manifest


def _check_recipe(recipe: Recipe, target: str | None) -> None:
    """A typo in a compression step or a bad --target clause fails now, not after the teacher trained."""
    for step_config in recipe.compress:
        compress.get(step_config.name).resolve(step_config.params)
    if target is not None:
        target_mod.parse(target, metrics.keys())  # metrics the data lacks fail once it is loaded


def _start(recipe: Recipe, out: Path, data: Path | None, log: Log, state: BuildState, started: float) -> Build:
    """Loads the task, checks the recipe against it, and opens the build with the baselines' stages
    (popularity or the click-rate prior, and a matrix factorisation or a logistic regression)."""
    task = load_task(recipe, data, log)
    check_fit(recipe, task)
    check_steps(recipe, task)
    runner = CheckpointedRunner(state, task, recipe.seed, log)
    log("[baselines] on the same split and candidates")
    computed = [Stage(name, metrics) for name, metrics in baselines.compute(task, recipe.seed, log)]
    return Build(recipe, task, out, log, state, runner, started, computed, stages=list(computed))


def _ablation_arms(build: Build) -> tuple | None:
    """`distill.compare`'s arms (and notes), checked against the models before anything trains; None without it."""
    compare = build.recipe.distill.compare
    if compare is None:
        return None
    return ablation.check_arms(build.recipe, build.task, compare.methods or None, build.log)


def _recipe_shipped(recipe: Recipe, searched: dict | None) -> Recipe:
    """The recipe of what ships: the given one, or with the search's student width, chain and float
    layers, so that a plain build of it (the manifest's `recipe`) trains and compresses the same student."""
    if searched is None:
        return recipe
    chosen = searched["trials"][searched["chosen"]]["width"]
    student = dataclasses.replace(recipe.student, embedding_dim=chosen["embedding_dim"], hidden=tuple(chosen["hidden"]))
    return dataclasses.replace(
        recipe, student=student, compress=search.chosen_steps(searched),
        export=dataclasses.replace(recipe.export, keep_float=search.chosen_keep_float(searched)),
    )


def _compress(build: Build, trained: Trained, recipe: Recipe) -> Compressed:
    """Applies `recipe`'s steps in order to a copy of the distilled student, under the supervisor."""
    compressed = compress_chain(trained.supervisor, trained.student, build.task, recipe, recipe.compress, build.log,
                                build.runner, trained.teacher_logits)
    build.stages += compressed.stages
    return compressed


def _retrieval_student(build: Build, trained: Trained) -> tuple | None:
    """The two-tower retrieval student and its stage, or None (the log says why: `retrieval.skipped`)."""
    why = retrieval.skipped(build.recipe, build.task)
    if why is not None:
        build.log(f"[retrieval] no retrieval student: {why}")
        return None
    model, stage = retrieval.train_student(build.recipe, build.task, build.runner, trained, build.log)
    build.stages.append(stage)
    return model, stage


def _export_retrieval(build: Build, student: tuple | None) -> list[dict]:
    """`retrieval_int8.tflite`'s manifest entry (converted now, or kept from before an interruption)."""
    if student is None:
        return []
    key, path = f"artifact/{bundle.RETRIEVAL}", build.out / bundle.artifact_file(bundle.RETRIEVAL)
    entry = build.state.done(key)
    if entry is None or not path.is_file() or bundle.sha256(path) != entry["sha256"]:
        entry = retrieval.export(*student, build.task, build.recipe, build.out, build.log)
        build.state.save(key, entry)
    else:
        build.log(f"  {entry['file']}: converted before the interruption (sha256 checked)")
    return [entry]


def _export_artifacts(build: Build, trained: Trained, compressed: Compressed, recipe: Recipe,
                      searched: dict | None) -> list[dict]:
    """Converts every artifact (or keeps one converted before an interruption); returns their manifest entries."""
    log = build.log
    log("[convert] TFLite artifacts")
    kept = recipe.export.keep_float  # the recipe's, or the layers the search kept in float
    keep_float = {"keep_float": list(kept)} if kept else {}
    float_stage = compressed.float_stage or trained.student_stage
    artifacts = (
        (bundle.TEACHER, trained.teacher, "fp32", trained.teacher_stage, {}),
        (bundle.STUDENT_SCRATCH, trained.scratch, "fp32", trained.scratch_stage, {}),
        (bundle.STUDENT, trained.student, "fp32", trained.student_stage, {}),
        (bundle.STUDENT_INT8, compressed.model, "int8", compressed.stage or trained.student_stage,
         {"steps": compressed.facts, **keep_float, **({"search": _search_summary(searched)} if searched else {})}),
        *((f"student_{mode}", compressed.float_model, mode, float_stage, {"steps": compressed.float_facts})
          for mode in recipe.export.modes if mode != "int8"),
    )
    calibration = representative.dataset(build.task.representative_rows(build.recipe.representative_samples))
    parity_rows = _parity_rows(build.task)
    entries = []
    for name, model, mode, stage, produced_by in artifacts:
        key = f"artifact/{name}"
        entry = build.state.done(key)
        path = build.out / bundle.artifact_file(name)
        if entry is None or not path.is_file() or bundle.sha256(path) != entry["sha256"]:
            produced_by = {"stage": stage.name, **produced_by}
            entry = _export(name, model, mode, build.out, calibration, parity_rows, build.task, produced_by, stage, log,
                            produced_by.get("keep_float", ()))
            build.state.save(key, entry)
        else:
            log(f"  {entry['file']}: converted before the interruption (sha256 checked)")
        entries.append(entry)
    return entries



def _against_baselines(build: Build, trained: Trained) -> dict:
    """Whether the teacher beats the strongest baseline on held-out data (reported, never chosen on)."""
    metric = train.selection_metric(build.task)
    name, value = baselines.strongest([(s.name, s.metrics) for s in build.baselines], metric)
    teacher = trained.teacher_stage.metrics[metric]
    verdict = {"metric": metric, "strongest": name, "value": value, "teacher": teacher, "teacher_beats": teacher > value}
    if not verdict["teacher_beats"]:
        build.log(f"[baselines] the teacher does NOT beat the strongest baseline: {metric} {teacher:.4f} against "
                  f"{name} {value:.4f}")
    return verdict


def _write_bundle(build: Build, trained: Trained, verdict: dict, entries: list[dict], searched: dict | None,
                  recipe: Recipe) -> dict:
    """eval.npz, the vocabularies and manifest.json (`recipe`: the one that ships); returns the manifest."""
    task, out = build.task, build.out
    task.save_eval(out / bundle.EVAL_SET)
    vocab_files = _write_vocabularies(task.data.vocabularies, out)
    manifest = bundle.manifest(
        entries,
        bundle.eval_entry(task.describe(), task.held_out, task.metric_names),
        bundle.schema_entry(task.data.source, [f.to_dict() for f in task.features], vocab_files, OOV_INDEX, task.label),
        stages=[vars(s) for s in build.stages],
        student_choice={"metric": train.selection_metric(task), "on": "validation", "candidates": trained.candidates},
        baselines=verdict,
        recipe=recipe.to_dict(), seed=recipe.seed,
        versions=build.state.fingerprint["versions"], search=_search_summary(searched) if searched is not None else None,
    )
    bundle.write_manifest(out, manifest)
    return manifest


def _bench(build: Build) -> None:
    """Every artifact of the bundle benchmarked on this machine, into bench.json."""
    log, cfg = build.log, build.recipe.bench
    log("[bench] every artifact on this machine (child process each)")
    result_rows = bench_run.bench(
        [build.out],
        threads=cfg.threads,
        batches=cfg.batch,
        runs=cfg.runs,
        warmup=cfg.warmup,
        min_seconds=cfg.min_seconds,
        progress=lambda row: log(f"  {row['artifact']} threads={row['threads']} batch={row['batch']}: {row['status']}"),
    )
    bench_rows.write_json(build.out / bundle.BENCH, table.environment(), result_rows)


def _finish(build: Build) -> None:
    """report.md, then the checkpoints go: the build is complete."""
    written = report.write(build.out, seconds=time.perf_counter() - build.started)
    if written.note:
        build.log(f"  {written.note}")
    build.state.finish()
    build.log(f"[done] bundle in {build.out} ({time.perf_counter() - build.started:.0f}s)")


def _open_state(out: Path, recipe: Recipe, data: Path | None, force: bool, resume: bool, log: Log,
                searching: dict | None = None) -> BuildState:
    """Checks what `out` already holds against --force / --resume; returns the build's state."""
    fingerprint = {
        "recipe": recipe.to_dict(),
        "data": None if data is None else str(Path(data).resolve()),
        "versions": _versions(),
    }
    fingerprint["search"] = searching  # resuming with another target (or none) would mix two chains
    interrupted, complete = BuildState.exists(out), (out / bundle.MANIFEST).exists()
    if resume and force:
        raise BundleExistsError("--resume and --force contradict each other; give one")
    if resume and interrupted:
        state = BuildState.resume(out, fingerprint)
        log(f"[resume] {out}: {len(state.stages)} finished stage(s) kept: {', '.join(state.stages) or 'none'}")
    elif resume and complete:
        raise BundleExistsError(f"--resume: {out} holds a complete bundle, nothing to resume; use --force to rebuild it")
    elif (interrupted or complete) and not force:
        what = "an interrupted build (use --resume to continue it" if interrupted else f"a bundle ({bundle.MANIFEST}"
        raise BundleExistsError(f"{out} already holds {what}); use --force to overwrite it")
    else:
        if resume:
            log(f"[resume] {out} holds no interrupted build; starting one")
        state = BuildState.start(out, fingerprint)
    atomic.remove_leftovers(out)
    return state


def _compare(build: Build, trained: Trained, arms: tuple) -> None:
    """`distill.compare`: the ablation under the build's own teacher, into OUT/ablation.{json,md}."""
    recipe, task, log = build.recipe, build.task, build.log
    result = build.state.done("ablation")
    if result is None:
        arms, notes = arms
        log(f"[ablation] arms: {ablation.SCRATCH}, {', '.join(ablation.describe_arm(a) for a in arms)}; "
            f"seeds {list(recipe.distill.compare.seeds)}")
        # the arms distil from the teacher itself: its logit cache is the build's only if it supervises
        logits = trained.teacher_logits if trained.supervisor is trained.teacher else TeacherLogits(trained.teacher, task)
        teacher_stage = trained.teacher_stage
        result = ablation.compare(recipe, task, trained.teacher, teacher_stage.metrics, logits, arms, notes,
                                  recipe.distill.compare.seeds, log)
        result["teacher"].update(params=teacher_stage.params, seconds=teacher_stage.seconds)
        build.state.save("ablation", result)
    else:
        log("[ablation] restored from its checkpoint")
    ablation.write(build.out, result, log)


def _search(build: Build, trained: Trained, planned: list[widths.Width], clauses, budget: int) -> tuple[dict, Trained]:
    """The width and compression search on validation; returns its result and the chosen width's
    students (wider ones trained by the build's sequence, checkpointed under the width's prefix:
    see `trial.WidthRunners`)."""
    from edgerec.search.trial import WidthRunners

    runners = WidthRunners(trained, build.recipe, build.task, build.runner, build.log)
    result = search.run_once(build.state, runners, planned, clauses, budget, build.recipe, build.out, build.log)
    return result, runners.students(next(w for w in planned if w.multiplier == search.chosen_width(result)))


def _search_summary(result: dict) -> dict:
    """What the manifest says about the search: the target, whether the shipped chain meets it, and where to look."""
    chosen = result["trials"][result["chosen"]]
    return {
        "target": result["target"],
        "met": result["met"],
        "note": "the chosen chain meets every clause on validation" if result["met"]
        else f"NO TRIAL MET THE TARGET: the shipped {bundle.artifact_file(bundle.STUDENT_INT8)} is the closest trial "
        "and does not meet it",
        "chosen_trial": chosen["id"],
        "chain": chosen["chain"],
        "width": chosen["width"],
        "steps": chosen["steps"],
        "keep_float": chosen.get("keep_float", []),
        "validation": result["validation"],
        "validation_metrics": chosen["metrics"],
        "teacher_validation_metrics": result["teacher_metrics"],
        "trials": len(result["trials"]),
        "front": result["front"],
        "file": bundle.SEARCH_JSON,
    }


def _parity_rows(task: RankingTask | CtrTask) -> dict[str, np.ndarray]:
    if not task.num_candidates:
        return {name: values[:PARITY_ROWS] for name, values in task.pointwise_eval()[0].items()}
    n = min(PARITY_GROUPS, len(task.candidates)) * task.candidates.shape[1]
    return {name: values[:n] for name, values in task.ranking_eval().items()}


def _export(name, model, mode, out, calibration, parity_rows, task, produced_by, stage, log, keep_float=()) -> dict:
    t0 = time.perf_counter()
    path = out / bundle.artifact_file(name)
    io.write_bytes(path, tflite.convert(model, mode, calibration if mode in tflite.CALIBRATED_MODES else None, keep_float))
    check = parity.compare(
        train.predict_logits(model, parity_rows),
        parity.tflite_logits(path, parity_rows),
        candidates_per_user=task.num_candidates or None,
    )
    log(f"  {path.name}: {path.stat().st_size / 1024:.1f} KiB, parity {check} ({time.perf_counter() - t0:.0f}s)")
    return manifest_mod.artifact_entry(path, mode, name, produced_by, stage.metrics, check)


def _write_vocabularies(vocabularies: dict[str, list[str]], out: Path) -> dict[str, str]:
    files = {}
    for feature, values in vocabularies.items():
        relative = bundle.vocab_file(feature)
        io.write_text(out / relative, "\n".join(values) + "\n")
        files[feature] = relative
    return files


def _versions() -> dict:
    versions = {"python": platform.python_version()}
    for dist in ("edgerec", "tensorflow", "tf-keras", "tensorflow-model-optimization", "numpy", "ai-edge-litert"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return versions
