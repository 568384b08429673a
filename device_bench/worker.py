"""Child-process entry: benchmark ONE (artifact, threads, batch) and print one JSON line.

``python -m device_bench.worker`` reads a job on stdin::

    {"path", "threads", "batch", "runs", "warmup", "min_seconds",
     "runtime", "eval": path or null, "with_accuracy": bool}

and writes the measured part of a result row on stdout (``runtime``,
``latency_us``, ``peak_rss_bytes``, ``rss_before_load_bytes``, ``metrics``,
``status``). Running each configuration in a fresh process means a corrupt
model that crashes the interpreter, or one that hangs, costs one row rather
than the whole run, and ``ru_maxrss`` is this artifact's own peak.

Memory: ``rss_before_load_bytes`` is taken after Python, numpy, the
interpreter library and the eval set are loaded, just before the model;
``peak_rss_bytes`` is read after the latency loop and before the accuracy
pass, so that rows of one artifact with and without accuracy compare.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from device_bench import accuracy, evalset, inputs, latency, memory, rows, runtime


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Run ``job``; failures become ``status`` with whatever was measured before them."""
    result: dict[str, Any] = {
        "runtime": {"name": None, "version": None},
        "latency_us": dict.fromkeys(rows.LATENCY_KEYS),
        "peak_rss_bytes": None,
        "rss_before_load_bytes": None,
        "metrics": {},
        "status": None,
    }
    try:
        _, info = runtime.resolve(job["runtime"])
        result["runtime"] = {"name": info.name, "version": info.version}
        eval_set = evalset.load(job["eval"]) if job["eval"] else None

        result["rss_before_load_bytes"] = memory.current_rss_bytes()
        start = time.perf_counter_ns()
        interpreter, _ = runtime.load(job["path"], job["threads"], job["runtime"])
        specs = runtime.input_specs(interpreter)
        runtime.resize(interpreter, specs, job["batch"])
        init_us = round((time.perf_counter_ns() - start) / 1e3, 3)

        if eval_set is not None:
            eval_set.check_inputs([spec.name for spec in specs])
        pool = inputs.latency_pool(specs, job["batch"], eval_set)
        timings = latency.measure(interpreter, pool, job["warmup"], job["runs"], job["min_seconds"])
        result["latency_us"] = {"init": init_us, **timings}
        result["peak_rss_bytes"] = memory.peak_rss_bytes()

        if job["with_accuracy"] and eval_set is not None:
            result["metrics"] = accuracy.evaluate(interpreter, eval_set)
        result["status"] = rows.OK
    except Exception as exc:  # noqa: BLE001 - any failure of this artifact is reported in its row
        result["status"] = rows.error(f"{type(exc).__name__}: {exc}")
    return result


def main() -> int:
    """Read the job from stdin, print the result as the only line on stdout."""
    # Native code (interpreter, delegates) may print to fd 1; send all of it to
    # stderr and keep a private copy of stdout for the result line.
    result_stream = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    result = run(json.load(sys.stdin))
    result_stream.write(json.dumps(result) + "\n")
    result_stream.flush()
    return 0 if result["status"] == rows.OK else 1


if __name__ == "__main__":
    sys.exit(main())
