"""The one training sequence: teacher (or ensemble) -> student alone -> assistants -> teacher logits
-> distilled students (one per distillation candidate) -> the student that ships (the best on validation).

`edgerec build`, `edgerec compress --sensitivity` and the `bench/` scripts call `train_supervised`,
and `edgerec distill --compare` its `train_teacher`, so a number any of them prints is the number a build would
print for the same recipe and seed. The stage runner beside it decides what happens around each
model stage: `CheckpointedRunner` seeds, trains, measures on the held-out data and (given a
`BuildState`) checkpoints or restores; `stages.seeded_runner` only seeds.

Every stage is keyed ("teacher", "teacher_0", "student_scratch", "assistant_0", "student", or
"student_c0", "student_c1", ... when the recipe gives several distillation candidates), and its
randomness is seeded from (recipe seed, key), so which stages a caller asks for does not change
the ones it gets, and each candidate is checkpointed and resumed on its own. `train_width` trains
the students again at another width (the search's wider students), with the same keys and seeds
under another checkpoint prefix.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

from device_bench.bundle import NO_TEACHER
from edgerec import train
from edgerec._keras import keras
from edgerec.checkpoints import BuildState
from edgerec.data.task import CtrTask, RankingTask
from edgerec.distill.teacher_logits import TeacherLogits
from edgerec.distill import transfer
from edgerec.distill.teachers import ensemble_teacher
from edgerec.early_stopping import Curve
from edgerec.models.zoo import build_ranker
from edgerec.recipe import DistillConfig, ModelConfig, Recipe, TrainConfig
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
    Without a `state` nothing is checkpointed (a sensitivity sweep, a bench script). `prefix` goes
    before each key in the checkpoint only, not in the seed (see `under`).
    """

    def __init__(self, state: BuildState | None, task: RankingTask | CtrTask, seed: int, log: Log, prefix: str = ""):
        self.state, self.task, self.seed, self.log, self.prefix = state, task, seed, log, prefix

    def under(self, prefix: str) -> CheckpointedRunner:
        """This runner with its stages checkpointed under `prefix` + key but seeded by the key alone: the
        search's wider students keep their own checkpoints, yet train exactly as a build whose recipe
        has that width trains its students."""
        return CheckpointedRunner(self.state, self.task, self.seed, self.log, prefix)

    def __call__(self, key: str, label: str, build: Callable[[], keras.Model],
                 train_fn: Callable[[keras.Model], tuple[keras.Model, Curve | None]],
                 restore: Callable[[keras.Model], keras.Model] = lambda model: model) -> tuple[keras.Model, Stage]:
        seed_stage(self.seed, key)
        model = build()
        saved = self.prefix + key
        record = self.state.done(saved) if self.state is not None else None
        if record is not None:
            model = restore(model)
            model.set_weights(self.state.weights(saved))
            self.log(f"[{saved}] restored from its checkpoint")
            return model, Stage(**record)
        t0 = time.perf_counter()
        model, curve = train_fn(model)
        stage = measure(label, model, self.task, t0, self.log)
        stage.curve = None if curve is None else curve.to_dict()
        if self.state is not None:
            self.state.save(saved, vars(stage), model.get_weights())
        return model, stage


@dataclass
class Candidate:
    """A student the sequence may ship: distilled at one setting of the recipe's (`setting`), or
    trained alone (`setting` None)."""

    setting: DistillConfig | None
    model: keras.Model
    stage: Stage

    @property
    def name(self) -> str:
        return NO_TEACHER if self.setting is None else self.setting.label()


