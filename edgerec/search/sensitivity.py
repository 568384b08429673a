"""`edgerec compress --sensitivity`: one step, on one layer, at one setting at a time.

For every registered step (or those asked for) with search candidates, every layer the step can
compress in the distilled student, and every candidate setting, the step is applied to that
layer alone, the model converted to int8, and compared with the uncompressed int8 student on the
validation split: the metric drop (positive = worse; for LogLoss a rise) and the bytes saved.
By default no step is fine-tuned (the usual quick probe): a step then only calibrates (see
`stages.calibrate`), so the drop is an upper bound of what fine-tuning would leave.

A step without a `layers` parameter is probed once per setting on the whole model.

Precision is probed the same way: `keep_float` (in `--steps`, and by default) converts the
uncompressed student with one dense layer at a time kept in float32 (the recipe's
`export.keep_float` mechanism), so its row says what int8 costs in that layer and how many bytes
float costs there. Its "drop" is negative where float is more accurate.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

from device_bench import metrics as metric_table
from device_bench.errors import EdgerecError
from edgerec import io
from edgerec.recipe import Recipe, StepConfig
from edgerec.report import sensitivity as sensitivity_report
from edgerec.search import PRECISION, WHOLE_MODEL

Log = Callable[[str], None]


class SensitivityError(EdgerecError, ValueError):
    """Flags the sweep cannot run with; the message names the flag."""


def default_steps() -> list[str]:
    """Every registered step that declares candidates, in registration order, then the precision probe."""
    from edgerec import compress

    return [name for name, cls in compress.REGISTRY.items() if cls.candidates()] + [PRECISION]


def parse_steps(text: str | None) -> list[str]:
    """'low_rank,prune' -> names, checked against the registry (each must have candidates)."""
    from edgerec import compress
    from edgerec.compress.base import StepError

    if text is None:
        return default_steps()
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise SensitivityError(f"--steps: expected step names separated by commas. Received: {text!r}")
    for name in names:
        if name == PRECISION:
            continue
        try:
            step = compress.get(name)
        except StepError as exc:
            raise SensitivityError(f"--steps: {exc}") from None
        if not step.candidates():
            raise SensitivityError(f"--steps: step '{name}' declares no candidate settings to try. "
                                   f"Steps with candidates: {', '.join(default_steps())}")
    return list(dict.fromkeys(names))


def precision_layers(model, keep_float: Sequence[str]) -> list[str]:
    """The dense layers of `model` a precision probe may keep in float (not already kept by the recipe)."""
    from edgerec.compress.base import is_dense_like

    return [layer.name for layer in model.layers if is_dense_like(layer) and layer.name not in keep_float]


def probes(model, step_names: Sequence[str], finetune_epochs: int,
           keep_float: Sequence[str] = ()) -> list[tuple[str, str, dict, list[StepConfig], tuple[str, ...]]]:
    """(step, layer, setting, the one-step chain, layers kept in float) for every step x eligible
    layer x candidate; a precision probe is the empty chain with one layer kept in float."""
    from edgerec import compress

    out = []
    for name in step_names:
        if name == PRECISION:
            out += [(PRECISION, layer, {}, [], (layer,)) for layer in precision_layers(model, keep_float)]
            continue
        step = compress.get(name)
        layers = [layer.name for layer in model.layers if step.eligible(layer)] if "layers" in step.params else [None]
        for layer in layers:
            for setting in step.candidates():
                params = {**setting, "layers": [layer]} if layer else dict(setting)
                out.append((name, layer or WHOLE_MODEL, setting, [StepConfig(name, params, finetune_epochs)], ()))
    return out


def drops(reference: dict[str, float], metrics: dict[str, float]) -> dict[str, float]:
    """How much worse each metric is than `reference`: a fall for AUC/HR/NDCG, a rise for LogLoss."""
    worse = {k: (reference[k] - metrics[k]) if metric_table.get(k).higher_is_better else (metrics[k] - reference[k])
             for k in reference}
    return {k: round(v, metric_table.DECIMALS) for k, v in worse.items()}


def train_models(recipe: Recipe, data: Path | None, log: Log) -> tuple:
    """The task (with validation) and what the build's own training sequence trains on it (ensembles
    and assistants included, same seeds), without checkpoints: `(task, sequence.Trained)`."""
    from edgerec.sequence import CheckpointedRunner, train_supervised
    from edgerec.stages import check_fit, load_task

    task = load_task(recipe, data, log)
    check_fit(recipe, task)
    return task, train_supervised(recipe, task, CheckpointedRunner(None, task, recipe.seed, log), log)


def sweep(runner, step_names: Sequence[str], finetune_epochs: int, log: Log) -> dict:
    """Runs the baseline and every probe through `runner` (a TrialRunner); returns the result rows."""
    baseline = runner.run([], "baseline")
    if baseline["status"] != "ok":
        raise SensitivityError(f"the uncompressed int8 student failed: {baseline['status']}")
    chosen = probes(runner.student, step_names, finetune_epochs, runner.recipe.export.keep_float)
    log(f"[sensitivity] {len(chosen)} probes: {', '.join(step_names)} x eligible layers x candidates")
    rows = []
    for name, layer, setting, chain, keep_float in chosen:
        trial = runner.run(chain, "probe", keep_float)
        ok = trial["status"] == "ok"
        rows.append({
            "step": name, "layer": layer, "setting": setting, "trial": trial["id"], "status": trial["status"],
            "bytes": trial["bytes"], "bytes_saved": baseline["bytes"] - trial["bytes"] if ok else None,
            "p50_us": trial["p50_us"], "metrics": trial["metrics"],
            "drop": drops(baseline["metrics"], trial["metrics"]) if ok else None,
        })
    return {"baseline": baseline, "rows": rows}


def run(recipe: Recipe, out: Path, data: Path | None, step_names: Sequence[str], finetune_epochs: int,
        force: bool = False, log: Log = print) -> dict:
    """Trains teacher and student, sweeps, writes sensitivity.json and sensitivity.md into `out`."""
    out = Path(out)
    if (out / "sensitivity.json").exists() and not force:
        raise SensitivityError(f"--out: {out} already holds a sensitivity analysis (sensitivity.json); "
                               "use --force to overwrite it")
    from edgerec._keras import tf
    from edgerec.search.trial import TrialRunner

    started = time.perf_counter()
    tf.config.experimental.enable_op_determinism()
    task, trained = train_models(recipe, data, log)
    runner = TrialRunner(trained.teacher, trained.student, task, trained.students_recipe(recipe), log,
                         trained.supervisor, trained.teacher_logits)
    swept = sweep(runner, step_names, finetune_epochs, log)
    result = {
        "format": 1,
        "recipe": recipe.to_dict(),
        "data": task.data.source,
        "validation": task.validation.describe(),
        "metrics": list(task.metric_names),
        "finetune_epochs": finetune_epochs,
        "steps": list(step_names),
        "teacher_metrics": runner.teacher_metrics,
        **swept,
        "seconds": round(time.perf_counter() - started, 1),
    }
    io.write_json(out / "sensitivity.json", result)
    io.write_text(out / "sensitivity.md", sensitivity_report.markdown(result))
    return result

