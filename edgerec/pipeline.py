"""`run(recipe) -> bundle`: the only place the order of the stages lives.

interactions or labelled rows -> task -> teacher (or an ensemble) -> student trained alone (baseline)
-> [assistants, each distilled from the one before] -> distilled student
-> compression steps (each fine-tuned under the distiller) -> TFLite artifacts with parity
-> eval.npz, vocabularies, manifest.json -> on-device bench rows -> report.md
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np

from converters import manifest as manifest_mod
from converters import parity, representative, tflite
from device_bench import rows as bench_rows
from device_bench import run as bench_run
from device_bench import table
from device_bench import atomic
from device_bench.errors import EdgerecError
from edgerec import ablation, compress, io, report, train
from edgerec._keras import keras, tf
from edgerec.checkpoints import BuildState
from edgerec.data.task import CtrTask, RankingTask
from edgerec.data.vocab import OOV_INDEX
from edgerec.distill.teacher_logits import TeacherLogits
from edgerec.distill.teachers import ensemble_teacher
from edgerec.models.zoo import build_ranker
from edgerec.recipe import Recipe
from edgerec.report import METRICS
from edgerec.search import search
from edgerec.search import target as target_mod
from edgerec.stages import Stage, check_fit, check_steps, distill, load_task, measure, seed_stage, train_alone
from edgerec.stages import compress as compress_chain

Log = Callable[[str], None]
PARITY_GROUPS = 300  # held-out candidate lists scored by both Keras and TFLite for parity
PARITY_ROWS = 30_000  # CTR tasks (no candidate lists): held-out rows scored by both


class BundleExistsError(EdgerecError, FileExistsError):
    """The output folder already holds a bundle and overwriting it was not asked for."""


def run(
    recipe: Recipe, out: Path, data: Path | None = None, force: bool = False, resume: bool = False, log: Log = print,
    target: str | None = None, search_trials: int = search.DEFAULT_TRIALS,
) -> dict:
    """Builds the whole bundle into `out`; returns the manifest.

    Each stage is checkpointed (see `edgerec.checkpoints`); `resume=True` continues a build
    that was killed, skipping the stages it finished. With `target` (e.g.
    "auc>=0.999*teacher,ndcg@10>=0.99*teacher") the compression chain is not the recipe's but the
    one `edgerec.search.search` finds on a validation split carved from the training data.
    """
    out = Path(out)
    for step_config in recipe.compress:  # a typo in a step must fail now, not after the teacher trained
        compress.get(step_config.name).resolve(step_config.params)
    if target is not None:
        target_mod.parse(target, METRICS)  # a bad clause fails now; metrics the data lacks, once it is loaded
    searching = {"target": target, "trials": search_trials} if target is not None else None
    state = _open_state(out, recipe, data, force, resume, log, searching)
    started = time.perf_counter()
    # Same seed and machine -> the same numbers: TensorFlow's parallel reductions otherwise sum
    # in whatever order the threads finish.
    tf.config.experimental.enable_op_determinism()

    task = load_task(recipe, data, log, validation=target is not None)
    clauses = None if target is None else target_mod.parse(target, task.metric_names)
    check_fit(recipe, task)
    check_steps(recipe, task)
    arms = None
    if recipe.distill.compare is not None:
        arms = ablation.check_arms(recipe, task, recipe.distill.compare.methods or None, log)
    stages = [Stage(*train.baseline(task))]
    checkpointed = _Checkpointed(state, task, recipe.seed, log)

    teacher, teacher_stages = _teacher(checkpointed, task, recipe, log)
    scratch, scratch_stage = _train_alone(
        checkpointed, task, recipe, "student_scratch", recipe.student, recipe.student_training, log,
        label="student trained alone (baseline)",
    )
    stages += [*teacher_stages, scratch_stage]
    teacher_stage = teacher_stages[-1]

    supervisor = teacher
    for index, config in enumerate(recipe.distill.assistants):
        supervisor, assistant_stage = _distilled(
            checkpointed, supervisor, None, task, recipe, f"assistant_{index}", config, f"assistant {index} distilled", log
        )
        stages.append(assistant_stage)
    # computed once per epoch for the student and every compression stage (same supervisor)
    teacher_logits = TeacherLogits(supervisor, task)
    student, student_stage = _distilled(
        checkpointed, supervisor, teacher_logits, task, recipe, "student", recipe.student, "student distilled", log
    )
    stages.append(student_stage)
    if arms is not None:
        _compare(state, recipe, task, teacher, teacher_stage, teacher_logits if supervisor is teacher else None, arms, out, log)

    searched = None
    if clauses is not None:
        searched = _search(state, teacher, supervisor, teacher_logits, student, task, recipe, clauses, search_trials,
                           out, log)
        recipe_used = dataclasses.replace(
            recipe, compress=search.chosen_steps(searched),
            export=dataclasses.replace(recipe.export, keep_float=search.chosen_keep_float(searched)),
        )
    else:
        recipe_used = recipe
    compressed, compress_facts, (float_compressed, float_stage, float_facts) = _compress(
        checkpointed, supervisor, teacher_logits, student, task, recipe_used, stages, log
    )
    kept = recipe_used.export.keep_float  # the recipe's, or the layers the search kept in float
    keep_float = {"keep_float": list(kept)} if kept else {}

    log("[convert] TFLite artifacts")
    calibration = representative.dataset(task.representative_rows(recipe.representative_samples))
    parity_rows = _parity_rows(task)
    entries = []
    for name, model, mode, stage, produced_by in (
        ("teacher", teacher, "fp32", teacher_stage, {}),
        ("student_scratch", scratch, "fp32", scratch_stage, {}),
        ("student", student, "fp32", student_stage, {}),
        ("student_int8", compressed, "int8", stages[-1],
         {"steps": compress_facts, **keep_float, **({"search": _search_summary(searched)} if searched else {})}),
        *((f"student_{mode}", float_compressed, mode, float_stage, {"steps": float_facts})
          for mode in recipe.export.modes if mode != "int8"),
    ):
        key = f"artifact/{name}"
        entry = state.done(key)
        path = out / f"{name}.tflite"
        if entry is None or not path.is_file() or bench_run.sha256(path) != entry["sha256"]:
            produced_by = {"stage": stage.name, **produced_by}
            entry = _export(name, model, mode, out, calibration, parity_rows, task, produced_by, stage, log,
                            produced_by.get("keep_float", ()))
            state.save(key, entry)
        else:
            log(f"  {entry['file']}: converted before the interruption (sha256 checked)")
        entries.append(entry)

    task.save_eval(out / "eval.npz")
    vocab_files = _write_vocabularies(task.data.vocabularies, out)
    manifest = {
        "format": 1,
        "artifacts": entries,
        "eval": {
            "file": "eval.npz",
            "protocol": task.describe(),
            "held_out": task.held_out,
            "metrics": list(task.metric_names),
        },
        "schema": {
            "source": task.data.source,
            "features": [f.to_dict() for f in task.features],
            "vocabularies": vocab_files,
            "oov_index": OOV_INDEX,
            "oov": "map any raw value missing from a vocabulary file to index 0",
            "label": task.label,
            "output": "logit; apply sigmoid for a probability",
        },
        "stages": [vars(s) for s in stages],
        "recipe": recipe.to_dict(),
        "seed": recipe.seed,
        "versions": state.fingerprint["versions"],
    }
    if searched is not None:
        manifest["search"] = _search_summary(searched)
    io.write_json(out / "manifest.json", manifest)

    log("[bench] every artifact on this machine (child process each)")
    cfg = recipe.bench
    result_rows = bench_run.bench(
        [out],
        threads=cfg.threads,
        batches=cfg.batch,
        runs=cfg.runs,
        warmup=cfg.warmup,
        min_seconds=cfg.min_seconds,
        progress=lambda row: log(f"  {row['artifact']} threads={row['threads']} batch={row['batch']}: {row['status']}"),
    )
    bench_rows.write_json(out / "bench.json", table.environment(), result_rows)
    written = report.write(out, seconds=time.perf_counter() - started)
    if written.note:
        log(f"  {written.note}")
    state.finish()
    log(f"[done] bundle in {out} ({time.perf_counter() - started:.0f}s)")
    return manifest


def _open_state(out: Path, recipe: Recipe, data: Path | None, force: bool, resume: bool, log: Log,
                searching: dict | None = None) -> BuildState:
    """Checks what `out` already holds against --force / --resume; returns the build's state."""
    fingerprint = {
        "recipe": recipe.to_dict(),
        "data": None if data is None else str(Path(data).resolve()),
        "versions": _versions(),
    }
    fingerprint["search"] = searching  # resuming with another target (or none) would mix two chains
    interrupted, complete = BuildState.exists(out), (out / "manifest.json").exists()
    if resume and force:
        raise BundleExistsError("--resume and --force contradict each other; give one")
    if resume and interrupted:
        state = BuildState.resume(out, fingerprint)
        log(f"[resume] {out}: {len(state.stages)} finished stage(s) kept: {', '.join(state.stages) or 'none'}")
    elif resume and complete:
        raise BundleExistsError(f"--resume: {out} holds a complete bundle, nothing to resume; use --force to rebuild it")
    elif (interrupted or complete) and not force:
        what = "an interrupted build (use --resume to continue it" if interrupted else "a bundle (manifest.json"
        raise BundleExistsError(f"{out} already holds {what}); use --force to overwrite it")
    else:
        if resume:
            log(f"[resume] {out} holds no interrupted build; starting one")
        state = BuildState.start(out, fingerprint)
    atomic.remove_leftovers(out)
    return state


