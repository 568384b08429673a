"""`edgerec report`: report.md, plots.json and PNG plots from a bundle's manifest and bench rows.

Needs no TensorFlow and no interpreter, so a bench.json measured on a phone can be turned into a
report on any machine; matplotlib (the `report` extra) only for the pictures.
"""

from __future__ import annotations

from pathlib import Path

import click

from device_bench import bundle as bundle_files


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--bench", "bench_path", type=click.Path(path_type=Path), default=None,
              help="Bench rows to report (as written by `edgerec bench --json`). "
                   f"Default: BUNDLE/{bundle_files.BENCH}.")
def report(bundle: Path, bench_path: Path | None) -> None:
    """Write BUNDLE/report.md with accuracy-vs-size and accuracy-vs-latency plots."""
    from edgerec import report as report_mod

    written = report_mod.write(bundle, bench_path)
    if written.note:
        click.echo(written.note, err=True)
    for path in written.files:
        click.echo(f"wrote {path}")
