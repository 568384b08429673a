"""The parent side of a benchmark: find artifacts, run one worker per configuration.

A PATH is a bundle folder (artifacts from its ``manifest.json``, else every
``*.tflite``) or a single ``.tflite``; the eval set is the ``eval.npz`` beside
the artifacts. Each (artifact, threads, batch) runs in its own
``python -m device_bench.worker`` process with a timeout; a crash, a hang, a
sha256 mismatch or a missing file becomes an error row and the run goes on.

A bundle's retrieval artifact (manifest role ``retrieval``) runs first: its
accuracy pass leaves each held-out row's top-N items, which every ranker of
the same eval set then re-scores for the two-stage metrics
(``device_bench.retrieval``). Rows keep the manifest's order.

After the runs, rows are compared with what the bundle promised: the
manifest's build-time Keras metrics (``keras_delta``) and the per-user ranking
of a reference artifact (``fidelity``; by default the bundle's fp32
``student.tflite``, the model the compressed artifacts were made from).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import site
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from device_bench import bundle, fidelity, rows
from device_bench.errors import EdgerecError
from device_bench.runtime import RUNTIMES

DEFAULT_REFERENCE = bundle.artifact_file(bundle.STUDENT)
RETRIEVAL = bundle.RETRIEVAL  # its role in the manifest
CANDIDATES = "candidates"
# The folder holding this copy of device_bench, so that a worker started from a
# source checkout (tests, a folder copied to a Pi) imports the same code.
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class BenchInputError(EdgerecError, ValueError):
    """A PATH or option the user gave cannot be benchmarked (message names it)."""


@dataclass(frozen=True)
class Artifact:
    """A ``.tflite`` to run, its eval set if any, and what its manifest promises (sha256, Keras metrics)."""

    path: Path
    eval_path: Path | None
    sha256: str | None
    keras_metrics: dict[str, float] | None = None
    role: str | None = None


def _manifest_entries(folder: Path) -> list[dict[str, Any]] | None:
    """What the folder's manifest promises per artifact; None when the folder has no manifest."""
    if not (folder / bundle.MANIFEST).is_file():
        return None
    try:
        entries = bundle.read_manifest(folder)["artifacts"]
    except bundle.BundleError as exc:
        raise BenchInputError(str(exc)) from exc
    return [
        {"file": entry["file"], "sha256": entry.get("sha256"), "keras_metrics": entry.get("keras_metrics"),
         "role": entry.get("role")}
        for entry in entries
    ]


def _eval_path(folder: Path) -> Path | None:
    candidate = folder / bundle.EVAL_SET
    return candidate if candidate.is_file() else None


def _discover_folder(folder: Path) -> list[Artifact]:
    entries = _manifest_entries(folder)
    if entries is None:
        files = sorted(folder.glob(f"*{bundle.ARTIFACT_SUFFIX}"))
        entries = [{"file": p.name, "sha256": None, "keras_metrics": None, "role": None} for p in files]
    if not entries:
        raise BenchInputError(f"{folder}: no .tflite files in this folder (and no artifacts in a {bundle.MANIFEST})")
    eval_path = _eval_path(folder)
    return [Artifact(folder / entry["file"], eval_path, entry["sha256"], entry["keras_metrics"], entry["role"])
            for entry in entries]


def _discover_file(path: Path) -> Artifact:
    # A file inside a bundle is still checked against the bundle's manifest.
    entries = _manifest_entries(path.parent) or []
    entry = next((entry for entry in entries if entry["file"] == path.name), {})
    return Artifact(path, _eval_path(path.parent), entry.get("sha256"), entry.get("keras_metrics"), entry.get("role"))


def discover(paths: Sequence[str | Path]) -> list[Artifact]:
    """Artifacts named by ``paths`` (bundle folders or ``.tflite`` files), in order."""
    artifacts = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            artifacts.extend(_discover_folder(path))
        elif path.is_file() and bundle.is_artifact(path):
            artifacts.append(_discover_file(path))
        elif path.exists():
            raise BenchInputError(f"{path}: expected a bundle folder or a .tflite file")
        else:
            raise BenchInputError(f"{path}: no such file or folder")
    return artifacts


