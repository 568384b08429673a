"""Model stages shared by `edgerec build` (pipeline) and `edgerec distill --compare` (ablation).

One implementation of "train a ranker on labels alone", "train a student under a frozen teacher"
and "score a trained model", so that the ablation's arms are trained exactly as the build trains
its students, and their numbers can be compared with a bundle's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from edgerec import train
from edgerec._keras import keras
from edgerec.data import sources, synthetic
from edgerec.data.task import CtrTask, RankingTask, make_task
from edgerec.distill import losses
from edgerec.distill.distiller import Distiller
from edgerec.distill.teacher_logits import TeacherLogits
from edgerec.models.zoo import build_ranker, check_architecture
from edgerec.recipe import DistillMethod, ModelConfig, Recipe, TrainConfig, check_layer_names

Log = Callable[[str], None]


@dataclass
class Stage:
    """Keras-side results of one model of the build, for the manifest and the report."""

    name: str
    metrics: dict
    params: int | None = None
    seconds: float = 0.0
    facts: dict = field(default_factory=dict)


def load_task(recipe: Recipe, data: Path | None, log: Log) -> RankingTask | CtrTask:
    """The task (split, negatives, eval candidates) of `data`, or of the recipe's synthetic data, fixed by the recipe seed."""
    log(f"[data] {'synthetic ' + recipe.data.synthetic_size if data is None else data}")
    dataset = synthetic.generate(recipe.data.synthetic_size, recipe.seed) if data is None else sources.load(data)
    task = make_task(dataset, recipe.data, recipe.seed)
    log(f"  {task.summary()}")
    return task


def check_fit(recipe: Recipe, task: RankingTask | CtrTask, methods: Sequence[DistillMethod] | None = None) -> None:
    """An architecture or a distillation method the data cannot feed, or a layer name the models
    lack, fails now, not after minutes of training.

    Checks the recipe's methods, or `methods` (e.g. one ablation arm) when given.
    """
    chain = [("teacher", recipe.teacher)]
    chain += [(f"distill.assistants[{i}]", config) for i, config in enumerate(recipe.distill.assistants)]
    chain.append(("student", recipe.student))
    for role, config in chain:
        check_architecture(config, task.features, role)
    chosen = recipe.distill.methods if methods is None else methods
    if any(m.name == "ranking" for m in chosen) and not task.num_candidates:
        raise losses.DistillError(
            "distill.methods: 'ranking' distillation ranks each user's candidate items, and this dataset has no "
            "users (CTR rows); use 'logits', 'hint' or 'embedding'"
        )
    loss = losses.from_config(recipe.distill, chosen)
    if loss.reads_layers and recipe.distill.ensemble > 1:
        raise losses.DistillError(
            f"distill.ensemble: {recipe.distill.ensemble} teachers have no single layer for 'hint' or 'embedding' "
            "distillation to read; use 'logits' or 'ranking' with an ensemble"
        )
    if loss.reads_layers:  # every link of the chain reads the same layer names
        for (_, upper), (role, lower) in zip(chain, chain[1:]):
            losses.from_config(recipe.distill, chosen).build(
                build_ranker(task.features, upper, "teacher"), build_ranker(task.features, lower, role)
            )
    if recipe.export.keep_float:
        student = build_ranker(task.features, recipe.student, "student")
        layers = [layer.name for layer in student.layers if not isinstance(layer, keras.layers.InputLayer)]
        check_layer_names("export.keep_float", recipe.export.keep_float, layers, "student")


def train_alone(
    model: keras.Model, task: RankingTask | CtrTask, model_config: ModelConfig, train_config: TrainConfig, name: str, log: Log
) -> keras.Model:
    """Trains `model` on the labels only (binary cross-entropy), for `train_config.epochs` epochs."""
    log(f"[{name}] {model_config.architecture}, embedding {model_config.embedding_dim}, hidden {list(model_config.hidden)}, "
        f"cross layers {model_config.cross_layers}")
    train.compile_ranker(model, train_config)
    train.fit(model, task, train_config, train_config.epochs, name, log)
    return model


def distill(
    teacher: keras.Model,
    student: keras.Model,
    task: RankingTask | CtrTask,
    recipe: Recipe,
    epochs: int,
    label: str,
    log: Log,
    callbacks: list | None = None,
    methods: Sequence[DistillMethod] | None = None,
    teacher_logits: TeacherLogits | None = None,
) -> None:
    """Trains `student` under `teacher` with the recipe's distillation methods, or with `methods`.

    Give the same `teacher_logits` to every student trained under one teacher on one task, so
    the teacher's logits on each epoch are computed once (see `edgerec.distill.teacher_logits`).
    """
    loss = losses.from_config(recipe.distill, methods)
    distiller = Distiller(teacher, student, loss, recipe.distill.alpha, teacher_logits)
    distiller.compile(optimizer=keras.optimizers.Adam(recipe.student_training.learning_rate))
    batch = recipe.student_training.batch_size
    train.fit(distiller, task, recipe.student_training, epochs, label, log, callbacks,
              lambda epoch: distiller.epoch_data(task, epoch, batch))


def measure(name: str, model: keras.Model, task: RankingTask | CtrTask, t0: float, log: Log) -> Stage:
    """Scores `model` on the task's held-out data; `t0` is when its training started."""
    metrics = train.evaluate(model, task)
    log(f"  {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return Stage(name, metrics, int(model.count_params()), round(time.perf_counter() - t0, 1))
