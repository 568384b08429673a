"""`edgerec bench`: measure .tflite artifacts on this device. Never imports TensorFlow."""

from __future__ import annotations

from pathlib import Path

import click

from edgerec.cli.errors import UserError


def _int_list(ctx, param, value: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers such as 1,2,4. Received: {value!r}") from None
    if any(v < 1 for v in values):
        raise click.BadParameter(f"expected positive integers. Received: {value!r}")
    return values


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--runs", default=100, show_default=True, type=click.IntRange(min=1), help="Minimum timed runs.")
@click.option("--warmup", default=10, show_default=True, type=click.IntRange(min=0), help="Untimed warm-up runs.")
@click.option("--min-seconds", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="Keep timing until at least this long has passed.")
@click.option("--threads", default="1", show_default=True, callback=_int_list, help="Thread counts, e.g. 1,2,4.")
@click.option("--batch", default="1", show_default=True, callback=_int_list, help="Batch sizes, e.g. 1,32,256.")
@click.option("--runtime", type=click.Choice(["ai_edge_litert", "tflite_runtime", "tensorflow"]), default=None,
              help="Force an interpreter (default: the first installed, in this order).")
@click.option("--timeout", default=300.0, show_default=True, type=click.FloatRange(min=0.001),
              help="Seconds before one artifact's run is killed and reported as an error row.")
@click.option("--no-accuracy", is_flag=True, help="Skip accuracy on the bundle's eval.npz.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write rows as JSON.")
def bench(paths, runs, warmup, min_seconds, threads, batch, runtime, timeout, no_accuracy, json_path) -> None:
    """Benchmark bundles or .tflite files: size, latency, memory, on-device accuracy.

    PATHS are bundle folders (as written by `edgerec build`) or .tflite files.
    """
    from device_bench import rows as bench_rows
    from device_bench import run, table

    try:
        artifacts = run.discover(paths)
    except run.BenchInputError as exc:
        raise UserError(str(exc)) from None
    click.echo(f"benchmarking {len(artifacts)} artifact(s)", err=True)
    result = run.bench(
        paths,
        threads=threads,
        batches=batch,
        runs=runs,
        warmup=warmup,
        min_seconds=min_seconds,
        runtime=runtime,
        timeout=timeout,
        accuracy=not no_accuracy,
        progress=lambda row: click.echo(f"  {row['artifact']}: {row['status']}", err=True),
    )
    click.echo(table.markdown(result))
    if json_path is not None:
        bench_rows.write_json(json_path, table.environment(), result)
        click.echo(f"rows written to {json_path}", err=True)