def _precheck(artifact: Artifact) -> str | None:
    """Why the artifact must not be run, or None."""
    if not artifact.path.is_file():
        return f"file not found: {artifact.path}"
    if artifact.sha256:
        actual = bundle.sha256(artifact.path)
        if actual != artifact.sha256:
            return f"sha256 mismatch: manifest says {artifact.sha256}, file is {actual}"
    return None


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    if _PACKAGE_ROOT in site.getsitepackages():
        return env  # installed: importable as is, and site-packages must not move ahead of the stdlib
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    return env


def _run_worker(job: dict[str, Any], timeout: float) -> dict[str, Any]:
    """The worker's result, or ``{"status": "error: ..."}`` if it hung, crashed or printed garbage."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "device_bench.worker"],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_worker_env(),
        )
    except subprocess.TimeoutExpired:
        return {"status": rows.error(f"timeout after {timeout:g} s (worker killed)")}
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        result = None
    if isinstance(result, dict) and "status" in result:
        return {key: value for key, value in result.items() if key in rows.ROW_KEYS}
    if proc.returncode < 0:
        reason = f"worker killed by signal {signal.Signals(-proc.returncode).name}"
    else:
        reason = f"worker exited with code {proc.returncode} without a result"
    stderr = proc.stderr.strip().splitlines()
    return {"status": rows.error(f"{reason}; stderr: {stderr[-1]}" if stderr else reason)}


def _check_options(
    threads: Sequence[int], batches: Sequence[int], runs: int, runtime: str | None, cpus: Sequence[int] | None
) -> None:
    for name, values in (("threads", threads), ("batch", batches)):
        if not values or any(not isinstance(v, int) or v < 1 for v in values):
            raise BenchInputError(f"{name} must be a non-empty list of integers >= 1. Received: {name}={list(values)}")
    if runs < 1:
        raise BenchInputError(f"runs must be >= 1. Received: runs={runs}")
    if runtime is not None and runtime not in RUNTIMES:
        raise BenchInputError(f"Unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}.")
    if cpus is not None:
        if not hasattr(os, "sched_setaffinity"):
            raise BenchInputError(f"cpus: CPU pinning needs Linux (os.sched_setaffinity); this is {sys.platform}.")
        allowed = sorted(os.sched_getaffinity(0))
        if not cpus or not set(cpus) <= set(allowed):
            raise BenchInputError(f"cpus must be a non-empty subset of {allowed}. Received: cpus={list(cpus)}")


def _check_reference(reference: str | Path | None) -> Path | None:
    if reference is None:
        return None
    path = Path(reference)
    if not (path.is_file() and bundle.is_artifact(path)):
        raise BenchInputError(f"reference: {path}: expected an existing .tflite file")
    return path


@dataclass(frozen=True)
class _Settings:
    """What every worker of one ``bench`` call shares."""

    runs: int
    warmup: int
    min_seconds: float
    runtime: str | None
    xnnpack: bool
    cpus: list[int] | None
    timeout: float
    reference_kernels: bool = False

    def job(self, artifact: Artifact, threads: int, batch: int, ranking_out: Path | None,
            candidates_out: Path | None = None, two_stage: Path | None = None) -> dict[str, Any]:
        """A worker job; accuracy (and the ranking logits) only when ``ranking_out`` is given; a retrieval
        artifact saves its top-N to ``candidates_out``, a ranker re-scores ``two_stage``'s."""
        return {
            "path": str(artifact.path),
            "threads": threads,
            "batch": batch,
            "runs": self.runs,
            "warmup": self.warmup,
            "min_seconds": self.min_seconds,
            "runtime": self.runtime,
            "xnnpack": self.xnnpack,
            "reference_kernels": self.reference_kernels,
            "cpus": self.cpus,
            "eval": str(artifact.eval_path) if artifact.eval_path else None,
            "with_accuracy": ranking_out is not None,
            "ranking_out": str(ranking_out) if ranking_out else None,
            "candidates_out": str(candidates_out) if candidates_out else None,
            "two_stage": str(two_stage) if two_stage else None,
        }


