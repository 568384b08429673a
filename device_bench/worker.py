"""Child-process entry: benchmark ONE (artifact, threads, batch) and print one JSON line.

``python -m device_bench.worker`` reads a job on stdin::

    {"path", "threads", "batch", "runs", "warmup", "min_seconds", "runtime",
     "xnnpack": bool, "cpus": [int] or null, "eval": path or null,
     "with_accuracy": bool, "ranking_out": path or null,
     "candidates_out": path or null, "two_stage": path or null}

and writes the measured part of a result row on stdout (``runtime``,
``latency_us``, ``items_per_s``, ``peak_rss_bytes``, ``rss_before_load_bytes``,
``metrics``, ``by_popularity``, ``status``). With accuracy and a ranking part in the eval set,
the (users, candidates) ranking logits are saved to ``ranking_out`` (``.npy``)
for the parent's fidelity comparison: they are too large for the JSON line.
A retrieval artifact (``device_bench.retrieval``) is timed on its ``recommend``
signature and scored through ``score``, on the full catalogue too; its top-N
per held-out row goes to ``candidates_out``, which a ranker's job then names
as ``two_stage`` to add the re-ranking metrics. Running each configuration in a fresh process means a corrupt
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

import numpy as np

from device_bench import accuracy, evalset, inputs, latency, memory, metrics, popularity, retrieval, rows, runtime


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Run ``job``; failures become ``status`` with whatever was measured before them."""
    result: dict[str, Any] = {
        "runtime": {"name": None, "version": None},
        "latency_us": dict.fromkeys(rows.LATENCY_KEYS),
        "items_per_s": None,
        "peak_rss_bytes": None,
        "rss_before_load_bytes": None,
        "metrics": {},
        "by_popularity": {},
        "status": None,
    }
    try:
        if job["cpus"]:
            # Before anything starts threads: the interpreter's pool inherits the mask.
            os.sched_setaffinity(0, job["cpus"])
        _, info = runtime.resolve(job["runtime"])
        result["runtime"] = {"name": info.name, "version": info.version}
        eval_set = evalset.load(job["eval"]) if job["eval"] else None

        result["rss_before_load_bytes"] = memory.current_rss_bytes()
        start = time.perf_counter_ns()
        interpreter, _ = runtime.load(job["path"], job["threads"], job["runtime"], job["xnnpack"],
                                      job.get("reference_kernels", False))
        measured = _retrieval if retrieval.is_retrieval(interpreter) else _ranker
        measured(interpreter, job, eval_set, start, result)
        result["status"] = rows.OK
    except Exception as exc:  # noqa: BLE001 - any failure of this artifact is reported in its row
        result["status"] = rows.error(f"{type(exc).__name__}: {exc}")
    return result


def _ranker(interpreter: Any, job: dict[str, Any], eval_set: evalset.EvalSet | None, start: int,
            result: dict[str, Any]) -> None:
    """Latency of one invoke at the job's batch, then (asked for) accuracy and the two-stage re-ranking."""
    specs = runtime.input_specs(interpreter)
    runtime.resize(interpreter, specs, job["batch"])
    init_us = round((time.perf_counter_ns() - start) / 1e3, 3)
    if eval_set is not None:
        eval_set.check_inputs([spec.name for spec in specs])
    pool = inputs.latency_pool(specs, job["batch"], eval_set)
    _timed(interpreter, pool, job, init_us, result)
    if job["with_accuracy"] and eval_set is not None:
        pointwise, ranking = accuracy.score(interpreter, eval_set)
        result["metrics"] = metrics.score(eval_set.labels, pointwise, ranking)
        if ranking is not None and eval_set.popularity is not None:
            result["by_popularity"] = popularity.by_group(ranking, eval_set.popularity)
        if ranking is not None and job["ranking_out"]:
            np.save(job["ranking_out"], ranking)
        if job.get("two_stage") and eval_set.retrieval is not None:
            result["metrics"].update(retrieval.rerank(interpreter, eval_set.retrieval, np.load(job["two_stage"])))


def _retrieval(interpreter: Any, job: dict[str, Any], eval_set: evalset.EvalSet | None, start: int,
               result: dict[str, Any]) -> None:
    """Latency of one ``recommend`` call for a batch of users, then (asked for) the sampled and the
    full-catalogue metrics through ``score``, and the top-N candidates for the rankers."""
    call = retrieval.SignatureCall(interpreter, retrieval.RECOMMEND)
    init_us = round((time.perf_counter_ns() - start) / 1e3, 3)
    _timed(call, retrieval.latency_pool(interpreter, job["batch"], eval_set), job, init_us, result)
    if job["with_accuracy"] and eval_set is not None:
        result["metrics"], ranking = retrieval.sampled(interpreter, eval_set)
        if ranking is not None and eval_set.popularity is not None:
            result["by_popularity"] = popularity.by_group(ranking, eval_set.popularity)
        if ranking is not None and job["ranking_out"]:
            np.save(job["ranking_out"], ranking)
        if eval_set.retrieval is not None:
            full, candidates = retrieval.full_catalogue(interpreter, eval_set.retrieval)
            result["metrics"].update(full)
            if job.get("candidates_out"):
                np.save(job["candidates_out"], candidates)


def _timed(invoker: Any, pool: list, job: dict[str, Any], init_us: float, result: dict[str, Any]) -> None:
    timings = latency.measure(invoker, pool, job["warmup"], job["runs"], job["min_seconds"])
    result["latency_us"] = {"init": init_us, **timings}
    result["items_per_s"] = round(job["batch"] / (timings["mean"] / 1e6), 3)
    result["peak_rss_bytes"] = memory.peak_rss_bytes()


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
