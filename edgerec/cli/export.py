"""`edgerec export`: the folder an app ships (models, vocabularies, model card), or the check of one.
Never imports TensorFlow: it runs where `pip install 'edgerec[device]'` does, like `edgerec bench`."""

from __future__ import annotations

from pathlib import Path

import click

from device_bench import bundle
from edgerec.cli.errors import UserError

DEFAULT_ARTIFACTS = f"{bundle.STUDENT_INT8},{bundle.RETRIEVAL}"


@click.command(name="export")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--target", default=None, help="android (the content of app/src/main/assets/) or linux.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Folder to write (new or empty).")
@click.option("--artifacts", default=None,
              help=f"Comma-separated artifact names [default: {DEFAULT_ARTIFACTS}, those the bundle has].")
@click.option("--force", is_flag=True, help="Write into a non-empty --out (files of the same names are replaced).")
@click.option("--check", "check_mode", is_flag=True,
              help="PATH is an exported folder: verify its model_card.json against its files with an interpreter.")
@click.option("--runtime", type=click.Choice(["ai_edge_litert", "tflite_runtime", "tensorflow"]), default=None,
              help="Force an interpreter (default: the first installed, in this order).")
def export_command(path: Path, target: str | None, out: Path | None, artifacts: str | None, force: bool,
                   check_mode: bool, runtime: str | None) -> None:
    """Export a bundle for an app: PATH is a bundle folder (as written by `edgerec build`).

    Writes the chosen .tflite files, the vocabularies their inputs need, the item features a
    ranker needs per item, and model_card.json. With --check, PATH is an exported folder.
    """
    from device_bench import export
    from device_bench.card import CARD
    from device_bench.card_check import check

    if check_mode:
        given = [flag for flag, value in (("--target", target), ("--out", out), ("--artifacts", artifacts),
                                          ("--force", force or None)) if value is not None]
        if given:
            raise UserError(f"--check takes only the exported folder; {', '.join(given)} belong to an export")
        click.echo(check(path, runtime_name=runtime))
        return
    if target is None:
        raise UserError(f"--target: missing; expected one of: {', '.join(export.TARGETS)}")
    if out is None:
        raise UserError("--out: missing; expected the folder to write the export into")
    names = None if artifacts is None else artifacts.split(",")
    card = export.export(path, target, out, names, force=force, runtime_name=runtime)
    files = [m["file"] for m in card["models"].values()]
    extra = f", {card['item_features']['file']}" if card["item_features"] else ""
    click.echo(f"exported {', '.join(files)}, {len(card['vocabularies'])} vocabularies{extra} and {CARD} "
               f"to {out}" + (f" (copy its content into {export.ANDROID_ASSETS}/)" if target == "android" else ""))