class _RankingScores:
    """Per-user ranking logits by (artifact, eval set), read back from the workers' ``.npy`` files."""

    def __init__(self, scratch: Path) -> None:
        self._scratch = scratch
        self._names = itertools.count()
        self._scores: dict[tuple[Path, Path | None], np.ndarray | None] = {}

    def out_path(self, kind: str = "ranking") -> Path:
        """A fresh file name for a worker to save its ranking logits (or retrieval candidates) to."""
        return self._scratch / f"{kind}-{next(self._names)}.npy"

    def collect(self, artifact: Artifact, out_path: Path) -> None:
        """Keep the logits the worker saved to ``out_path`` (None if it saved none: failure, no ranking part)."""
        scores = np.load(out_path) if out_path.is_file() else None
        self._scores[(artifact.path.resolve(), artifact.eval_path)] = scores

    def get(self, artifact: Artifact) -> np.ndarray | None:
        return self._scores.get((artifact.path.resolve(), artifact.eval_path))

    def known(self, artifact: Artifact) -> bool:
        return (artifact.path.resolve(), artifact.eval_path) in self._scores


def _bench_artifact(
    artifact: Artifact,
    threads: Sequence[int],
    batches: Sequence[int],
    settings: _Settings,
    scores: _RankingScores | None,
    progress: Callable[[dict[str, Any]], None] | None,
    candidates: dict[Path | None, Path],
) -> list[dict[str, Any]]:
    """The artifact's rows; the first configuration that succeeds also measures accuracy (and its
    split by popularity), which the other configurations' rows repeat.

    ``candidates`` maps an eval set to the retrieval top-N file its rankers re-score; a retrieval
    artifact adds its own."""
    problem = _precheck(artifact)
    metrics, by_popularity = None, {}
    results = []
    for n_threads in threads:
        for batch in batches:
            row = rows.new_row(artifact.path, n_threads, batch, settings.xnnpack and not settings.reference_kernels,
                               settings.cpus, settings.reference_kernels)
            if problem:
                row["status"] = rows.error(problem)
            else:
                ranking_out = scores.out_path() if scores and artifact.eval_path and metrics is None else None
                candidates_out = scores.out_path(CANDIDATES) if ranking_out and artifact.role == RETRIEVAL else None
                two_stage = candidates.get(artifact.eval_path) if ranking_out else None
                job = settings.job(artifact, n_threads, batch, ranking_out, candidates_out, two_stage)
                row.update(_run_worker(job, settings.timeout))
                if candidates_out is not None and candidates_out.is_file():
                    candidates[artifact.eval_path] = candidates_out
                if ranking_out is not None:
                    # Also on failure (no file: None), so the fidelity pass does not run it again.
                    scores.collect(artifact, ranking_out)
                if row["status"] == rows.OK:
                    if metrics is None:
                        metrics, by_popularity = row["metrics"], row["by_popularity"]
                    row["metrics"], row["by_popularity"] = dict(metrics), dict(by_popularity)
            results.append(row)
            if progress is not None:
                progress(row)
    return results


def _keras_delta(metrics: dict[str, float], keras_metrics: dict[str, float] | None) -> dict[str, float]:
    """Device metric − build-time Keras metric, for the metrics both have."""
    keras_metrics = keras_metrics or {}
    return {key: round(value - keras_metrics[key], 6) for key, value in metrics.items() if key in keras_metrics}


