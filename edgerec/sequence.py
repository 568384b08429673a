"""The one training sequence: teacher (or ensemble) -> student alone -> assistants -> teacher logits
-> distilled student -> the student that ships (the better of the two on validation).

`edgerec build`, `edgerec compress --sensitivity` and the `bench/` scripts call `train_supervised`,
and `edgerec distill --compare` its `train_teacher`, so a number any of them prints is the number a build would
print for the same recipe and seed. The stage runner beside it decides what happens around each
model stage: `CheckpointedRunner` seeds, trains, measures on the held-out data and (given a
`BuildState`) checkpoints or restores; `stages.seeded_runner` only seeds.

Every stage is keyed ("teacher", "teacher_0", "student_scratch", "assistant_0", "student"), and
its randomness is seeded from (recipe seed, key), so which stages a caller asks for does not
change the ones it gets.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

from edgerec import train
from edgerec._keras import keras
from edgerec.checkpoints import BuildState
from edgerec.data.task import CtrTask, RankingTask
from edgerec.distill.teacher_logits import TeacherLogits
from edgerec.distill.teachers import ensemble_teacher
from edgerec.early_stopping import Curve
from edgerec.models.zoo import build_ranker
from edgerec.recipe import ModelConfig, Recipe, TrainConfig
from edgerec.stages import Stage, distill, measure, seed_stage, train_alone

Log = Callable[[str], None]
TEACHER = "teacher"
SCRATCH = "student_scratch"
STUDENT = "student"


class CheckpointedRunner:
    """Runs one model stage and measures it, or restores it when an earlier attempt of this build finished it.

    Every stage seeds TensorFlow, numpy and Python from (recipe seed, stage key) before it
    starts, so its result does not depend on which stages ran before it in this process: a
    stage redone after `--resume` gives what it would have given in an uninterrupted build.
    Without a `state` nothing is checkpointed (a sensitivity sweep, a bench script).
    """

    def __init__(self, state: BuildState | None, task: RankingTask | CtrTask, seed: int, log: Log):
        self.state, self.task, self.seed, self.log = state, task, seed, log

    def __call__(self, key: str, label: str, build: Callable[[], keras.Model],
                 train_fn: Callable[[keras.Model], tuple[keras.Model, Curve | None]],
                 restore: Callable[[keras.Model], keras.Model] = lambda model: model) -> tuple[keras.Model, Stage]:
        seed_stage(self.seed, key)
        model = build()
        record = self.state.done(key) if self.state is not None else None
        if record is not None:
            model = restore(model)
            model.set_weights(self.state.weights(key))
            self.log(f"[{key}] restored from its checkpoint")
            return model, Stage(**record)
        t0 = time.perf_counter()
        model, curve = train_fn(model)
        stage = measure(label, model, self.task, t0, self.log)
        stage.curve = None if curve is None else curve.to_dict()
        if self.state is not None:
            self.state.save(key, vars(stage), model.get_weights())
        return model, stage


@dataclass
class Trained:
    """What the sequence trained: the models every later stage starts from, and their Stage records.

    `supervisor` is the model the student (and every compression fine-tune) is distilled from:
    the teacher, or the last assistant of a chain; `teacher_logits` caches its logits per epoch.
    `stages` are in report order (teacher members, teacher, student alone, assistants, student);
    `teacher_stage` is the supervising teacher's (the ensemble's, for an ensemble).
    """

    teacher: keras.Model
    teacher_stage: Stage
    supervisor: keras.Model
    teacher_logits: TeacherLogits
    student: keras.Model
    student_stage: Stage
    stages: list[Stage]
    scratch: keras.Model
    scratch_stage: Stage
    teacher_helps: bool = True  # False when the student trained alone won on validation (see `choose_student`)
    candidates: list[dict] | None = None  # each student candidate's validation score

    def students_recipe(self, recipe: Recipe) -> Recipe:
        """How the shipped student fine-tunes from here (compression, search trials): under the
        teacher, or on labels alone when the teacher did not help (`without_teacher`)."""
        return recipe if self.teacher_helps else without_teacher(recipe)


def train_supervised(recipe: Recipe, task: RankingTask | CtrTask, runner: CheckpointedRunner, log: Log) -> Trained:
    """Trains the recipe's teacher (or ensemble), the student alone, the assistants and the distilled
    student, in the build's order, each as one stage of `runner`; then chooses the student that
    ships (`choose_student`)."""
    teacher, stages = train_teacher(recipe, task, runner, log)
    teacher_stage = stages[-1]
    scratch_model, scratch_stage = train_alone_stage(
        runner, task, recipe, SCRATCH, recipe.student, recipe.student_training, log,
        label="student trained alone (baseline)",
    )
    stages.append(scratch_stage)
    supervisor = teacher
    for index, config in enumerate(recipe.distill.assistants):
        supervisor, assistant_stage = distilled_stage(
            runner, supervisor, None, task, recipe, f"assistant_{index}", config, f"assistant {index} distilled", log
        )
        stages.append(assistant_stage)
    # computed once per epoch for the student and every compression stage (same supervisor)
    teacher_logits = TeacherLogits(supervisor, task)
    student, student_stage = distilled_stage(
        runner, supervisor, teacher_logits, task, recipe, STUDENT, recipe.student, "student distilled", log
    )
    stages.append(student_stage)
    trained = Trained(teacher, teacher_stage, supervisor, teacher_logits, student, student_stage, stages,
                      scratch_model, scratch_stage)
    return choose_student(trained, task, log)


def choose_student(trained: Trained, task: RankingTask | CtrTask, log: Log) -> Trained:
    """Ships the distilled student only when it beats the student trained alone on validation.

    Distillation at a fixed weight can hurt (a teacher over-confident on sparse data, say), so the
    student trained alone is always a candidate: by construction the shipped student is never
    worse than it on validation. A tie goes to the student trained alone (the teacher bought
    nothing). When it wins, compression fine-tunes on labels alone too (`without_teacher`).
    """
    metric = train.selection_metric(task)
    scores = {name: train.evaluate_on(model, task.validation)[metric]
              for name, model in (("distilled", trained.student), ("no teacher", trained.scratch))}
    helps = scores["distilled"] > scores["no teacher"]
    chosen = "distilled" if helps else "no teacher"
    trained.candidates = [{"candidate": name, "validation": {metric: value}, "chosen": name == chosen}
                          for name, value in scores.items()]
    log(f"[choose] validation {metric}: distilled {scores['distilled']:.4f}, no teacher {scores['no teacher']:.4f}"
        f" -> ships the {'distilled student' if helps else 'student trained alone; compression fine-tunes on labels'}")
    if not helps:
        trained.student, trained.student_stage = trained.scratch, trained.scratch_stage
    trained.teacher_helps = helps
    return trained


def without_teacher(recipe: Recipe) -> Recipe:
    """The recipe with the teacher's weight at 0 (alpha 1: labels alone), for fine-tuning a student trained alone."""
    return dataclasses.replace(recipe, distill=dataclasses.replace(recipe.distill, alpha=1.0))


