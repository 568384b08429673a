"""`edgerec data prepare`: a raw source -> a prepared dataset folder for `edgerec build --data`."""

from __future__ import annotations

from pathlib import Path

import click

from edgerec.cli import training_stack
from edgerec.cli.errors import UserError
from edgerec.data import splits


@click.group()
def data() -> None:
    """Prepare interaction or CTR data (nothing is downloaded: point at files you have)."""


@data.command()
@click.option("--source", type=click.Choice(["movielens", "csv", "parquet", "criteo"]), required=True,
              help="movielens: an unpacked MovieLens 100K / 1M / latest folder; csv: an interactions text file "
              "(any extension: .csv, .tsv, .dat, ...); parquet: an interactions .parquet file; "
              "criteo: a Criteo display-ads TSV (label, I1..I13, C1..C26; no header).")
@click.option("--path", "path", type=click.Path(path_type=Path), required=True,
              help="Folder or file to read (parquet: a file, or a folder of .parquet shards such as Spark's "
              "part-*.parquet, read in name order).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Prepared dataset folder to write.")
@click.option("--min-rating", type=float, default=None,
              help="Keep only interactions whose rating/label is >= this (MovieLens ratings; csv/parquet --label-col).")
@click.option("--user-col", default="user_id", show_default=True, help="csv/parquet: user id column.")
@click.option("--item-col", default="item_id", show_default=True, help="csv/parquet: item id column.")
@click.option("--time-col", default="timestamp", show_default=True, help="csv/parquet: numeric timestamp column.")
@click.option("--no-time", is_flag=True,
              help="csv/parquet: the log has no time column; builds then hold out one random interaction per user "
              "(seeded by the recipe seed) and the report says so.")
@click.option("--label-col", default=None, help="csv/parquet: rating or label column, filtered by --min-rating.")
@click.option("--weight-col", default=None,
              help="csv/parquet: numeric weight column (play counts, quantities), filtered by --min-weight.")
@click.option("--min-weight", type=float, default=None, help="Keep only interactions whose --weight-col is >= this.")
@click.option("--sep", default=None,
              help=r"csv: the field separator, e.g. ',' or '	' or '::' [default: sniffed: tab, comma, semicolon or pipe].")
@click.option("--no-header", is_flag=True,
              help="csv: the file has no header line; columns are named 1, 2, ... (or by --columns).")
@click.option("--columns", "names", default=None,
              help="csv: comma-separated names of a headerless file's columns, e.g. userID,artistID,weight "
              "(implies --no-header).")
@click.option("--min-user-interactions", type=click.IntRange(min=1), default=None,
              help="Drop users with fewer interactions, alternating with --min-item-interactions until stable "
              f"(k-core) [default: {splits.MIN_USER_INTERACTIONS}, what the split needs].")
@click.option("--min-item-interactions", type=click.IntRange(min=1), default=None,
              help="Drop items with fewer interactions (k-core, see --min-user-interactions) [default: 1].")
@click.option("--user-features", default=None,
              help="csv/parquet: comma-separated user side-feature columns (default: every user_* column).")
@click.option("--item-features", default=None,
              help="csv/parquet: comma-separated item side-feature columns (default: every item_* column).")
@click.option("--item-text-cols", default=None,
              help="csv/parquet: comma-separated columns holding item text (e.g. title,description); each item's "
              "first non-empty value per column, joined with '. ', is its text. MovieLens items always get "
              "title and genres.")
@click.option("--text-encoder", default=None,
              help="Encode the item text once into item vectors with this edgerec.text encoder "
              "[default: minilm when the edgerec[text] extra is installed, else none]; tfidf needs no extra; "
              "none keeps only the text.")
@click.option("--item-embeddings", type=click.Path(path_type=Path), default=None,
              help="Item vectors computed elsewhere (used instead of encoding text): a .npy float matrix with "
              "its ids beside it in the same name with .ids.txt (items.npy -> items.ids.txt, one raw item id per "
              "line, line i = row i), or a .parquet file with an 'item' column and a list column 'vector' or "
              "numeric columns. Every id must be an item of the data (items the k-core drops may have one); "
              "items without a vector get a zero row.")
@click.option("--min-count", type=click.IntRange(min=1), default=None,
              help="criteo: feature values seen fewer times share the OOV id 0 [default: 10]. "
              "(Interaction data: recipe key data.min_count.)")
@click.option("--shard-rows", type=click.IntRange(min=1), default=None,
              help="Write the log as a folder of Parquet shards of at most this many rows, which `edgerec teacher` "
              "streams without loading (default: one file).")