def _reference_scores(
    artifact: Artifact, reference: Path | None, settings: _Settings, scores: _RankingScores
) -> tuple[Path | None, np.ndarray | None]:
    """The reference for ``artifact`` and its ranking logits on ``artifact``'s eval set.

    A reference that was not benched itself (or not on this eval set) is
    scored once by an extra worker with a minimal timing loop.
    """
    if reference is None:
        reference = artifact.path.parent / DEFAULT_REFERENCE
        if not reference.is_file():
            return None, None
    candidate = Artifact(reference, artifact.eval_path, _discover_file(reference).sha256)
    if not scores.known(candidate) and _precheck(candidate) is None:
        out_path = scores.out_path()
        minimal = _Settings(1, 0, 0.0, settings.runtime, settings.xnnpack, settings.cpus, settings.timeout,
                            settings.reference_kernels)
        if _run_worker(minimal.job(candidate, 1, 1, out_path), settings.timeout)["status"] == rows.OK:
            scores.collect(candidate, out_path)
    return reference, scores.get(candidate)


def _add_fidelity(
    artifact: Artifact,
    artifact_rows: list[dict[str, Any]],
    reference: Path | None,
    settings: _Settings,
    scores: _RankingScores,
) -> None:
    """Fill ``fidelity`` in the artifact's ok rows; values stay None if the reference could not be scored."""
    own = scores.get(artifact)
    if own is None:
        return
    reference, reference_scores = _reference_scores(artifact, reference, settings, scores)
    if reference is None:
        return
    agreement = fidelity.compare(own, reference_scores) if reference_scores is not None else {}
    for row in artifact_rows:
        if row["status"] == rows.OK:
            row["fidelity"] = {**dict.fromkeys(rows.FIDELITY_KEYS), **agreement, "reference": reference.name}


def bench(
    paths: Sequence[str | Path],
    threads: Sequence[int] = (1,),
    batches: Sequence[int] = (1,),
    runs: int = 100,
    warmup: int = 10,
    min_seconds: float = 1.0,
    runtime: str | None = None,
    timeout: float = 120.0,
    accuracy: bool = True,
    progress: Callable[[dict[str, Any]], None] | None = None,
    xnnpack: bool = True,
    cpus: Sequence[int] | None = None,
    reference: str | Path | None = None,
    reference_kernels: bool = False,
) -> list[dict[str, Any]]:
    """One result row per (artifact, threads, batch); see ``device_bench.rows``.

    Accuracy does not depend on threads or batch, so it is computed by the
    first configuration of an artifact that succeeds and copied into the
    artifact's later rows. ``progress(row)`` is called as each row completes
    (before ``fidelity``, which needs the reference's scores, is filled in).
    ``xnnpack=False`` runs without the default XNNPACK delegate; ``cpus`` pins
    every worker to those CPU ids (Linux). ``reference`` is the artifact whose
    per-user ranking the others are compared with; None means the
    ``student.tflite`` beside each artifact, where there is one.
    ``reference_kernels=True`` runs TFLite's reference kernels (``runtime.load``).

    Raises:
      BenchInputError: a PATH does not exist or holds no ``.tflite``, or an option is out of range.
    """
    _check_options(threads, batches, runs, runtime, cpus)
    reference = _check_reference(reference)
    artifacts = discover(paths)
    settings = _Settings(
        runs, warmup, min_seconds, runtime, xnnpack, sorted(set(cpus)) if cpus is not None else None, timeout,
        reference_kernels,
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="device_bench.") as scratch:
        scores = _RankingScores(Path(scratch)) if accuracy else None
        candidates: dict[Path | None, Path] = {}
        retrieval_first = sorted(artifacts, key=lambda a: a.role != RETRIEVAL)  # stable: rankers keep their order
        benched = {id(a): _bench_artifact(a, threads, batches, settings, scores, progress, candidates)
                   for a in retrieval_first}
        by_artifact = [(a, benched[id(a)]) for a in artifacts]
        # Fidelity after every artifact has run, so that a reference benched later is not run twice.
        for artifact, artifact_rows in by_artifact:
            for row in artifact_rows:
                row["keras_delta"] = _keras_delta(row["metrics"], artifact.keras_metrics)
            if scores is not None:
                _add_fidelity(artifact, artifact_rows, reference, settings, scores)
            results.extend(artifact_rows)
    return results
