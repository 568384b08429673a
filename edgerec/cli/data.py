"""`edgerec data prepare`: a raw source -> a prepared dataset folder for `edgerec build --data`."""

from __future__ import annotations

from pathlib import Path

import click

from edgerec.cli.errors import UserError


@click.group()
def data() -> None:
    """Prepare interaction data (nothing is downloaded: point at files you have)."""


@data.command()
@click.option("--source", type=click.Choice(["movielens", "csv", "parquet"]), required=True,
              help="movielens: an unpacked MovieLens 100K / 1M / latest folder; csv/parquet: an interactions file.")
@click.option("--path", "path", type=click.Path(path_type=Path), required=True, help="Folder or file to read.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Prepared dataset folder to write.")
@click.option("--min-rating", type=float, default=None, help="MovieLens: keep only ratings >= this value.")
def prepare(source: str, path: Path, out: Path, min_rating: float | None) -> None:
    """Parse, validate and encode interactions once; builds then read the prepared folder."""
    if not path.exists():
        raise UserError(f"--path: {path}: no such file or folder")
    from edgerec.data import prepared, sources
    from edgerec.data.schema import DataError

    try:
        schema = prepared.save(sources.prepare(source, path, min_rating=min_rating), out)
    except DataError as exc:
        raise UserError(str(exc)) from None
    click.echo(
        f"prepared {schema['interactions']} interactions, {schema['users']} users, {schema['items']} items "
        f"({', '.join(f['name'] for f in schema['features'])}) in {out}"
    )
