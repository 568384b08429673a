"""Model stages shared by `edgerec build` (pipeline) and `edgerec distill --compare` (ablation).

One implementation of "train a ranker on labels alone", "train a student under a frozen teacher"
and "score a trained model", so that the ablation's arms are trained exactly as the build trains
its students, and their numbers can be compared with a bundle's.
"""

from __future__ import annotations

import dataclasses
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from device_bench import metrics
from edgerec import compress as steps_registry
from edgerec import memory_estimate, popularity, train
from edgerec._keras import keras
from edgerec.compress.base import StepError
from edgerec.data import sources, synthetic
from edgerec.data.schema import Interactions, LabeledRows
from edgerec.data.task import CtrTask, RankingTask, make_task
from edgerec.distill import losses
from edgerec.distill import methods as distill_methods
from edgerec.distill.distiller import Distiller
from edgerec.distill.teacher_logits import TeacherLogits
from edgerec.early_stopping import Curve
from edgerec.models.zoo import build_ranker, check_architecture
from edgerec.recipe import DistillConfig, DistillMethod, ModelConfig, Recipe, StepConfig, TrainConfig, check_layer_names

Log = Callable[[str], None]
CALIBRATION_BATCHES = 4  # training batches a step with finetune_epochs 0 runs at learning rate 0


@dataclass
class Stage:
    """Keras-side results of one model of the build, for the manifest and the report."""

    name: str
    metrics: dict
    params: int | None = None
    seconds: float = 0.0
    facts: dict = field(default_factory=dict)
    curve: dict | None = None  # the learning curve (`early_stopping.Curve.to_dict`) of a trained stage


def load_task(recipe: Recipe, data: Path | None, log: Log) -> RankingTask | CtrTask:
    """The task (split, negatives, eval candidates) of `data`, or of the recipe's synthetic data, fixed by the recipe seed.

    It always carves a validation split out of the training data (see `data.task`): every stage
    that trains keeps its best epoch on it, and every choice among models is made on it.
    """
    log(f"[data] {'synthetic ' + recipe.data.synthetic_size if data is None else data}")
    dataset = synthetic.generate(recipe.data.synthetic_size, recipe.seed) if data is None else sources.load(data)
    task = make_task(_with_item_vectors(dataset, recipe, log), recipe.data, recipe.seed, validation=True)
    log(f"  {task.summary()}")
    if task.validation is not None:
        log(f"  validation carved from the training data: {task.validation.describe()}")
    return task


def _with_item_vectors(dataset: Interactions | LabeledRows, recipe: Recipe, log: Log) -> Interactions | LabeledRows:
    """The data with its item text encoded by `data.text_encoder` when a model reads item text and the
    data has text but no stored vectors (the synthetic presets); stored vectors are used as they are."""
    readers = [recipe.teacher, *recipe.distill.assistants]
    if not isinstance(dataset, Interactions):
        return dataset
    if not any(config.item_text for config in readers):
        if dataset.item_vectors is not None:  # prepared with text: the synthetic presets' own texts say nothing
            log(f"  the data has item text vectors ({dataset.item_vectors_from}) that no model reads: "
                "`--set teacher.item_text=true` lets the teacher read them (README, 'Item text')")
        return dataset
    if dataset.item_vectors is None and dataset.item_text is not None:
        from edgerec import text

        vectors = text.encode(dataset.item_text, recipe.data.text_encoder)
        dataset = dataclasses.replace(dataset, item_vectors=vectors, item_vectors_from=text.describe(recipe.data.text_encoder))
    if dataset.item_vectors is not None:
        log(f"  item text vectors: {dataset.item_vectors.shape[1]}-d, {dataset.item_vectors_from}")
    return dataset


