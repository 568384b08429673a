"""Check edgerec's latency harness against LiteRT's own benchmark tool, in one run.

    python bench/harness_vs_litert.py out/bundle [--threads 1] [--batch 1 2048] [--rounds 7]

Goal: `edgerec bench`'s p50 is within max(5 %, 2 µs) of `litert-benchmark`'s median
(ai-edge-litert's ``ai_edge_litert/tools/benchmark_litert_model.py``) at the same thread count,
judged at a compute-bound batch (``--goal-batch``, 2048). Exit status 1 if an artifact misses
it, or if edgerec's p50 falls below the floor (below) at any batch.

Why the goal is judged at a compute-bound batch: LiteRT's ``run_by_name`` costs a fixed few µs
more per call than ``Interpreter.invoke()`` (buffer dict marshalling). At batch 1 a student
inference takes ~2 µs, so that fixed cost alone is larger than the model and no harness can
agree with both tools; at batch 2048 even the student takes a few hundred µs, the fixed cost is
~1-2 % of it, and both tools measure the same thing. Batch-1 rows are still printed, with the
floor check, so the gap stays visible. Both tools resize the same dynamic-batch artifact
(LiteRT through ``resize_input_tensor_by_name``).

Why rounds: on a shared (virtualised) machine the speed of the CPU can change by tens of percent
from one second to the next. Timing each tool once, one after the other, lets such a phase land
on one tool only. So the three tools take turns in short windows, ``--rounds`` times, and each
column is the median of that tool's round medians; "round spread" shows how much LiteRT's own
round medians moved, i.e. how noisy the machine was during the run. The verdicts use paired
rounds: the median over rounds of each round's edgerec - LiteRT difference (and edgerec / floor
ratio), since within one round the tools ran seconds apart, on the same artifact.

Three columns per artifact:

- **edgerec p50**: ``device_bench.run.bench`` (a child process per artifact, eval.npz rows
  cycled as inputs, only ``Interpreter.invoke()`` inside the clock).
- **litert median**: LiteRT's loop, run here in-process. Its ``run_benchmark(args)`` keeps the raw
  ``inference_times`` but returns and prints them rounded to 0.01 ms (useless for a ~2 µs model),
  and its ``fill_random_input`` draws int inputs from [-128, 127], which makes embedding
  lookups fail on negative ids. So :func:`litert_median_us` reproduces the body of
  ``run_benchmark`` (CompiledModel.from_file with its own ``create_environment`` /
  ``create_model_options``, create_input/output_buffer_by_name, timed ``run_by_name``,
  ``statistics.median``) and differs only in the input: the first
  ``batch`` pointwise rows of eval.npz, written once as LiteRT writes its random fill once.
- **floor**: a bare ``Interpreter.invoke()`` loop in this process on that same row. LiteRT's
  ``run_by_name`` costs a few µs more than ``invoke()`` (buffer dict marshalling), so on a
  ~2 µs student edgerec may read lower than LiteRT by that much, and the 2 µs slack exists for
  it; an edgerec p50 *below* the floor would mean the harness times less than an invoke: a bug.

The numbers are whatever this machine measured; nothing is adjusted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from device_bench import bundle as bundle_files
from device_bench import evalset, run, runtime

ARTIFACTS = tuple(
    bundle_files.artifact_file(name) for name in (bundle_files.TEACHER, bundle_files.STUDENT, bundle_files.STUDENT_INT8)
)
REL_TOL = 0.05  # within 5 % of litert's median ...
ABS_TOL_US = 2.0  # ... or 2 µs, whichever is larger
FLOOR_SLACK = 0.05  # edgerec's p50 may sit this fraction below the bare-invoke floor (noise)
GOAL_BATCH = 2048
MIN_RUNS = 20  # large batches get runs // batch runs, but never fewer than this
MIN_SECONDS = 0.3  # and every tool times each (artifact, batch) for at least this long per round
ROUNDS = 7


def _first_rows(bundle: Path, batch: int) -> dict[str, np.ndarray]:
    """The first ``batch`` rows (wrapping) of eval.npz's pointwise part, one int32 array per input: valid ids."""
    columns = evalset.load(bundle / bundle_files.EVAL_SET).pointwise
    return {name: np.resize(column, batch) for name, column in columns.items()}  # wraps a small set


def _median_us(call: Callable[[], object], runs: int, min_seconds: float) -> float:
    """Median of ``call``'s wall time over at least ``runs`` calls and ``min_seconds`` seconds.

    LiteRT and the floor are timed by this same loop for the same minimum time as edgerec's own
    (``min_seconds``). ``perf_counter_ns`` and LiteRT's ``perf_counter`` read the same clock.
    """
    samples = []
    deadline = time.perf_counter_ns() + int(min_seconds * 1e9)
    while len(samples) < runs or time.perf_counter_ns() < deadline:
        start = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1e3


