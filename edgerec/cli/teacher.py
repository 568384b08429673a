"""`edgerec teacher`: the recipe's teacher trained on a streamed, sharded log, on one process or several workers."""

from __future__ import annotations

import os
from pathlib import Path

import click

from edgerec import cluster
from edgerec.cli import training_stack
from edgerec.cli.errors import UserError, check_writable, resumable
from edgerec.cli.recipe_options import recipe_options


@click.command()
@recipe_options
@click.option("--data", "data_path", type=click.Path(path_type=Path), required=True,
              help="A prepared interactions folder, best written with `edgerec data prepare --shard-rows N`: its "
              "log is streamed shard by shard, never loaded whole.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("out/teacher"), show_default=True,
              help="Folder for teacher.weights.npz and teacher.json (on a cluster: one folder all workers share).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Train exactly this many steps instead of the recipe's teacher_training epochs: equal passes "
              "of at most an epoch, all of them (no early stop), the best on validation kept.")
@click.option("--workers", default=None,
              help="Every worker's host:port, comma-separated, the same on each worker, e.g. "
              "10.0.0.5:2222,10.0.0.6:2222; training runs under MultiWorkerMirroredStrategy. Without it, "
              "TF_CONFIG (if set) describes the cluster.")
@click.option("--worker-index", type=int, default=None, help="With --workers: which of them this process is (0: the chief).")
@click.option("--backup-steps", type=click.IntRange(min=1), default=cluster.BACKUP_STEPS, show_default=True,
              help="Write the backup --resume continues from every this many steps.")
@click.option("--force", is_flag=True, help="Start over when --out holds a teacher run.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run in --out from its last backup (every worker, after any of them died).")
def teacher(recipe_name: str, overrides: tuple[str, ...], data_path: Path, out: Path, steps: int | None,
            workers: str | None, worker_index: int | None, backup_steps: int, force: bool, resume: bool) -> None:
    """Train the recipe's teacher on a log streamed from Parquet shards (one machine or a cluster)."""
    training_stack.require("teacher")
    from edgerec.recipe import load

    recipe = load(recipe_name, overrides)
    worker = cluster.resolve(workers, worker_index)
    if not data_path.exists():
        raise UserError(f"--data: {data_path}: no such folder")
    check_writable(out)
    again = ["edgerec", "teacher", "--recipe", recipe_name, *(f"--set={o}" for o in overrides),
             "--data", str(data_path), "--out", str(out), "--resume"]
    again += ["--steps", str(steps)] if steps is not None else []
    again += ["--backup-steps", str(backup_steps)]
    again += ["--workers", workers, "--worker-index", str(worker_index)] if workers else []
    with resumable(again):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from edgerec import streamed_teacher

        streamed_teacher.run(recipe, data_path, out, worker, steps=steps, resume=resume, force=force,
                             backup_steps=backup_steps,
                             log=lambda m: click.echo(m, err=True))