def prepare(source, path, out, min_rating, user_col, item_col, time_col, no_time, label_col, weight_col, min_weight,
            sep, no_header, names, min_user_interactions, min_item_interactions, user_features, item_features,
            item_text_cols, text_encoder, item_embeddings, min_count, shard_rows):
    """Parse, validate and encode the data once; builds then read the prepared folder."""
    training_stack.require("data prepare")
    if not path.exists():
        raise UserError(f"--path: {path}: no such file or folder")
    _check_flags(source, locals())
    if label_col and min_rating is None:
        raise UserError("--label-col needs --min-rating (the threshold that makes a row a positive)")
    if source == "criteo" and (min_rating is not None or label_col):
        raise UserError("--min-rating / --label-col do not apply to --source criteo (its label is column 0, 0 or 1)")
    if source != "criteo" and min_count is not None:
        raise UserError(f"--min-count applies to --source criteo; for {source} data set data.min_count in the recipe")
    from edgerec.data import criteo, files, filtering, item_vectors, prepared, sources
    from edgerec.data.schema import Interactions

    if text_encoder and item_embeddings:
        raise UserError(f"--text-encoder {text_encoder} and --item-embeddings: the vectors come from one or the "
                        "other; give one of them")
    if text_encoder:
        item_vectors.check_encoder(text_encoder)  # before parsing: a typo should not cost a long read
    vectors_file = item_vectors.read(item_embeddings) if item_embeddings else None

    columns = files.Columns(
        user=user_col,
        item=item_col,
        timestamp=None if no_time else time_col,
        label=label_col,
        min_label=min_rating,
        weight=weight_col,
        min_weight=min_weight,
        user_features=_names(user_features),
        item_features=_names(item_features),
        item_text=_names(item_text_cols) or (),
    )
    layout = files.Layout(sep=_separator(sep), header=not (no_header or names), names=_names(names))
    data = sources.prepare(source, path, min_rating=min_rating, columns=columns, layout=layout,
                           min_count=criteo.DEFAULT_MIN_COUNT if min_count is None else min_count)
    if isinstance(data, Interactions):
        if vectors_file:
            data = item_vectors.attach(data, vectors_file)
        min_user = splits.MIN_USER_INTERACTIONS if min_user_interactions is None else min_user_interactions
        min_item = min_item_interactions or 1
        data, dropped = filtering.k_core(data, min_user, min_item)
        if dropped.interactions or dropped.users or dropped.items:
            click.echo(dropped.describe(min_user, min_item))
        if not vectors_file:
            data, note = item_vectors.encode_text(data, text_encoder)
            if note:
                click.echo(note)
    schema = prepared.save(data, out, shard_rows)
    if schema["kind"] == "ctr":
        counts = f"{schema['rows']} rows, click rate {schema['click_rate']:.4f}"
    else:
        counts = f"{schema['interactions']} interactions, {schema['users']} users, {schema['items']} items"
    timing = "" if schema.get("timed", True) else "; no timestamps: builds hold out a random interaction per user"
    sharded = f" as shards of at most {shard_rows} rows" if shard_rows else ""
    click.echo(f"prepared {counts} ({', '.join(f['name'] for f in schema['features'])}){timing} in {out}{sharded}")
    if isinstance(data, Interactions) and (data.item_text is not None or data.item_vectors is not None):
        click.echo(item_vectors.summary(data))


FILE_FLAGS = {  # flag -> the sources it applies to
    "no_time": ("csv", "parquet"), "weight_col": ("csv", "parquet"), "min_weight": ("csv", "parquet"),
    "sep": ("csv",), "no_header": ("csv",), "names": ("csv",),
    "min_user_interactions": ("movielens", "csv", "parquet"), "min_item_interactions": ("movielens", "csv", "parquet"),
    "item_text_cols": ("csv", "parquet"), "text_encoder": ("movielens", "csv", "parquet"),
    "item_embeddings": ("movielens", "csv", "parquet"),
}


def _check_flags(source: str, given: dict) -> None:
    """A flag that does nothing for this source is a mistake to name, not to ignore."""
    for name, sources in FILE_FLAGS.items():
        if given[name] not in (None, False) and source not in sources:
            flag = "--columns" if name == "names" else "--" + name.replace("_", "-")
            raise UserError(f"{flag} applies to --source {' / '.join(sources)}, not {source}")
    if given["min_weight"] is not None and not given["weight_col"]:
        raise UserError("--min-weight needs --weight-col (the column it filters)")
    if given["no_time"] and given["time_col"] != "timestamp":
        raise UserError("--no-time and --time-col contradict each other: give one")


def _names(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(c.strip() for c in text.split(",") if c.strip())


def _separator(text: str | None) -> str | None:
    """`\\t` as typed in a shell (or the word `tab`) means a tab."""
    if text is None:
        return None
    sep = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if not sep:
        raise UserError("--sep: empty; give the separator, e.g. ',' or '\\t'")
    return sep