def litert_median_us(
    path: Path, feed: dict[str, np.ndarray], threads: int, runs: int, warmup: int, min_seconds: float
) -> float:
    """Median of LiteRT's own timing loop, unrounded (mirrors ``benchmark_litert_model.run_benchmark``)."""
    from ai_edge_litert.tools import benchmark_litert_model as tool

    compiled_model, accelerator, environment, environment_options, options, cpu_options = tool._import_litert()
    args = argparse.Namespace(
        runtime_path="", compiler_plugin_path="", dispatch_library_path="", num_threads=threads,
        use_npu=False, use_gpu=False, no_cpu=False, require_full_delegation=False,
    )
    env = tool.create_environment(args, environment, environment_options)
    model = compiled_model.from_file(
        str(path), environment=env,
        options=tool.create_model_options(args, options, cpu_options, tool.build_hardware_accelerators(args, accelerator)),
    )
    sig_key = next(iter(model.get_signature_list()))
    for name, values in feed.items():
        model.resize_input_tensor_by_name(sig_key, name, values.shape)
    inputs = {name: model.create_input_buffer_by_name(sig_key, name) for name in model.get_input_tensor_details(sig_key)}
    outputs = {name: model.create_output_buffer_by_name(sig_key, name) for name in model.get_output_tensor_details(sig_key)}
    for name, buffer in inputs.items():
        buffer.write(feed[name])

    for _ in range(warmup):
        model.run_by_name(sig_key, inputs, outputs)
    return _median_us(lambda: model.run_by_name(sig_key, inputs, outputs), runs, min_seconds)


def floor_median_us(
    path: Path, feed: dict[str, np.ndarray], threads: int, runs: int, warmup: int, min_seconds: float
) -> float:
    """Median of the barest loop: inputs set once, ``perf_counter_ns`` around ``invoke()`` alone."""
    interpreter, _ = runtime.load(path, threads)
    specs = runtime.input_specs(interpreter)
    runtime.resize(interpreter, specs, len(next(iter(feed.values()))))
    for spec in specs:
        interpreter.set_tensor(spec.index, feed[spec.name].astype(spec.dtype))
    for _ in range(warmup):
        interpreter.invoke()
    return _median_us(interpreter.invoke, runs, min_seconds)


def _runs(runs: int, batch: int) -> int:
    return runs if batch == 1 else max(MIN_RUNS, runs // batch)


def _round(
    paths: list[Path], feed: dict[str, np.ndarray], batch: int, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """One round: per artifact, edgerec then LiteRT then the floor, back to back in short windows."""
    runs, window = _runs(args.runs, batch), args.min_seconds
    result = {}
    for path in paths:
        (row,) = run.bench([path], threads=[args.threads], batches=[batch], runs=runs, warmup=args.warmup,
                           min_seconds=window, accuracy=False)
        if row["status"] != "ok":
            raise SystemExit(f"{path.name} batch {batch}: edgerec bench failed: {row['status']}")
        result[path.name] = {
            "edgerec": row["latency_us"]["p50"],
            "litert": litert_median_us(path, feed, args.threads, runs, args.warmup, window),
            "floor": floor_median_us(path, feed, args.threads, runs, args.warmup, window),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, GOAL_BATCH])
    parser.add_argument("--goal-batch", type=int, default=GOAL_BATCH,
                        help="The batch at which the agreement goal is judged (compute-bound).")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="Interleaved rounds; medians of round medians.")
    parser.add_argument("--runs", type=int, default=2_000,
                        help=f"Minimum timed runs per tool, artifact and round at batch 1; batch b gets "
                        f"max({MIN_RUNS}, runs // b).")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--min-seconds", type=float, default=MIN_SECONDS,
                        help="Minimum timing window per tool, artifact and round.")
    parser.add_argument("--artifacts", nargs="+", default=list(ARTIFACTS))
    args = parser.parse_args(argv)
    if args.goal_batch not in args.batch:
        parser.error(f"--goal-batch {args.goal_batch} must be one of --batch {args.batch}")

    paths = [args.bundle / name for name in args.artifacts]
    print(f"threads={args.threads}, {args.rounds} interleaved rounds of >= {args.min_seconds:g} s per tool; "
          f"goal at batch {args.goal_batch}: |edgerec - litert| <= max({REL_TOL:.0%}, {ABS_TOL_US:g} µs); "
          "every batch: edgerec >= floor")
    print(f"{'artifact':22s} {'batch':>5s} {'edgerec p50':>12s} {'litert med':>11s} {'diff µs':>8s} {'diff %':>7s} "
          f"{'floor':>9s}  {'round spread':>12s}  verdict")
    failures = 0
    for batch in args.batch:
        feed = _first_rows(args.bundle, batch)  # read once, not per round
        rounds = [_round(paths, feed, batch, args) for _ in range(args.rounds)]
        for path in paths:
            tools = {tool: [r[path.name][tool] for r in rounds] for tool in ("edgerec", "litert", "floor")}
            ours, theirs, floor = (statistics.median(tools[t]) for t in ("edgerec", "litert", "floor"))
            spread = (max(tools["litert"]) - min(tools["litert"])) / theirs  # how much the machine moved
            # Judged on paired rounds: each round's tools ran seconds apart, so a slow phase of the
            # machine scales all three alike and cancels in the round's difference.
            diff = statistics.median(e - t for e, t in zip(tools["edgerec"], tools["litert"]))
            rel = statistics.median((e - t) / t for e, t in zip(tools["edgerec"], tools["litert"]))
            judged = batch == args.goal_batch
            within = abs(diff) <= ABS_TOL_US or abs(rel) <= REL_TOL
            above_floor = statistics.median(e / f for e, f in zip(tools["edgerec"], tools["floor"])) >= 1 - FLOOR_SLACK
            verdict = ("within goal" if within else "OUTSIDE goal") if judged else "(not judged: fixed call overhead)"
            verdict += "" if above_floor else ", BELOW floor (harness bug?)"
            failures += not ((within or not judged) and above_floor)
            print(f"{path.name:22s} {batch:5d} {ours:12.2f} {theirs:11.2f} {diff:+8.2f} {rel:+7.1%} "
                  f"{floor:9.2f}  {spread:12.0%}  {verdict}")
    print("all within goal" if not failures else f"{failures} row(s) missed the goal")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
