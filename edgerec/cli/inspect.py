"""`edgerec inspect`: ops, dtypes and bytes per tensor of a .tflite (no TensorFlow needed)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgerec.cli.errors import UserError


@click.command(name="inspect")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--top", default=10, show_default=True, type=click.IntRange(min=1), help="Largest tensors to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the full inspection as JSON.")
def inspect_command(path: Path, top: int, as_json: bool) -> None:
    """Where the bytes of a .tflite are (embedding tables vs dense vs other) and whether it is all int8."""
    from converters.inspect import inspect, summary

    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        result = inspect(path)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else summary(result, top))
