"""`run(recipe) -> bundle`: the only place the order of the stages lives.

interactions -> task -> teacher -> student trained alone (baseline) -> distilled student
-> compression steps (each fine-tuned under the distiller) -> TFLite artifacts with parity
-> eval.npz, vocabularies, manifest.json -> on-device bench rows -> report.md
"""

from __future__ import annotations

import importlib.metadata
import math
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
from edgerec import compress, io, report, train
from edgerec._keras import keras
from edgerec.data import sources, synthetic
from edgerec.data.task import RankingTask
from edgerec.data.vocab import OOV_INDEX
from edgerec.distill import losses
from edgerec.distill.distiller import Distiller
from edgerec.models.zoo import build_ranker
from edgerec.recipe import DistillMethod, Recipe

Log = Callable[[str], None]
PARITY_GROUPS = 300  # held-out candidate lists scored by both Keras and TFLite for parity


class BundleExistsError(FileExistsError):
    """The output folder already holds a bundle and overwriting it was not asked for."""


@dataclass
class Stage:
    """Keras-side results of one model of the build, for the manifest and the report."""

    name: str
    metrics: dict
    params: int | None = None
    seconds: float = 0.0
    facts: dict = field(default_factory=dict)


def run(recipe: Recipe, out: Path, data: Path | None = None, force: bool = False, log: Log = print) -> dict:
    """Builds the whole bundle into `out`; returns the manifest."""
    out = Path(out)
    if (out / "manifest.json").exists() and not force:
        raise BundleExistsError(f"{out} already holds a bundle (manifest.json); use --force to overwrite it")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    keras.utils.set_random_seed(recipe.seed)

    log(f"[data] {'synthetic ' + recipe.data.synthetic_size if data is None else data}")
    interactions = (
        synthetic.generate(recipe.data.synthetic_size, recipe.seed) if data is None else sources.load(data)
    )
    task = RankingTask(interactions, recipe.data, recipe.seed)
    log(
        f"  {interactions.num_users} users, {interactions.num_items} items, {len(interactions.user)} interactions; "
        f"{len(task.train_user)} train positives x (1 + {recipe.data.negatives_per_positive} negatives) per epoch"
    )
    stages = [Stage("popularity (baseline)", train.popularity_metrics(task))]
    if losses.from_config(recipe.distill).reads_layers:  # a wrong layer name fails now, not after training
        losses.from_config(recipe.distill).build(
            build_ranker(task.features, recipe.teacher, "teacher"), build_ranker(task.features, recipe.student, "student")
        )

    teacher, teacher_stage = _train_alone(task, recipe, "teacher", recipe.teacher, recipe.teacher_training, log)
    scratch, scratch_stage = _train_alone(
        task, recipe, "student_scratch", recipe.student, recipe.student_training, log
    )
    scratch_stage.name = "student trained alone (baseline)"
    stages += [teacher_stage, scratch_stage]

    log("[distill] student under the frozen teacher")
    t0 = time.perf_counter()
    student = build_ranker(task.features, recipe.student, "student", seed=recipe.seed)
    _distill(teacher, student, task, recipe, recipe.student_training.epochs, "distill", log)
    student_stage = _stage("student distilled", student, task, t0, log)
    stages.append(student_stage)

    compressed, compress_facts = _compress(teacher, student, task, recipe, stages, log)

    log("[convert] TFLite artifacts")
    calibration = representative.dataset(task.representative_rows(recipe.representative_samples))
    parity_rows = _parity_rows(task)
    entries = []
    for name, model, mode, stage, produced_by in (
        ("teacher", teacher, "fp32", teacher_stage, {}),
        ("student_scratch", scratch, "fp32", scratch_stage, {}),
        ("student", student, "fp32", student_stage, {}),
        ("student_int8", compressed, "int8", stages[-1], {"steps": compress_facts}),
    ):
        produced_by = {"stage": stage.name, **produced_by}
        entries.append(_export(name, model, mode, out, calibration, parity_rows, task, produced_by, stage, log))

    task.save_eval(out / "eval.npz")
    vocab_files = _write_vocabularies(task.data.vocabularies, out)
    manifest = {
        "format": 1,
        "artifacts": entries,
        "eval": {
            "file": "eval.npz",
            "protocol": task.describe(),
            "held_out": int(len(task.holdout_item)),
        },
        "schema": {
            "source": interactions.source,
            "features": [f.to_dict() for f in task.features],
            "vocabularies": vocab_files,
            "oov_index": OOV_INDEX,
            "oov": "map any raw value missing from a vocabulary file to index 0",
            "label": "implicit feedback: observed interaction = 1, sampled unseen item = 0",
            "output": "logit; apply sigmoid for a probability",
        },
        "stages": [vars(s) for s in stages],
        "recipe": recipe.to_dict(),
        "seed": recipe.seed,
        "versions": _versions(),
    }
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
    log(f"[done] bundle in {out} ({time.perf_counter() - started:.0f}s)")
    return manifest


