"""The parent side of a benchmark: find artifacts, run one worker per configuration.

A PATH is a bundle folder (artifacts from its ``manifest.json``, else every
``*.tflite``) or a single ``.tflite``; the eval set is the ``eval.npz`` beside
the artifacts. Each (artifact, threads, batch) runs in its own
``python -m device_bench.worker`` process with a timeout; a crash, a hang, a
sha256 mismatch or a missing file becomes an error row and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import site
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device_bench import rows
from device_bench.runtime import RUNTIMES

MANIFEST = "manifest.json"
EVAL_SET = "eval.npz"
# The folder holding this copy of device_bench, so that a worker started from a
# source checkout (tests, a folder copied to a Pi) imports the same code.
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class BenchInputError(ValueError):
    """A PATH or option the user gave cannot be benchmarked (message names it)."""


@dataclass(frozen=True)
class Artifact:
    """A ``.tflite`` to run, its eval set if any, and the sha256 its manifest promises."""

    path: Path
    eval_path: Path | None
    sha256: str | None


def _manifest_entries(folder: Path) -> list[dict[str, Any]] | None:
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return None
    try:
        entries = json.loads(manifest.read_text())["artifacts"]
        return [{"file": str(entry["file"]), "sha256": entry.get("sha256")} for entry in entries]
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchInputError(f"{manifest}: not a bundle manifest with artifacts[*].file ({exc!r})") from exc


def _eval_path(folder: Path) -> Path | None:
    candidate = folder / EVAL_SET
    return candidate if candidate.is_file() else None


def _discover_folder(folder: Path) -> list[Artifact]:
    entries = _manifest_entries(folder)
    if entries is None:
        entries = [{"file": p.name, "sha256": None} for p in sorted(folder.glob("*.tflite"))]
    if not entries:
        raise BenchInputError(f"{folder}: no .tflite files in this folder (and no artifacts in a {MANIFEST})")
    eval_path = _eval_path(folder)
    return [Artifact(folder / entry["file"], eval_path, entry["sha256"]) for entry in entries]


def _discover_file(path: Path) -> Artifact:
    # A file inside a bundle is still checked against the bundle's manifest.
    entries = _manifest_entries(path.parent) or []
    sha256 = next((entry["sha256"] for entry in entries if entry["file"] == path.name), None)
    return Artifact(path, _eval_path(path.parent), sha256)


def discover(paths: Sequence[str | Path]) -> list[Artifact]:
    """Artifacts named by ``paths`` (bundle folders or ``.tflite`` files), in order."""
    artifacts = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            artifacts.extend(_discover_folder(path))
        elif path.is_file() and path.suffix == ".tflite":
            artifacts.append(_discover_file(path))
        elif path.exists():
            raise BenchInputError(f"{path}: expected a bundle folder or a .tflite file")
        else:
            raise BenchInputError(f"{path}: no such file or folder")
    return artifacts


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _precheck(artifact: Artifact) -> str | None:
    """Why the artifact must not be run, or None."""
    if not artifact.path.is_file():
        return f"file not found: {artifact.path}"
    if artifact.sha256:
        actual = _sha256(artifact.path)
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


def _check_options(threads: Sequence[int], batches: Sequence[int], runs: int, runtime: str | None) -> None:
    for name, values in (("threads", threads), ("batch", batches)):
        if not values or any(not isinstance(v, int) or v < 1 for v in values):
            raise BenchInputError(f"{name} must be a non-empty list of integers >= 1. Received: {name}={list(values)}")
    if runs < 1:
        raise BenchInputError(f"runs must be >= 1. Received: runs={runs}")
    if runtime is not None and runtime not in RUNTIMES:
        raise BenchInputError(f"Unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}.")


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
) -> list[dict[str, Any]]:
    """One result row per (artifact, threads, batch); see ``device_bench.rows``.

    Accuracy does not depend on threads or batch, so it is computed by the
    first configuration of an artifact that succeeds and copied into the
    artifact's later rows. ``progress(row)`` is called as each row completes.

    Raises:
      BenchInputError: a PATH does not exist or holds no ``.tflite``, or an option is out of range.
    """
    _check_options(threads, batches, runs, runtime)
    artifacts = discover(paths)
    results = []
    for artifact in artifacts:
        problem = _precheck(artifact)
        metrics = None
        for n_threads in threads:
            for batch in batches:
                row = rows.new_row(artifact.path, n_threads, batch)
                if problem:
                    row["status"] = rows.error(problem)
                else:
                    job = {
                        "path": str(artifact.path),
                        "threads": n_threads,
                        "batch": batch,
                        "runs": runs,
                        "warmup": warmup,
                        "min_seconds": min_seconds,
                        "runtime": runtime,
                        "eval": str(artifact.eval_path) if artifact.eval_path else None,
                        "with_accuracy": accuracy and artifact.eval_path is not None and metrics is None,
                    }
                    row.update(_run_worker(job, timeout))
                    if row["status"] == rows.OK:
                        metrics = row["metrics"] if metrics is None else metrics
                        row["metrics"] = dict(metrics)
                results.append(row)
                if progress is not None:
                    progress(row)
    return results
