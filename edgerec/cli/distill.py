"""`edgerec distill --compare`: the distillation ablation (scratch student vs each method, over seeds)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from device_bench import bundle
from edgerec.cli import training_stack
from edgerec.cli.errors import UserError, check_writable
from edgerec.cli.recipe_options import recipe_options
from edgerec.distill import methods as distill_methods


@click.command()
@click.option("--compare", is_flag=True,
              help="Train the student from scratch and with each method over several seeds; write the table. "
              "(Required: a single distillation runs inside `edgerec build`.)")
@recipe_options
@click.option("--data", "data_path", type=click.Path(path_type=Path), default=None,
              help="A folder from `edgerec data prepare`, or an interactions file. Default: the built-in synthetic dataset.")
@click.option("--methods", default=None,
              help="Comma-separated arms, e.g. logits,hint. Default: every method the data can feed "
              f"({', '.join(distill_methods.REGISTRY)}; no {' or '.join(distill_methods.group_methods())} on CTR rows).")
@click.option("--seeds", default="0,1,2", show_default=True, help="Comma-separated student seeds, one run per arm each.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("out/ablation"), show_default=True,
              help=f"Folder for {bundle.ABLATION_JSON} (every run) and {bundle.ABLATION_MD} (the table).")
@click.option("--force", is_flag=True, help="Overwrite an ablation already in --out.")
def distill(compare: bool, recipe_name: str, overrides: tuple[str, ...], data_path: Path | None, methods: str | None,
            seeds: str, out: Path, force: bool) -> None:
    """Compare distillation methods on the same data and budget, with mean ± std over seeds."""
    training_stack.require("distill")
    from edgerec import ablation
    from edgerec.recipe import load

    if not compare:
        raise UserError("edgerec distill: give --compare (a single distillation runs inside `edgerec build`)")
    recipe = load(recipe_name, overrides)
    chosen = None if methods is None else ablation.parse_methods(methods)
    seed_list = ablation.parse_seeds(seeds)
    if data_path is not None and not data_path.exists():
        raise UserError(f"--data: {data_path}: no such file")
    check_writable(out)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the log
    from edgerec._keras import tf  # imports TensorFlow: only now

    tf.get_logger().setLevel("ERROR")
    ablation.run(recipe, out, data=data_path, methods=chosen, seeds=seed_list, force=force,
                 log=lambda m: click.echo(m, err=True))
    click.echo(f"ablation written to {out}; see {out / bundle.ABLATION_MD}")