def _train_alone(task, recipe, name, model_config, train_config, log):
    log(f"[{name}] {model_config.architecture}, embedding {model_config.embedding_dim}, hidden {list(model_config.hidden)}, "
        f"cross layers {model_config.cross_layers}")
    t0 = time.perf_counter()
    model = build_ranker(task.features, model_config, name, seed=recipe.seed)
    train.compile_ranker(model, train_config)
    train.fit(model, task, train_config, train_config.epochs, name, log)
    return model, _stage(name, model, task, t0, log)


def _distill(teacher, student, task, recipe, epochs, label, log, callbacks=None,
             methods: tuple[DistillMethod, ...] | None = None):
    """Trains `student` under `teacher` with the recipe's distillation methods, or with `methods`."""
    loss = losses.from_config(recipe.distill, methods)
    distiller = Distiller(teacher, student, loss, recipe.distill.alpha)
    distiller.compile(optimizer=keras.optimizers.Adam(recipe.student_training.learning_rate))
    train.fit(distiller, task, recipe.student_training, epochs, label, log, callbacks, distiller.candidates)


def _compress(teacher, student, task, recipe, stages, log):
    """Applies the recipe's steps in order to a copy of the distilled student."""
    model = keras.models.clone_model(student)
    model.set_weights(student.get_weights())
    steps_per_epoch = math.ceil(
        len(task.train_user) * (1 + recipe.data.negatives_per_positive) / recipe.student_training.batch_size
    )
    done: list[str] = []
    facts = []
    for step_config in recipe.compress:
        step = compress.get(step_config.name)
        params = step.resolve(step_config.params)
        ctx = compress.StepContext(steps_per_epoch, step_config.finetune_epochs, tuple(done))
        log(f"[compress] {step.name} {params}")
        t0 = time.perf_counter()
        trainable = step.apply(model, params, ctx)
        if step_config.finetune_epochs:
            _distill(teacher, trainable, task, recipe, step_config.finetune_epochs, step.name, log,
                     step.callbacks(params, ctx))
        model = step.finalize(trainable, params)
        done.append(step.name)
        stage = _stage(f"+ {step.name}", model, task, t0, log)
        stage.facts = {"params": params, **step.describe(model)}
        stages.append(stage)
        facts.append({"step": step.name, **stage.facts})
    return model, facts


def _stage(name, model, task, t0, log) -> Stage:
    metrics = train.evaluate(model, task)
    log(f"  {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return Stage(name, metrics, int(model.count_params()), round(time.perf_counter() - t0, 1))


def _parity_rows(task: RankingTask) -> dict[str, np.ndarray]:
    n = min(PARITY_GROUPS, len(task.candidates)) * task.candidates.shape[1]
    return {name: values[:n] for name, values in task.ranking_eval().items()}


def _export(name, model, mode, out, calibration, parity_rows, task, produced_by, stage, log) -> dict:
    t0 = time.perf_counter()
    path = out / f"{name}.tflite"
    io.write_bytes(path, tflite.convert(model, mode, calibration if mode == "int8" else None))
    check = parity.compare(
        train.predict_logits(model, parity_rows),
        parity.tflite_logits(path, parity_rows),
        candidates_per_user=task.candidates.shape[1],
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
