"""`edgerec build`: interactions -> bundle (teacher, students, int8 artifact, eval set, bench, report)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import click

from edgerec.cli.errors import UserError, check_writable


@click.command()
@click.option("--recipe", "recipe_name", default="default", show_default=True,
              help="Built-in recipe name (default, smoke) or a path to a YAML recipe.")
@click.option("--data", "data_path", type=click.Path(path_type=Path), default=None,
              help="A folder from `edgerec data prepare`, or an interactions file (.csv/.tsv/.parquet with user_id, "
              "item_id, timestamp). "
              "Default: the built-in synthetic dataset.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("out/bundle"), show_default=True,
              help="Bundle folder to write.")
@click.option("--force", is_flag=True, help="Overwrite a bundle (or an interrupted build) already in --out.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted build in --out: finished stages are restored from their checkpoints.")
@click.option("--dump-recipe", is_flag=True, help="Print the resolved recipe as YAML and exit.")
def build(recipe_name: str, data_path: Path | None, out: Path, force: bool, resume: bool, dump_recipe: bool) -> None:
    """Train teacher and student, distil, compress, convert, and benchmark: one bundle."""
    import yaml

    from edgerec.recipe import RecipeError, load

    try:
        recipe = load(recipe_name)
    except RecipeError as exc:
        raise UserError(str(exc)) from None
    if dump_recipe:
        click.echo(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
        return
    if data_path is not None and not data_path.exists():
        raise UserError(f"--data: {data_path}: no such file")
    check_writable(out)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the log
    from edgerec import pipeline  # imports TensorFlow: only now
    from edgerec._keras import tf

    tf.get_logger().setLevel("ERROR")
    # The converter calibrates with TensorFlow's own deprecated interpreter and says so on every call.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"tensorflow\.lite")
    from edgerec.checkpoints import ResumeError
    from edgerec.compress.base import StepError
    from edgerec.data.schema import DataError
    from edgerec.distill.losses import DistillError

    try:
        pipeline.run(recipe, out, data=data_path, force=force, resume=resume, log=lambda m: click.echo(m, err=True))
    except (DataError, StepError, DistillError, ResumeError, RecipeError, pipeline.BundleExistsError) as exc:
        raise UserError(str(exc)) from None
    click.echo(f"bundle written to {out}; see {out / 'report.md'}")