def train_teacher(recipe: Recipe, task: RankingTask | CtrTask, runner: CheckpointedRunner,
                  log: Log) -> tuple[keras.Model, list[Stage]]:
    """The teacher, or the ensemble of `distill.ensemble` teachers (each from its own initial
    weights); returns it and the stages to report, the supervising model's last."""
    count = recipe.distill.ensemble
    if count == 1:
        teacher, stage = train_alone_stage(runner, task, recipe, TEACHER, recipe.teacher, recipe.teacher_training, log)
        return teacher, [stage]
    members = [
        train_alone_stage(runner, task, recipe, f"{TEACHER}_{i}", recipe.teacher, recipe.teacher_training, log,
                          seed=recipe.seed + i)
        for i in range(count)
    ]
    log(f"[teacher] ensemble: the mean of {count} teachers' logits")
    ensemble = ensemble_teacher([model for model, _ in members], name=TEACHER)
    stage = measure(f"teacher (ensemble of {count})", ensemble, task, time.perf_counter(), log)
    stage.seconds = round(sum(member.seconds for _, member in members), 1)
    return ensemble, [member for _, member in members] + [stage]


def train_alone_stage(runner: CheckpointedRunner, task: RankingTask | CtrTask, recipe: Recipe, name: str,
                      model_config: ModelConfig, train_config: TrainConfig, log: Log, label: str | None = None,
                      seed: int | None = None) -> tuple[keras.Model, Stage]:
    """`model_config` built with the recipe seed (or `seed`) and trained on labels alone, as stage `name`."""
    return runner(
        name, label or name,
        lambda: build_ranker(task.features, model_config, name, seed=recipe.seed if seed is None else seed),
        lambda model: (model, train_alone(model, task, model_config, train_config, name, log)),
    )


def distilled_stage(runner: CheckpointedRunner, supervisor: keras.Model, teacher_logits: TeacherLogits | None,
                    task: RankingTask | CtrTask, recipe: Recipe, name: str, model_config: ModelConfig, label: str,
                    log: Log) -> tuple[keras.Model, Stage]:
    """`model_config` trained under `supervisor` for the student's epochs (a student or an assistant)."""

    def train_distilled(model):
        log(f"[distill] {name} under the frozen {supervisor.name}")
        curve = distill(supervisor, model, task, recipe, recipe.student_training.max_epochs, f"distill {name}", log,
                        teacher_logits=teacher_logits)
        return model, curve

    return runner(
        name, label, lambda: build_ranker(task.features, model_config, name, seed=recipe.seed), train_distilled
    )
