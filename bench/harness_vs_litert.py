"""Check edgerec's latency harness against LiteRT's own benchmark tool, in one run.

    python bench/harness_vs_litert.py out/bundle [--threads 1] [--runs 10000]

Goal: `edgerec bench`'s p50 is within max(5 %, 2 µs) of `litert-benchmark`'s median
(ai-edge-litert's ``ai_edge_litert/tools/benchmark_litert_model.py``) at the same thread count.
Exit status 1 if an artifact misses it, or if edgerec's p50 falls below the floor (below).

Three columns per artifact:

- **edgerec p50**: ``device_bench.run.bench`` (a child process per artifact, eval.npz rows
  cycled as inputs, only ``Interpreter.invoke()`` inside the clock).
- **litert median**: LiteRT's loop, run here in-process. Its ``run_benchmark(args)`` keeps the raw
  ``inference_times`` but returns and prints them rounded to 0.01 ms (useless for a ~2 µs model),
  and its ``fill_random_input`` draws int inputs from [-128, 127], which makes embedding
  lookups fail on negative ids. So :func:`litert_median_us` reproduces the body of
  ``run_benchmark`` (CompiledModel.from_file with its own ``create_environment`` /
  ``create_model_options``, create_input/output_buffer_by_name, timed ``run_by_name`` with
  ``time.perf_counter``, ``statistics.median``) and differs only in the input: the first
  pointwise row of eval.npz, written once as LiteRT writes its random fill once.
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

import numpy as np

from device_bench import evalset, run, runtime

ARTIFACTS = ("teacher.tflite", "student.tflite", "student_int8.tflite")
REL_TOL = 0.05  # within 5 % of litert's median ...
ABS_TOL_US = 2.0  # ... or 2 µs, whichever is larger
FLOOR_SLACK = 0.05  # edgerec's p50 may sit this fraction below the bare-invoke floor (noise)


def _first_row(bundle: Path) -> dict[str, np.ndarray]:
    """Row 0 of eval.npz's pointwise part, one int32 array of shape (1,) per input: valid ids."""
    columns = evalset.load(bundle / run.EVAL_SET).pointwise
    return {name: column[:1] for name, column in columns.items()}


def litert_median_us(path: Path, feed: dict[str, np.ndarray], threads: int, runs: int, warmup: int) -> float:
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
    inputs = {name: model.create_input_buffer_by_name(sig_key, name) for name in model.get_input_tensor_details(sig_key)}
    outputs = {name: model.create_output_buffer_by_name(sig_key, name) for name in model.get_output_tensor_details(sig_key)}
    for name, buffer in inputs.items():
        buffer.write(feed[name])

    for _ in range(warmup):
        model.run_by_name(sig_key, inputs, outputs)
    inference_times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model.run_by_name(sig_key, inputs, outputs)
        inference_times.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(inference_times)


def floor_median_us(path: Path, feed: dict[str, np.ndarray], threads: int, runs: int, warmup: int) -> float:
    """Median of the barest loop: inputs set once, ``perf_counter_ns`` around ``invoke()`` alone."""
    interpreter, _ = runtime.load(path, threads)
    specs = runtime.input_specs(interpreter)
    runtime.resize(interpreter, specs, 1)
    for spec in specs:
        interpreter.set_tensor(spec.index, feed[spec.name].astype(spec.dtype))
    for _ in range(warmup):
        interpreter.invoke()
    samples = np.empty(runs, dtype=np.int64)
    for i in range(runs):
        start = time.perf_counter_ns()
        interpreter.invoke()
        samples[i] = time.perf_counter_ns() - start
    return float(np.median(samples)) / 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=10_000, help="Timed runs per tool and artifact.")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--artifacts", nargs="+", default=list(ARTIFACTS))
    args = parser.parse_args(argv)

    paths = [args.bundle / name for name in args.artifacts]
    rows = run.bench(paths, threads=[args.threads], runs=args.runs, warmup=args.warmup, min_seconds=0.0,
                     accuracy=False)
    feed = _first_row(args.bundle)

    print(f"threads={args.threads}, {args.runs} timed runs per tool; goal |edgerec - litert| <= "
          f"max({REL_TOL:.0%}, {ABS_TOL_US:g} µs)")
    print(f"{'artifact':22s} {'edgerec p50':>12s} {'litert med':>11s} {'diff µs':>8s} {'diff %':>7s} "
          f"{'floor':>7s}  verdict")
    failures = 0
    for path, row in zip(paths, rows):
        if row["status"] != "ok":
            print(f"{path.name:22s} edgerec failed: {row['status']}")
            failures += 1
            continue
        ours = row["latency_us"]["p50"]
        theirs = litert_median_us(path, feed, args.threads, args.runs, args.warmup)
        floor = floor_median_us(path, feed, args.threads, args.runs, args.warmup)
        diff = ours - theirs
        within = abs(diff) <= max(REL_TOL * theirs, ABS_TOL_US)
        above_floor = ours >= floor * (1 - FLOOR_SLACK)
        verdict = ("within" if within else "OUTSIDE goal") + ("" if above_floor else ", BELOW floor (harness bug?)")
        failures += not (within and above_floor)
        print(f"{path.name:22s} {ours:12.3f} {theirs:11.3f} {diff:+8.3f} {diff / theirs:+7.1%} {floor:7.3f}  {verdict}")
    print("all within goal" if not failures else f"{failures} artifact(s) missed the goal")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