def check_fit(recipe: Recipe, task: RankingTask | CtrTask, methods: Sequence[DistillMethod] | None = None) -> None:
    """An architecture or a distillation method the data cannot feed, or a layer name the models
    lack, fails now, not after minutes of training.

    Checks every distillation candidate's methods, or `methods` (e.g. one ablation arm) when given.
    First of all, the models must fit in memory (`memory_estimate`): the other checks build them.
    """
    memory_estimate.check(recipe, task)
    chain = [("teacher", recipe.teacher)]
    chain += [(f"distill.assistants[{i}]", config) for i, config in enumerate(recipe.distill.assistants)]
    chain.append(("student", recipe.student))
    for role, config in chain:
        check_architecture(config, task.features, role)
    settings = recipe.distill.candidates()
    if methods is not None:
        settings = (dataclasses.replace(recipe.distill.single("one ablation arm"), methods=tuple(methods)),)
    for setting in settings:
        _check_methods(setting, chain, task)
    if recipe.export.keep_float:
        student = build_ranker(task.features, recipe.student, "student")
        layers = [layer.name for layer in student.layers if not isinstance(layer, keras.layers.InputLayer)]
        check_layer_names("export.keep_float", recipe.export.keep_float, layers, "student")


def _check_methods(config: DistillConfig, chain: list[tuple[str, ModelConfig]], task: RankingTask | CtrTask) -> None:
    """One candidate's methods against the data and against each link of the chain (see `check_fit`)."""
    grouped = [m.name for m in config.methods if distill_methods.REGISTRY[m.name].group]
    if grouped and not task.num_candidates:
        raise losses.DistillError(
            f"distill.methods: '{grouped[0]}' distillation ranks each user's candidate items, and this dataset has no "
            "users (CTR rows); use 'logits', 'hint' or 'embedding'"
        )
    loss = losses.from_config(config)
    if loss.reads_layers and config.ensemble > 1:
        raise losses.DistillError(
            f"distill.ensemble: {config.ensemble} teachers have no single layer for 'hint' or 'embedding' "
            "distillation to read; use 'logits', 'ranking' or 'listwise' with an ensemble"
        )
    if loss.reads_layers:  # every link of the chain reads the same layer names
        for (_, upper), (role, lower) in zip(chain, chain[1:]):
            losses.from_config(config).build(
                build_ranker(task.features, upper, "teacher", item_vectors=task.item_vectors),
                build_ranker(task.features, lower, role, item_vectors=task.item_vectors),
            )


def check_steps(recipe: Recipe, task: RankingTask | CtrTask) -> None:
    """Applies the recipe's compression chain to an untrained student, so a bad parameter or a
    `layers` name the student lacks (or that its step cannot compress) fails before any training.

    Apply and finalize without fine-tuning take seconds; the first real failure would otherwise
    come after the teacher and both students trained.
    """
    model = build_ranker(task.features, recipe.student, "student")
    done: list[str] = []
    counts = task.id_counts
    for index, step_config in enumerate(recipe.compress):
        step = steps_registry.get(step_config.name)
        params = step.resolve(step_config.params)
        if step.fake_quant and step_config.max_validation_drop is not None:
            raise StepError(
                f"compress[{index}].max_validation_drop: '{step.name}' fake-quantizes for int8, and what it costs is the "
                "int8 conversion's, which student_int8 pays with or without it; give max_validation_drop to the "
                "steps before it"
            )
        ctx = steps_registry.StepContext(1, step_config.finetune_epochs, tuple(done), recipe.export.keep_float, counts)
        model = step.finalize(step.apply(model, params, ctx), params)
        done.append(step.name)