class _Checkpointed:
    """Runs one model stage, or restores it when an earlier attempt of this build finished it.

    Every stage seeds TensorFlow, numpy and Python from (recipe seed, stage key) before it
    starts, so its result does not depend on which stages ran before it in this process: a
    stage redone after `--resume` gives what it would have given in an uninterrupted build.
    """

    def __init__(self, state: BuildState, task: RankingTask | CtrTask, seed: int, log: Log):
        self.state, self.task, self.seed, self.log = state, task, seed, log

    def __call__(self, key, label, build, train_fn, restore=lambda model: model):
        seed_stage(self.seed, key)
        model = build()
        record = self.state.done(key)
        if record is not None:
            model = restore(model)
            model.set_weights(self.state.weights(key))
            self.log(f"[{key}] restored from its checkpoint")
            return model, Stage(**record)
        t0 = time.perf_counter()
        model = train_fn(model)
        stage = measure(label, model, self.task, t0, self.log)
        self.state.save(key, vars(stage), model.get_weights())
        return model, stage


def _train_alone(checkpointed, task, recipe, name, model_config, train_config, log, label=None, seed=None):
    return checkpointed(
        name, label or name,
        lambda: build_ranker(task.features, model_config, name, seed=recipe.seed if seed is None else seed),
        lambda model: train_alone(model, task, model_config, train_config, name, log),
    )


