"""One trial: a chain of compression steps applied to the distilled student, converted to int8, measured.

A trial records the student's width (`widths.Width.to_dict`: the search may try wider students
than the recipe's), so the front shows size against accuracy across widths.

The chain runs through `stages.compress`, the implementation the build uses (each step fine-tuned
under the frozen teacher for its `finetune_epochs`, or calibrated with 0), so a trial's model is the
one a build with that chain would ship. It is converted with the build's int8 mode and
representative data, and measured as shipped:
- bytes of the `.tflite` file;
- metrics of the TFLite interpreter's logits on the task's *validation* split (never the held-out
  data the bundle reports), with the metric code every other number in edgerec uses;
- p50 latency at batch 1 and 1 thread, by `device_bench`'s timing loop, in this process, on
  validation rows (the bench's real-rows feed). Other processes on the machine add noise; a
  trial's latency is a ranking aid, the bundle's `bench.json` is the measurement to quote.
"""

from __future__ import annotations

import copy
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from converters import parity, representative, tflite
from device_bench import inputs, latency, runtime
from device_bench.rows import OK
from edgerec import io, train
from edgerec.data.task import CtrTask, RankingTask
from edgerec.recipe import Recipe, StepConfig
from edgerec.search import widths
from edgerec.sequence import CheckpointedRunner, Trained, train_width
from edgerec.stages import compress, seeded_runner

Log = Callable[[str], None]


def step_dicts(steps: Sequence[StepConfig]) -> list[dict]:
    """A chain as plain dicts (JSON, recipe `compress:` entries); a key left at None (no
    `max_validation_drop`) is left out, as the manifest's recipe leaves it out."""
    return [{k: v for k, v in dataclasses.asdict(s).items() if v is not None} for s in steps]


def describe_chain(steps: Sequence[StepConfig], keep_float: Sequence[str] = ()) -> str:
    """'low_rank(rank=4 @ hidden_0) → prune(target_sparsity=0.5)'; 'int8 student' for no step;
    ' + float hidden_0' for layers the trial keeps in float32."""
    kept = f" + float {','.join(keep_float)}" if keep_float else ""
    if not steps:
        return "int8 student (no step)" + kept
    parts = []
    for s in steps:
        fields = [f"{k}={v}" for k, v in s.params.items() if k != "layers"]
        if s.params.get("layers"):
            fields.append(f"@ {','.join(s.params['layers'])}")
        parts.append(f"{s.name}({' '.join(fields + [f'ft {s.finetune_epochs}'])})")
    return " → ".join(parts) + kept