@dataclass
class Trained:
    """What the sequence trained: the models every later stage starts from, and their Stage records.

    `supervisor` is the model the student (and every compression fine-tune) is distilled from:
    the teacher, or the last assistant of a chain; `teacher_logits` caches its logits per epoch.
    `student` is the student that ships (`choose_student`) and `chosen` its distillation setting
    (None: the student trained alone shipped); `candidates` records each candidate's validation score.
    `stages` are in report order (teacher members, teacher, student alone, assistants, distilled
    students); `teacher_stage` is the supervising teacher's (the ensemble's, for an ensemble).
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
    chosen: DistillConfig | None
    candidates: list[dict]

    def students_recipe(self, recipe: Recipe) -> Recipe:
        """How the shipped student fine-tunes from here (compression, search trials): under the
        teacher at the setting chosen on validation, or on labels alone when the teacher did not
        help (`without_teacher`)."""
        return without_teacher(recipe) if self.chosen is None else dataclasses.replace(recipe, distill=self.chosen)


def train_supervised(recipe: Recipe, task: RankingTask | CtrTask, runner: CheckpointedRunner, log: Log) -> Trained:
    """Trains the recipe's teacher (or ensemble), the student alone, the assistants and one distilled
    student per distillation candidate (`DistillConfig.candidates`), in the build's order, each as
    one stage of `runner`; then chooses the student that ships (`choose_student`)."""
    teacher, stages = train_teacher(recipe, task, runner, log)
    teacher_stage = stages[-1]
    alone = Candidate(None, *_student_alone(runner, task, recipe, recipe.student, log))
    stages.append(alone.stage)
    supervisor = teacher
    for index, config in enumerate(recipe.distill.assistants):
        supervisor, assistant_stage = distilled_stage(
            runner, supervisor, None, task, recipe, f"assistant_{index}", config, f"assistant {index} distilled", log
        )
        stages.append(assistant_stage)
    # computed once per epoch for every distilled student and compression stage (same supervisor; the
    # logits are raw, each loss applies its own temperature)
    teacher_logits = TeacherLogits(supervisor, task)
    distilled = _students_distilled(runner, supervisor, teacher_logits, task, recipe, recipe.student, log)
    stages += [candidate.stage for candidate in distilled]
    chosen, records = choose_student(alone, distilled, task, log)
    return Trained(teacher, teacher_stage, supervisor, teacher_logits, chosen.model, chosen.stage, stages,
                   alone.model, alone.stage, chosen.setting, records)


def train_width(trained: Trained, recipe: Recipe, task: RankingTask | CtrTask, runner: CheckpointedRunner,
                student: ModelConfig, log: Log) -> Trained:
    """The sequence's students again at another width: `student` trained alone and distilled (one per
    distillation candidate) from `trained`'s supervisor, with its teacher-logit cache, then
    `choose_student`; the teacher and the assistants are `trained`'s, not retrained.

    Keys and seeds are the build's own (`student_scratch`, `student` or `student_c0`, ...), so a
    build whose recipe has `student` as its student trains these very models; give a `runner`
    that checkpoints them elsewhere (`CheckpointedRunner.under`). The returned stages are
    `trained`'s, with these students' in place of its own.
    """
    alone = Candidate(None, *_student_alone(runner, task, recipe, student, log))
    distilled = _students_distilled(runner, trained.supervisor, trained.teacher_logits, task, recipe, student, log)
    # train_supervised appends the distilled students' stages last, one per candidate as here
    kept = trained.stages[:-len(distilled)]
    stages = [alone.stage if s is trained.scratch_stage else s for s in kept] + [c.stage for c in distilled]
    chosen, records = choose_student(alone, distilled, task, log)
    return Trained(trained.teacher, trained.teacher_stage, trained.supervisor, trained.teacher_logits, chosen.model,
                   chosen.stage, stages, alone.model, alone.stage, chosen.setting, records)


def _student_alone(runner, task, recipe: Recipe, student: ModelConfig, log: Log) -> tuple[keras.Model, Stage]:
    return train_alone_stage(runner, task, recipe, SCRATCH, student, recipe.student_training, log,
                             label="student trained alone (baseline)")


def _students_distilled(runner, supervisor, teacher_logits, task, recipe: Recipe, student: ModelConfig,
                        log: Log) -> list[Candidate]:
    """`student` distilled from `supervisor` at each of the recipe's distillation candidates, in recipe order."""
    settings = recipe.distill.candidates()
    distilled = []
    for key, setting in zip(_student_keys(len(settings)), settings):
        label = "student distilled" if len(settings) == 1 else f"student distilled ({setting.label()})"
        model, stage = distilled_stage(runner, supervisor, teacher_logits, task,
                                       dataclasses.replace(recipe, distill=setting), key, student, label, log)
        distilled.append(Candidate(setting, model, stage))
    return distilled


def _student_keys(count: int) -> list[str]:
    """Stage keys of `count` distilled candidates: "student" for one (as every earlier build), else one per index."""
    return [STUDENT] if count == 1 else [f"{STUDENT}_c{index}" for index in range(count)]


def choose_student(alone: Candidate, distilled: list[Candidate], task: RankingTask | CtrTask,
                   log: Log) -> tuple[Candidate, list[dict]]:
    """The candidate that ships: the best on validation among the distilled students and the student trained alone.

    Distillation at a fixed setting can hurt (a teacher over-confident on sparse data, say), so the
    student trained alone is always a candidate: by construction the shipped student is never
    worse than it on validation. A tie goes to the student trained alone (the teacher bought
    nothing), then to the earlier candidate. Returns the chosen candidate and one record per
    candidate (distilled first, in recipe order) for the manifest.
    """
    metric = train.selection_metric(task)
    scored = [(candidate, train.evaluate_on(candidate.model, task.validation)[metric])
              for candidate in (alone, *distilled)]  # max() keeps the first of equal scores: the tie-breaking order
    chosen = max(scored, key=lambda pair: pair[1])[0]
    records = [
        {"candidate": candidate.name, "settings": None if candidate.setting is None else candidate.setting.settings(),
         "stage": candidate.stage.name, "validation": {metric: score}, "chosen": candidate is chosen}
        for candidate, score in scored[1:] + scored[:1]
    ]
    shown = ", ".join(f"{record['candidate']} {record['validation'][metric]:.4f}" for record in records)
    what = "the student trained alone; compression fine-tunes on labels" if chosen is alone else chosen.name
    log(f"[choose] validation {metric}: {shown} -> ships {what}")
    return chosen, records