def _teacher(checkpointed, task, recipe, log) -> tuple[keras.Model, list[Stage]]:
    """The teacher, or the ensemble of `distill.ensemble` teachers (each from its own initial
    weights); returns it and the stages to report, the supervising model's last."""
    count = recipe.distill.ensemble
    if count == 1:
        teacher, stage = _train_alone(checkpointed, task, recipe, "teacher", recipe.teacher, recipe.teacher_training, log)
        return teacher, [stage]
    members = [
        _train_alone(checkpointed, task, recipe, f"teacher_{i}", recipe.teacher, recipe.teacher_training, log,
                     seed=recipe.seed + i)
        for i in range(count)
    ]
    log(f"[teacher] ensemble: the mean of {count} teachers' logits")
    ensemble = ensemble_teacher([model for model, _ in members], name="teacher")
    stage = measure(f"teacher (ensemble of {count})", ensemble, task, time.perf_counter(), log)
    stage.seconds = round(sum(member.seconds for _, member in members), 1)
    return ensemble, [member for _, member in members] + [stage]


def _distilled(checkpointed, supervisor, teacher_logits, task, recipe, name, model_config, label, log):
    """`model_config` trained under `supervisor` for the student's epochs (a student or an assistant)."""

    def train_distilled(model):
        log(f"[distill] {name} under the frozen {supervisor.name}")
        distill(supervisor, model, task, recipe, recipe.student_training.epochs, f"distill {name}", log,
                teacher_logits=teacher_logits)
        return model

    return checkpointed(
        name, label, lambda: build_ranker(task.features, model_config, name, seed=recipe.seed), train_distilled
    )


