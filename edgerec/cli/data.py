"""`edgerec data prepare`: a raw source -> a prepared dataset folder for `edgerec build --data`."""

from __future__ import annotations

from pathlib import Path

import click

from edgerec.cli.errors import UserError


@click.group()
def data() -> None:
    """Prepare interaction or CTR data (nothing is downloaded: point at files you have)."""


@data.command()
@click.option("--source", type=click.Choice(["movielens", "csv", "parquet", "criteo"]), required=True,
              help="movielens: an unpacked MovieLens 100K / 1M / latest folder; csv/parquet: an interactions file; "
              "criteo: a Criteo display-ads TSV (label, I1..I13, C1..C26; no header).")
@click.option("--path", "path", type=click.Path(path_type=Path), required=True, help="Folder or file to read.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Prepared dataset folder to write.")
@click.option("--min-rating", type=float, default=None,
              help="Keep only interactions whose rating/label is >= this (MovieLens ratings; csv/parquet --label-col).")
@click.option("--user-col", default="user_id", show_default=True, help="csv/parquet: user id column.")
@click.option("--item-col", default="item_id", show_default=True, help="csv/parquet: item id column.")
@click.option("--time-col", default="timestamp", show_default=True, help="csv/parquet: numeric timestamp column.")
@click.option("--label-col", default=None, help="csv/parquet: rating or label column, filtered by --min-rating.")
@click.option("--user-features", default=None,
              help="csv/parquet: comma-separated user side-feature columns (default: every user_* column).")
@click.option("--item-features", default=None,
              help="csv/parquet: comma-separated item side-feature columns (default: every item_* column).")
@click.option("--min-count", type=click.IntRange(min=1), default=None,
              help="criteo: feature values seen fewer times share the OOV id 0 [default: 10]. "
              "(Interaction data: recipe key data.min_count.)")
def prepare(source, path, out, min_rating, user_col, item_col, time_col, label_col, user_features, item_features,
            min_count):
    """Parse, validate and encode the data once; builds then read the prepared folder."""
    if not path.exists():
        raise UserError(f"--path: {path}: no such file or folder")
    if label_col and min_rating is None:
        raise UserError("--label-col needs --min-rating (the threshold that makes a row a positive)")
    if source == "criteo" and (min_rating is not None or label_col):
        raise UserError("--min-rating / --label-col do not apply to --source criteo (its label is column 0, 0 or 1)")
    if source != "criteo" and min_count is not None:
        raise UserError(f"--min-count applies to --source criteo; for {source} data set data.min_count in the recipe")
    from edgerec.data import criteo, files, prepared, sources

    columns = files.Columns(
        user=user_col,
        item=item_col,
        timestamp=time_col,
        label=label_col,
        min_label=min_rating,
        user_features=None if user_features is None else tuple(c for c in user_features.split(",") if c),
        item_features=None if item_features is None else tuple(c for c in item_features.split(",") if c),
    )
    data = sources.prepare(source, path, min_rating=min_rating, columns=columns,
                           min_count=criteo.DEFAULT_MIN_COUNT if min_count is None else min_count)
    schema = prepared.save(data, out)
    if schema["kind"] == "ctr":
        counts = f"{schema['rows']} rows, click rate {schema['click_rate']:.4f}"
    else:
        counts = f"{schema['interactions']} interactions, {schema['users']} users, {schema['items']} items"
    click.echo(f"prepared {counts} ({', '.join(f['name'] for f in schema['features'])}) in {out}")
