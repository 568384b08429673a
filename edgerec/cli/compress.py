"""`edgerec compress --sensitivity`: per step, layer and setting, the metric drop and the bytes saved."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import click

from edgerec.cli import training_stack
from edgerec.cli.errors import UserError, check_writable
from edgerec.cli.recipe_options import recipe_options


@click.command()
@click.option("--sensitivity", is_flag=True,
              help="Compress one layer at a time with each step's candidate settings and print the metric drop and "
              "bytes saved. (Required: compressing a whole model runs inside `edgerec build`.)")
@recipe_options
@click.option("--data", "data_path", type=click.Path(path_type=Path), default=None,
              help="A folder from `edgerec data prepare`, or an interactions file. Default: the built-in synthetic dataset.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("out/sensitivity"), show_default=True,
              help="Folder for sensitivity.json (every probe) and sensitivity.md (the table).")
@click.option("--steps", default=None,
              help="Comma-separated step names, and keep_float for the per-layer precision probe (one dense layer "
              "in float32). Default: every registered step with candidate settings, and keep_float.")
@click.option("--finetune-epochs", default="0", show_default=True,
              help="Fine-tuning epochs per probe under the teacher; 0 is the quick probe (calibration only).")
@click.option("--force", is_flag=True, help="Overwrite a sensitivity analysis already in --out.")
def compress(sensitivity: bool, recipe_name: str, overrides: tuple[str, ...], data_path: Path | None, out: Path,
             steps: str | None, finetune_epochs: str, force: bool) -> None:
    """Sensitivity of the distilled student to each compression step, one layer at a time."""
    training_stack.require("compress")
    from edgerec.recipe import load

    if not sensitivity:
        raise UserError("edgerec compress: give --sensitivity (compressing a whole model runs inside `edgerec build`)")
    if not finetune_epochs.strip().isdigit():
        raise UserError(f"--finetune-epochs: expected an integer >= 0. Received: {finetune_epochs!r}")
    recipe = load(recipe_name, overrides)
    if data_path is not None and not data_path.exists():
        raise UserError(f"--data: {data_path}: no such file")
    check_writable(out)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from edgerec._keras import tf  # imports TensorFlow: only now

    tf.get_logger().setLevel("ERROR")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"tensorflow\.lite")
    from edgerec.report import sensitivity as sensitivity_report
    from edgerec.search import sensitivity as sweep

    step_names = sweep.parse_steps(steps)
    result = sweep.run(recipe, out, data_path, step_names, int(finetune_epochs), force=force,
                       log=lambda m: click.echo(m, err=True))
    click.echo(f"Validation split ({result['validation']}); {sensitivity_report.finetune_note(result['finetune_epochs'])}.")
    click.echo(sensitivity_report.table(result))
    click.echo(f"sensitivity written to {out}; see {out / 'sensitivity.md'}")
