"""`edgerec bench`: measure .tflite artifacts on this device, or compare two runs. Never imports TensorFlow."""

from __future__ import annotations

from pathlib import Path

import click

from device_bench import bundle
from device_bench.metrics import keys as metric_keys
from edgerec.cli.errors import UserError

DEFAULT_BASELINE = bundle.artifact_file(bundle.TEACHER)


def _ints(value: str, minimum: int) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers such as 1,2,4. Received: {value!r}") from None
    if any(v < minimum for v in values):
        raise click.BadParameter(f"expected integers >= {minimum}. Received: {value!r}")
    return values


def _int_list(ctx, param, value: str) -> tuple[int, ...]:
    return _ints(value, minimum=1)


def _cpu_list(ctx, param, value: str | None) -> tuple[int, ...] | None:
    return None if value is None else _ints(value, minimum=0)


def _compare(paths: tuple[str, ...], metrics: tuple[str, ...], max_drop: float, max_slowdown: float | None) -> None:
    """Print the A/B table; exit 1 when the gate fails."""
    from device_bench import compare

    if len(paths) != 2:
        raise UserError(f"--compare takes exactly two bench JSON files (A then B). Received {len(paths)} path(s).")
    result = compare.compare(paths[0], paths[1], metrics or ("ndcg@10",), max_drop, max_slowdown)
    click.echo(result.table)
    for name in result.unmatched:
        click.echo(f"not in both files, skipped: {name}", err=True)
    if result.failures:
        click.echo("\n".join(f"FAIL {failure}" for failure in result.failures), err=True)
        raise click.exceptions.Exit(1)
    click.echo("no regression beyond the thresholds", err=True)


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
@click.option("--xnnpack", type=click.Choice(["on", "off"]), default="on", show_default=True,
              help="Allow the default XNNPACK CPU delegate, or run the builtin kernels only.")
@click.option("--reference-kernels", is_flag=True,
              help="Run TFLite's reference kernels instead of the optimized ones (slow; for an interpreter build "
                   "whose optimized kernels crash, e.g. tflite-runtime 2.14 on aarch64 under qemu).")
@click.option("--cpus", default=None, callback=_cpu_list, help="Pin each run to these CPU ids, e.g. 0,1 (Linux).")
@click.option("--timeout", default=300.0, show_default=True, type=click.FloatRange(min=0.001),
              help="Seconds before one artifact's run is killed and reported as an error row.")
@click.option("--no-accuracy", is_flag=True, help=f"Skip accuracy on the bundle's {bundle.EVAL_SET}.")
@click.option("--reference", type=click.Path(path_type=Path), default=None,
              help="Artifact whose per-user ranking the others are compared with "
                   f"[default: {bundle.artifact_file(bundle.STUDENT)} beside each artifact].")
@click.option("--baseline", default=None,
              help=f"Artifact file name the table gives ratios to [default: {DEFAULT_BASELINE} if benched].")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write rows as JSON.")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), default=None, help="Write rows as flat CSV.")
@click.option("--compare", "compare_mode", is_flag=True,
              help="PATHS are two bench JSON files A B: print the change and gate on it (exit 1 on regression).")
@click.option("--metric", "metrics", multiple=True, type=click.Choice(metric_keys()),
              help="With --compare: metric to gate on; repeatable [default: ndcg@10].")
@click.option("--max-drop", default=0.01, show_default=True, type=click.FloatRange(min=0),
              help="With --compare: largest allowed relative drop of a gated metric.")
@click.option("--max-slowdown", default=None, type=click.FloatRange(min=0),
              help="With --compare: largest allowed relative p50 increase [default: not gated].")
def bench(paths, runs, warmup, min_seconds, threads, batch, runtime, xnnpack, reference_kernels, cpus, timeout,
          no_accuracy, reference, baseline, json_path, csv_path, compare_mode, metrics, max_drop, max_slowdown) -> None:
    """Benchmark bundles or .tflite files: size, latency, memory, on-device accuracy and ranking fidelity.

    PATHS are bundle folders (as written by `edgerec build`) or .tflite files;
    with --compare, two bench JSON files to compare (A before, B after).
    """
    if compare_mode:
        _compare(paths, metrics, max_drop, max_slowdown)
        return
    from device_bench import rows as bench_rows
    from device_bench import run, table

    names = [artifact.path.name for artifact in run.discover(paths)]
    if baseline is not None and baseline not in names:
        raise UserError(f"--baseline {baseline!r} is not among the artifacts: {', '.join(names)}")
    click.echo(f"benchmarking {len(names)} artifact(s)", err=True)
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
        xnnpack=xnnpack == "on",
        reference_kernels=reference_kernels,
        cpus=cpus,
        reference=reference,
    )
    click.echo(table.markdown(result, baseline or (DEFAULT_BASELINE if DEFAULT_BASELINE in names else None)))
    if json_path is not None:
        bench_rows.write_json(json_path, table.environment(), result)
        click.echo(f"rows written to {json_path}", err=True)
    if csv_path is not None:
        bench_rows.write_csv(csv_path, result)
        click.echo(f"rows written to {csv_path}", err=True)