def train_alone(
    model: keras.Model, task: RankingTask | CtrTask, model_config: ModelConfig, train_config: TrainConfig, name: str, log: Log
) -> Curve:
    """Trains `model` on the labels only (binary cross-entropy), for up to `train_config.max_epochs`
    epochs, keeping its best epoch on validation; returns the learning curve."""
    log(f"[{name}] {model_config.architecture}, embedding {model_config.embedding_dim}, hidden {list(model_config.hidden)}, "
        f"cross layers {model_config.cross_layers}{', GMF branch' if model_config.gmf else ''}, "
        f"batch {train.batch_size(task, train_config)}")
    train.compile_ranker(model, train_config, task)
    return train.fit(model, task, train_config, train_config.max_epochs, name, log)


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
) -> Curve:
    """Trains `student` under `teacher` with the recipe's distillation setting (one candidate: see
    `DistillConfig.candidates`), its methods replaced by `methods` when given, for up to `epochs`
    epochs, keeping the student's best epoch on validation; returns the learning curve.

    Give the same `teacher_logits` to every student trained under one teacher on one task, so
    the teacher's logits on each epoch are computed once (see `edgerec.distill.teacher_logits`).
    """
    setting = recipe.distill.single("distilling one student")
    loss = losses.from_config(setting, methods)
    distiller = Distiller(teacher, student, loss, setting.alpha, teacher_logits)
    config = recipe.student_training
    distiller.compile(optimizer=train.optimizer(config, task))
    return train.fit(distiller, task, config, epochs, label, log, callbacks,
                     lambda epoch: distiller.epoch_data(task, epoch, train.batch_size(task, config)), scored=student)