def without_teacher(recipe: Recipe) -> Recipe:
    """The recipe at its first distillation candidate with the teacher's weight at 0 (alpha 1: labels
    alone), for fine-tuning a student trained alone."""
    return dataclasses.replace(recipe, distill=dataclasses.replace(recipe.distill.candidates()[0], alpha=1.0))


def train_teacher(recipe: Recipe, task: RankingTask | CtrTask, runner: CheckpointedRunner,
                  log: Log) -> tuple[keras.Model, list[Stage]]:
    """The teacher, or the ensemble of `distill.ensemble` teachers (each from its own initial
    weights); returns it and the stages to report, the supervising model's last."""
    count = recipe.distill.ensemble
    reads = _text_read(recipe, task)
    if count == 1:
        teacher, stage = train_alone_stage(runner, task, recipe, TEACHER, recipe.teacher, recipe.teacher_training, log,
                                           label=TEACHER + reads)
        return teacher, [stage]
    members = [
        train_alone_stage(runner, task, recipe, f"{TEACHER}_{i}", recipe.teacher, recipe.teacher_training, log,
                          label=f"{TEACHER}_{i}{reads}", seed=recipe.seed + i)
        for i in range(count)
    ]
    log(f"[teacher] ensemble: the mean of {count} teachers' logits")
    ensemble = ensemble_teacher([model for model, _ in members], name=TEACHER)
    stage = measure(f"teacher (ensemble of {count}){reads}", ensemble, task, time.perf_counter(), log)
    stage.seconds = round(sum(member.seconds for _, member in members), 1)
    return ensemble, [member for _, member in members] + [stage]


def _text_read(recipe: Recipe, task: RankingTask | CtrTask) -> str:
    """" (item text: <encoder, or the vectors' file>)" for a teacher that reads item text, for its stage
    name; the whole description (weights' sha256, ...) is in the prepared data's schema.json."""
    if not recipe.teacher.item_text:
        return ""
    source = getattr(task.data, "item_vectors_from", "") or "none"
    return f" (item text: {source.split(': ', 1)[0]})"


def train_alone_stage(runner: CheckpointedRunner, task: RankingTask | CtrTask, recipe: Recipe, name: str,
                      model_config: ModelConfig, train_config: TrainConfig, log: Log, label: str | None = None,
                      seed: int | None = None) -> tuple[keras.Model, Stage]:
    """`model_config` built with the recipe seed (or `seed`) and trained on labels alone, as stage `name`."""
    return runner(
        name, label or name,
        lambda: build_ranker(task.features, model_config, name, seed=recipe.seed if seed is None else seed,
                             item_vectors=task.item_vectors),
        lambda model: (model, train_alone(model, task, model_config, train_config, name, log)),
    )


def distilled_stage(runner: CheckpointedRunner, supervisor: keras.Model, teacher_logits: TeacherLogits | None,
                    task: RankingTask | CtrTask, recipe: Recipe, name: str, model_config: ModelConfig, label: str,
                    log: Log) -> tuple[keras.Model, Stage]:
    """`model_config` trained under `supervisor` for the student's epochs (a student or an assistant),
    its item tables first set from the supervisor's with `distill.weight_transfer` (`distill.transfer`)."""

    def build():
        return build_ranker(task.features, model_config, name, seed=recipe.seed, item_vectors=task.item_vectors)

    def train_distilled(model):  # not run when the stage is restored from its checkpoint
        if recipe.distill.weight_transfer == "pca":
            for table, done in transfer.transfer(supervisor, model).items():
                log(f"[distill] {name}.{table} starts from the PCA of {supervisor.name}'s item representations "
                    f"({done['from_width']} -> {done['width']} wide, {done['variance_kept']:.1%} of their variance)")
        log(f"[distill] {name} under the frozen {supervisor.name}")
        curve = distill(supervisor, model, task, recipe, recipe.student_training.max_epochs, f"distill {name}", log,
                        teacher_logits=teacher_logits)
        return model, curve

    return runner(name, label, build, train_distilled)