def _compare(state, recipe, task, teacher, teacher_stage, teacher_logits, arms, out, log) -> None:
    """`distill.compare`: the ablation under the build's own teacher, into OUT/ablation.{json,md}."""
    result = state.done("ablation")
    if result is None:
        arms, notes = arms
        log(f"[ablation] arms: {ablation.SCRATCH}, {', '.join(ablation.describe_arm(a) for a in arms)}; "
            f"seeds {list(recipe.distill.compare.seeds)}")
        result = ablation.compare(recipe, task, teacher, teacher_stage.metrics, teacher_logits or TeacherLogits(teacher, task),
                                  arms, notes, recipe.distill.compare.seeds, log)
        result["teacher"].update(params=teacher_stage.params, seconds=teacher_stage.seconds)
        state.save("ablation", result)
    else:
        log("[ablation] restored from its checkpoint")
    ablation.write(out, result, log)
def _compress(checkpointed, teacher, teacher_logits, student, task, recipe, stages, log):
    """Applies the recipe's steps in order to a copy of the distilled student (see `stages.compress`).

    Returns the compressed model and its steps' facts, plus (model, stage, facts) of the chain
    before its first fake-quantizing step (QAT): what the non-int8 export modes convert.
    """
    model, facts, step_stages, before_quant = compress_chain(teacher, student, task, recipe, recipe.compress, log,
                                                             checkpointed, teacher_logits)
    previous = stages[-1]
    stages += step_stages
    if before_quant is None:  # no fake-quantizing step: every mode converts the final model
        return model, facts, (model, stages[-1], facts)
    float_model, float_stage, float_facts = before_quant
    return model, facts, (float_model, float_stage or previous, float_facts)


def _search(state, teacher, supervisor, teacher_logits, student, task, recipe, clauses, budget, out, log) -> dict:
    """Runs the search once; a resumed build restores its result (search.json is already written).

    Trials fine-tune under `supervisor` (the teacher, or the last assistant) as the build does;
    relative clauses compare with `teacher`."""
    record = state.done("search")
    if record is not None and (out / "search.json").is_file():
        log("[search] restored from its checkpoint")
        return record
    from edgerec.search.trial import TrialRunner

    runner = TrialRunner(teacher, student, task, recipe, log, supervisor, teacher_logits)
    result = search.run(runner, clauses, budget, recipe, out, log)
    state.save("search", result)
    return result


def _search_summary(result: dict) -> dict:
    """What the manifest says about the search: the target, whether the shipped chain meets it, and where to look."""
    chosen = result["trials"][result["chosen"]]
    return {
        "target": result["target"],
        "met": result["met"],
        "note": "the chosen chain meets every clause on validation" if result["met"]
        else "NO TRIAL MET THE TARGET: the shipped student_int8.tflite is the closest trial and does not meet it",
        "chosen_trial": chosen["id"],
        "chain": chosen["chain"],
        "steps": chosen["steps"],
        "keep_float": chosen.get("keep_float", []),
        "validation": result["validation"],
        "validation_metrics": chosen["metrics"],
        "teacher_validation_metrics": result["teacher_metrics"],
        "trials": len(result["trials"]),
        "front": result["front"],
        "file": "search.json",
    }


def _parity_rows(task: RankingTask | CtrTask) -> dict[str, np.ndarray]:
    if not task.num_candidates:
        return {name: values[:PARITY_ROWS] for name, values in task.pointwise_eval()[0].items()}
    n = min(PARITY_GROUPS, len(task.candidates)) * task.candidates.shape[1]
    return {name: values[:n] for name, values in task.ranking_eval().items()}


def _export(name, model, mode, out, calibration, parity_rows, task, produced_by, stage, log, keep_float=()) -> dict:
    t0 = time.perf_counter()
    path = out / f"{name}.tflite"
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
        relative = f"vocab/{feature}.txt"
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