class TrialRunner:
    """Runs and records trials against one teacher, distilled student and task (with validation).

    Steps fine-tune under `supervisor` (default: the teacher; the last assistant when the recipe
    has a chain of them), with the build's `teacher_logits` cache when given; `teacher_metrics`
    are the teacher's on validation, what relative target clauses compare with.
    """

    def __init__(self, teacher, student, task: RankingTask | CtrTask, recipe: Recipe, log: Log,
                 supervisor=None, teacher_logits=None):
        if task.validation is None:
            raise ValueError("trials are scored on the validation split: load the task with validation=True")
        self.student, self.task, self.recipe, self.log = student, task, recipe, log
        self.supervisor, self.teacher_logits = supervisor or teacher, teacher_logits
        self.width = widths.Width(1, recipe.student, 0).to_dict()
        self.calibration = representative.dataset(task.representative_rows(recipe.representative_samples))
        self.trials: list[dict] = []
        self.teacher_metrics = train.evaluate_on(teacher, task.validation)

    def with_student(self, student, recipe: Recipe, width: widths.Width) -> TrialRunner:
        """A runner for another `student` (one of the search's widths, fine-tuned as `recipe` says) against
        the same teacher and supervisor, recording into the same trial list: trial ids stay unique."""
        other = copy.copy(self)
        other.student, other.recipe, other.width = student, recipe, width.to_dict()
        return other

    def run(self, steps: Sequence[StepConfig], kind: str, keep_float: Sequence[str] = ()) -> dict:
        """Applies, converts and measures `steps`; returns (and records) the trial.

        `keep_float` names layers the trial keeps in float32 next to the recipe's own
        `export.keep_float` (per-layer precision: QAT leaves them unannotated, the converter
        denylists their ops). A chain that fails (a step refusing a layer, a conversion error)
        becomes a trial with that status, never a crash of the whole search.
        """
        t0 = time.perf_counter()
        kept = tuple(dict.fromkeys([*self.recipe.export.keep_float, *keep_float]))
        recipe = dataclasses.replace(self.recipe, export=dataclasses.replace(self.recipe.export, keep_float=kept))
        trial = {"id": len(self.trials), "kind": kind, "width": self.width, "chain": describe_chain(steps, keep_float),
                 "steps": step_dicts(steps), "keep_float": list(kept),
                 "bytes": None, "p50_us": None, "metrics": None, "status": OK}
        self.log(f"[trial {trial['id']}] {trial['chain']}")
        try:
            compressed = compress(self.supervisor, self.student, self.task, recipe, steps, lambda m: None,
                                  seeded_runner(self.recipe.seed), self.teacher_logits)
            model, trial["facts"] = compressed.model, compressed.facts
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "trial.tflite"
                io.write_bytes(path, tflite.convert(model, "int8", self.calibration, kept))
                trial["bytes"] = path.stat().st_size
                trial["metrics"] = train.score_eval(lambda rows: parity.tflite_logits(path, rows), self.task.validation)
                trial["p50_us"] = self._p50(path)
        except Exception as exc:  # noqa: BLE001 - a failing chain is recorded as a trial, the search goes on
            trial["status"] = f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        trial["seconds"] = round(time.perf_counter() - t0, 1)
        self.log(f"  {self._summary(trial)}")
        self.trials.append(trial)
        return trial

    def _p50(self, path: Path) -> float:
        """p50 µs of one invoke at batch 1, 1 thread, by device_bench's loop on validation rows."""
        interpreter, _ = runtime.load(path, num_threads=1)
        specs = runtime.input_specs(interpreter)
        runtime.resize(interpreter, specs, 1)
        rows = self.task.validation.pointwise
        n = len(next(iter(rows.values())))
        pool = [inputs.take_rows(specs, rows, np.array([i % n])) for i in range(inputs.POOL_SIZE)]
        bench = self.recipe.bench
        return latency.measure(interpreter, pool, bench.warmup, bench.runs, bench.min_seconds)["p50"]

    @staticmethod
    def _summary(trial: dict) -> str:
        if trial["status"] != OK:
            return trial["status"]
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in trial["metrics"].items())
        return f"{trial['bytes'] / 1024:.1f} KiB, p50 {trial['p50_us']:.1f} µs, validation {metrics} ({trial['seconds']:.0f}s)"


class WidthRunners:
    """The search's `runner_for` (see `search.run`): for each width, its students and a TrialRunner on
    the one the build would ship, every runner recording into one trial list.

    The recipe's width is `trained` (the build's own students); a wider width's are trained by the
    build's sequence (`sequence.train_width`) through `stage_runner` under the width's checkpoint
    prefix, so a resumed build restores them. Trials fine-tune under the supervisor as the build
    does, on labels alone for a width whose student trained alone won (`students_recipe`).
    """

    def __init__(self, trained: Trained, recipe: Recipe, task: RankingTask | CtrTask, stage_runner: CheckpointedRunner,
                 log: Log):
        self.recipe, self.task, self.stage_runner, self.log = recipe, task, stage_runner, log
        self.trained = {1: trained}
        self.first: TrialRunner | None = None

    def students(self, width: widths.Width) -> Trained:
        """`width`'s students: trained (or restored) on first use."""
        if width.multiplier not in self.trained:
            self.trained[width.multiplier] = train_width(self.trained[1], self.recipe, self.task,
                                                         self.stage_runner.under(width.key), width.config, self.log)
        return self.trained[width.multiplier]

    def __call__(self, width: widths.Width) -> tuple[TrialRunner, list[dict] | None]:
        """`width`'s TrialRunner and its student choice (`Trained.candidates`)."""
        at = self.students(width)
        fine_tunes = dataclasses.replace(at.students_recipe(self.recipe), student=width.config)
        if self.first is None:
            self.first = TrialRunner(at.teacher, at.student, self.task, fine_tunes, self.log, at.supervisor,
                                     at.teacher_logits)
        return self.first.with_student(at.student, fine_tunes, width), at.candidates