def measure(name: str, model: keras.Model, task: RankingTask | CtrTask, t0: float, log: Log) -> Stage:
    """Scores `model` on the task's held-out data, and a ranking task's lists by the held-out item's
    popularity (`facts["by_popularity"]`, see `edgerec.popularity`); `t0` is when its training started."""
    labels, pointwise, ranking = train.held_out_logits(model, task)
    scores = metrics.score(labels, pointwise, ranking)
    log(f"  {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    facts = {}
    if ranking is not None:
        facts["by_popularity"] = popularity.by_group(ranking, task.holdout_item_counts())
    return Stage(name, scores, int(model.count_params()), round(time.perf_counter() - t0, 1), facts=facts)


def seed_stage(seed: int, key: str) -> None:
    """Seeds TensorFlow, numpy and Python from (recipe seed, stage key), so a stage's result does not
    depend on which stages ran before it in this process."""
    keras.utils.set_random_seed(zlib.crc32(f"{seed}/{key}".encode()))


class StageRunner(Protocol):
    """Runs one model stage: `build()` the model, `train_fn` it (which returns the trained model and its
    learning curve, or None); returns the model and its Stage record (or None when the caller does
    not measure stages). `restore` rebuilds a trained stage's model
    structure when its weights come from elsewhere (a checkpoint)."""

    def __call__(self, key: str, label: str, build: Callable, train_fn: Callable,
                 restore: Callable = ...) -> tuple[keras.Model, Stage | None]: ...


def seeded_runner(seed: int) -> StageRunner:
    """A StageRunner that seeds each stage like the build does, and neither measures nor checkpoints."""

    def run(key, label, build, train_fn, restore=None):
        seed_stage(seed, key)
        model, _ = train_fn(build())
        return model, None

    return run


@dataclass
class Compressed:
    """A compression chain's result: the final model, each step's facts and the Stage records the
    runner made, plus the model (and its facts and stage) as it was before the first
    fake-quantizing step (QAT), which the non-int8 export modes convert.

    A step dropped for its validation cost (`StepConfig.max_validation_drop`) keeps its facts
    (with `dropped`) and its stage (named "+ step (dropped)"), so the manifest and the report show
    what it would have cost; the model goes on from the one before it.
    A stage of None means "the uncompressed student's": no step had run yet at that point (or
    the runner does not measure stages).
    """

    model: keras.Model
    facts: list[dict]
    stages: list[Stage]
    float_model: keras.Model
    float_facts: list[dict]
    float_stage: Stage | None

    @property
    def stage(self) -> Stage | None:
        """The final model's stage (None: no step was kept, the student's own)."""
        return _last_kept(self.stages)


def _last_kept(stages: Sequence[Stage]) -> Stage | None:
    """The last stage of a step the chain kept (see `Compressed`), or None."""
    kept = [stage for stage in stages if "dropped" not in stage.facts]
    return kept[-1] if kept else None


def compress(
    teacher: keras.Model,
    student: keras.Model,
    task: RankingTask | CtrTask,
    recipe: Recipe,
    steps: Sequence[StepConfig],
    log: Log,
    run_stage: StageRunner,
    teacher_logits: TeacherLogits | None = None,
) -> Compressed:
    """Applies `steps` in order to a copy of the distilled `student`; the one implementation the
    build, the search's trials and the bench scripts share.

    Each step is applied, fine-tuned under the frozen teacher for its `finetune_epochs` (or, with
    0, calibrated: see `calibrate`) and finalized, as one stage of `run_stage`; a fine-tune must
    beat the same step without one on validation, or is undone (`_untuned`). A step with a
    `max_validation_drop` is then scored on the validation split next to the model before it,
    and dropped when it costs more than that fraction of the metric (see `_validation_cost`).
    """
    model = keras.models.clone_model(student)
    model.set_weights(student.get_weights())
    steps_per_epoch = train.steps_per_epoch(task, recipe.student_training)
    done: list[str] = []
    counts = task.id_counts
    facts, stages = [], []
    before_quant = None
    for index, step_config in enumerate(steps):
        step = steps_registry.get(step_config.name)
        params = step.resolve(step_config.params)
        ctx = steps_registry.StepContext(steps_per_epoch, step_config.finetune_epochs, tuple(done), recipe.export.keep_float,
                                         counts)
        if (step.fake_quant or step.int8_only) and before_quant is None:
            before_quant = (model, list(facts), _last_kept(stages))
        previous = model
        # scored and copied before the step: a step may wrap the very layers of the model it is given
        # (TFMOT's pruning wrapper does), and its fine-tune then trains them
        budgeted = step_config.max_validation_drop is not None and task.validation is not None
        before = (train.evaluate_on(previous, task.validation)[train.selection_metric(task)],
                  previous.get_weights()) if budgeted else None

        def finetune(trainable, step=step, params=params, ctx=ctx, epochs=step_config.finetune_epochs,
                     tuning=_finetune_recipe(recipe, step_config), previous=previous):
            log(f"[compress] {step.name} {params}")
            curve = None
            batch = train.batch_size(task, recipe.student_training)
            if epochs:
                untuned = _untuned(previous, step, params, ctx, task, batch) if task.validation is not None else None
                curve = distill(teacher, trainable, task, tuning, epochs, step.name, log, step.callbacks(params, ctx),
                                teacher_logits=teacher_logits)
                if untuned is not None:
                    _keep_untuned_if_better(trainable, untuned, curve, step.name, log)
            else:
                calibrate(trainable, task, batch, step.callbacks(params, ctx))
            return step.finalize(trainable, params), curve

        model, stage = run_stage(
            f"compress/{index}_{step.name}", f"+ {step.name}",
            lambda previous=model, step=step, params=params, ctx=ctx: step.apply(previous, params, ctx),
            finetune, restore=lambda trainable, step=step, params=params: step.finalize(trainable, params),
        )
        step_facts = {"params": params, **step.describe(model)}
        if before is not None:
            cost = _validation_cost(before[0], model, task, step_config.max_validation_drop)
            step_facts["validation"] = cost
            if cost["dropped"]:
                step_facts["dropped"] = (f"validation {cost['metric']} {cost['before']:.4f} -> {cost['after']:.4f}, "
                                         f"more than max_validation_drop {step_config.max_validation_drop} of it")
                log(f"[compress] {step.name} dropped: {step_facts['dropped']}; the chain goes on without it")
                previous.set_weights(before[1])
                model = previous
        if "dropped" not in step_facts:
            done.append(step.name)
        if stage is not None:
            stage.facts = {**stage.facts, **step_facts}
            if "dropped" in step_facts:
                stage.name = f"{stage.name} (dropped)"
            stages.append(stage)
        facts.append({"step": step.name, **step_facts})
    if before_quant is None:  # no fake-quantizing step: every mode converts the final model
        before_quant = (model, facts, _last_kept(stages))
    return Compressed(model, facts, stages, *before_quant)


def _validation_cost(score_before: float, after: keras.Model, task: RankingTask | CtrTask, max_drop: float) -> dict:
    """The selection metric on the validation split before and after a step, and whether the step
    lowers it by more than `max_drop` of its value before.

    Both models are scored on the same rows, so the comparison is paired: the noise of which users
    or clicks the split holds is shared by the two numbers.
    """
    monitor = train.selection_metric(task)
    score_after = train.evaluate_on(after, task.validation)[monitor]
    return {"metric": monitor, "before": round(score_before, 6), "after": round(score_after, 6),
            "dropped": bool(score_before - score_after > max_drop * abs(score_before))}


def _untuned(previous: keras.Model, step: steps_registry.CompressionStep, params: dict, ctx: steps_registry.StepContext,
             task: RankingTask | CtrTask, batch_size: int) -> tuple[keras.Model, float, float]:
    """The step applied without fine-tuning (as with `finetune_epochs: 0`: see `calibrate`) to a copy
    of `previous`, and its validation score: the "epoch 0" a fine-tune must beat.

    On click logs an embedding-heavy model overfits from its second pass over the data (its best
    epoch is the first or second), so one more epoch, even at a tenth of the rate, can cost more
    than the step itself: measured on the million-row click preset, 0.006 AUC per fine-tune.
    Returns (trainable model, score, seconds).
    """
    start = time.perf_counter()
    copy = keras.models.clone_model(previous)
    copy.set_weights(previous.get_weights())
    untuned_ctx = dataclasses.replace(ctx, finetune_epochs=0)
    trainable = step.apply(copy, params, untuned_ctx)
    calibrate(trainable, task, batch_size, step.callbacks(params, untuned_ctx))
    score = train.evaluate_on(trainable, task.validation)[train.selection_metric(task)]
    return trainable, score, time.perf_counter() - start


def _keep_untuned_if_better(trainable: keras.Model, untuned: tuple[keras.Model, float, float], curve: Curve,
                            label: str, log: Log) -> None:
    """Records the untuned step as epoch 0 of `curve`, and keeps its weights in `trainable` when no
    fine-tuned epoch beat it on validation (a tie keeps the untuned one: less moved for the same score)."""
    model, score, seconds = untuned
    curve.epochs.insert(0, {"epoch": 0, "loss": None, "validation": float(score), "seconds": round(seconds, 1)})
    best = max(e["validation"] for e in curve.epochs[1:])
    if score >= best:
        trainable.set_weights(model.get_weights())
        curve.best_epoch = 0
        log(f"  {label}: kept epoch 0, the step without fine-tuning (validation {curve.monitor} {score:.4f}, "
            f"fine-tuned {best:.4f})")


def _finetune_recipe(recipe: Recipe, step: StepConfig) -> Recipe:
    """`recipe` with the student's learning rate scaled by the step's `finetune_lr_scale`."""
    if step.finetune_lr_scale == 1.0:
        return recipe
    training = recipe.student_training
    return dataclasses.replace(recipe, student_training=dataclasses.replace(
        training, learning_rate=training.learning_rate * step.finetune_lr_scale))


def calibrate(trainable: keras.Model, task: RankingTask | CtrTask, batch_size: int, callbacks: list) -> None:
    """A step with no fine-tuning still runs CALIBRATION_BATCHES training batches at learning rate 0.

    Some steps compute their effect during training, not in `apply`: TFMOT prunes (updates its
    masks) in the training call, and QAT collects activation ranges there. Without a training call
    a 0-epoch prune would leave the model dense. Learning rate 0 leaves every weight as it was, so
    this is one-shot magnitude pruning / range collection done by TFMOT's own machinery.
    """
    features, labels = task.train_epoch(0)
    n = min(len(labels), CALIBRATION_BATCHES * batch_size)
    trainable.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0),
                      loss=keras.losses.BinaryCrossentropy(from_logits=True))
    trainable.fit({k: v[:n] for k, v in features.items()}, np.asarray(labels[:n]), batch_size=batch_size,
                  epochs=1, verbose=0, callbacks=callbacks)
