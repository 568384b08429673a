"""`edgerec build`: interactions -> bundle (teacher, students, int8 artifact, eval set, bench, report)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import click

from device_bench import bundle, table
from edgerec.cli import training_stack
from edgerec.cli.errors import UserError, check_writable, resumable
from edgerec.cli.recipe_options import recipe_options


@click.command()
@recipe_options
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
@click.option("--target", default=None,
              help="Search for the smallest int8 student meeting every clause on a validation split, e.g. "
              "'auc>=0.999*teacher,ndcg@10>=0.99*teacher' (>= or <=; a number or FACTOR*teacher). "
              f"Replaces the recipe's compression chain by the one found; see {bundle.SEARCH_MD} in the bundle.")
@click.option("--search-trials", default=None,
              help="With --target: trials the search may spend: fine-tuned chains, and one per student a wider "
              "student width trains (2 with one distillation setting; sensitivity probes are extra). [default: 12]")
@click.option("--student-widths", default=None,
              help="With --target: student widths to search, as multipliers of the recipe student's embedding and "
              "hidden sizes (capped by the teacher's), e.g. 1,2,3; 1 is always searched. "
              "[default: 1,2,3, as many as --search-trials covers]")
def build(recipe_name: str, overrides: tuple[str, ...], data_path: Path | None, out: Path, force: bool,
          resume: bool, dump_recipe: bool, target: str | None, search_trials: str | None,
          student_widths: str | None) -> None:
    """Train teacher and student, distil, compress, convert, and benchmark: one bundle."""
    training_stack.require("build")
    import yaml

    from edgerec.recipe import load
    from device_bench import metrics
    from edgerec.search import search as search_mod
    from edgerec.search import target as target_mod
    from edgerec.search import widths as widths_mod

    recipe = load(recipe_name, overrides)
    if search_trials is not None and target is None:
        raise UserError("--search-trials: only with --target (a plain build runs the recipe's chain)")
    if student_widths is not None and target is None:
        raise UserError("--student-widths: only with --target (a plain build trains the recipe's student)")
    trials = search_mod.DEFAULT_TRIALS if search_trials is None else _positive(search_trials, "--search-trials")
    multipliers = None if student_widths is None else widths_mod.parse(student_widths)
    if target is not None:
        target_mod.parse(target, metrics.keys())
        widths_mod.plan(recipe, multipliers, trials)
    if dump_recipe:
        click.echo(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
        return
    if data_path is not None and not data_path.exists():
        raise UserError(f"--data: {data_path}: no such file")
    check_writable(out)

    again = ["edgerec", "build", "--recipe", recipe_name, *(f"--set={o}" for o in overrides),
             *(["--data", str(data_path)] if data_path is not None else []), "--out", str(out), "--resume"]
    for flag, value in (("--target", target), ("--search-trials", search_trials), ("--student-widths", student_widths)):
        again += [flag, value] if value is not None else []
    with resumable(again):  # the checkpoints of finished stages are intact: --resume skips them
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the log
        from edgerec import pipeline  # imports TensorFlow: only now
        from edgerec._keras import tf

        tf.get_logger().setLevel("ERROR")
        # The converter calibrates with TensorFlow's own deprecated interpreter and says so on every call.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"tensorflow\.lite")

        manifest = pipeline.run(recipe, out, data=data_path, force=force, resume=resume,
                                log=lambda m: click.echo(m, err=True), target=target, search_trials=trials,
                                student_widths=multipliers)
    if "search" in manifest:
        searched = manifest["search"]
        click.echo(f"search: {searched['note']}: {searched['chain']} on student width "
                   f"{widths_mod.describe(searched['width'])}; see {out / bundle.SEARCH_MD}")
    bench = out / bundle.BENCH
    if bench.is_file():  # every build benches its artifacts; the closing table is what it measured
        rows = json.loads(bench.read_text())["rows"]
        click.echo(table.summary(rows, baseline=bundle.artifact_file(bundle.TEACHER)))
    click.echo(f"bundle written to {out}; see {out / bundle.REPORT}")


def _positive(text: str, flag: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise UserError(f"{flag}: expected an integer >= 1. Received: {text!r}")
    return int(text)

