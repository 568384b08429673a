"""The bundle contract: what ``edgerec build`` writes into one folder and what a device reads back.

It is the one place the bundle's file names, the manifest's schema and the artifact checksum
are spelled, so the build, the converters, the bench and the report agree by construction.
It lives at the bottom layer (stdlib only, like the rest of ``device_bench``) because the
device side reads bundles without TensorFlow.

A bundle folder holds:

- ``<name>.tflite`` per artifact (at least ``teacher``, ``student``, ``student_int8``);
- ``manifest.json``: per artifact its file, sha256, bytes, mode, tensors, what produced it and
  its Keras-side metrics; the eval set's protocol; the dataset schema with ``vocab/<feature>.txt``;
- ``eval.npz``: the held-out set in model-input form (see ``device_bench.evalset``);
- ``bench.json`` (see ``device_bench.rows``), ``report.md``, ``plots.json`` and the plots
  (``learning_curves.png`` when a stage recorded its learning curve);
  ``ablation.json/.md`` and ``search.json/.md/.png`` when the recipe asked for them.

Reading is lenient and writing is strict: :func:`read_manifest` asks only what a bench needs
(artifact files inside the folder), so a hand-written or older manifest still benches, while
:func:`write_manifest` refuses anything :func:`validate` rejects.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

from device_bench.atomic import atomic_path

MANIFEST = "manifest.json"
EVAL_SET = "eval.npz"
BENCH = "bench.json"
REPORT = "report.md"
PLOTS = "plots.json"
LEARNING_CURVES_PNG = "learning_curves.png"
ABLATION_JSON = "ablation.json"
ABLATION_MD = "ablation.md"
SEARCH_JSON = "search.json"
SEARCH_MD = "search.md"
SEARCH_PNG = "search.png"
VOCAB_FOLDER = "vocab"
ARTIFACT_SUFFIX = ".tflite"

# Artifact names every build ships; the file of one is artifact_file(name).
TEACHER = "teacher"
STUDENT = "student"  # distilled, fp32: the reference the compressed artifacts are compared with
STUDENT_INT8 = "student_int8"  # distilled + compressed + full-integer int8: what an app ships
STUDENT_SCRATCH = "student_scratch"  # the student architecture trained alone (baseline)
# the two-tower retrieval student, full-integer int8, with the `recommend` and `score` signatures
# (device_bench.retrieval); interaction data only. Its entry adds `signatures` and `retrieval`.
RETRIEVAL = "retrieval_int8"
# student_choice: the candidate name of the student trained alone (the others are distillation settings)
NO_TEACHER = "no teacher"

FORMAT = 1
MANIFEST_KEYS = ("format", "artifacts", "eval", "schema", "stages", "student_choice", "baselines",
                 "recipe", "seed", "versions")
ARTIFACT_KEYS = (
    "file", "role", "mode", "sha256", "bytes", "inputs", "outputs", "output_kind", "produced_by", "keras_metrics",
    "parity",
)
TENSOR_KEYS = ("name", "dtype", "shape")
EVAL_KEYS = ("file", "protocol", "held_out", "metrics")
SCHEMA_KEYS = ("source", "features", "vocabularies", "oov_index", "oov", "label", "output")
OUTPUT_KIND = "logit"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class BundleError(ValueError):
    """A manifest is missing, unreadable or breaks the bundle contract (the message names the file)."""


def artifact_file(name: str) -> str:
    """The file name of artifact ``name``, e.g. ``student_int8.tflite``."""
    return f"{name}{ARTIFACT_SUFFIX}"


def artifact_name(file: str) -> str:
    """The artifact name of a file name, e.g. ``student_int8`` (inverse of :func:`artifact_file`)."""
    return file.removesuffix(ARTIFACT_SUFFIX)


def is_artifact(path: str | Path) -> bool:
    """Whether ``path`` is named like an artifact (a ``.tflite`` file)."""
    return PurePath(path).suffix == ARTIFACT_SUFFIX


def vocab_file(feature: str) -> str:
    """A feature's vocabulary file relative to the bundle (POSIX separators, as the manifest stores it)."""
    return f"{VOCAB_FOLDER}/{feature}.txt"


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file: what the manifest promises for each artifact.

    Read in 1 MiB blocks, not with `hashlib.file_digest`, which Python 3.9 and 3.10 (boards'
    system Pythons) lack."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def artifact_entry(
    path: Path,
    role: str,
    mode: str,
    tensors: Mapping[str, list[dict[str, Any]]],
    produced_by: dict[str, Any],
    keras_metrics: dict[str, float],
    parity: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest entry of the artifact at ``path``; file, sha256 and bytes are taken from the file.

    ``tensors`` holds ``inputs`` and ``outputs``, each a list of ``{name, dtype, shape}``; ``extra``
    adds keys of a kind of artifact (a retrieval artifact's ``signatures`` and ``retrieval``).
    """
    clash = sorted(set(extra or {}) & set(ARTIFACT_KEYS))
    if clash:
        raise ValueError(f"extra keys {clash} would replace the artifact entry's own")
    return {
        "file": path.name,
        "role": role,
        "mode": mode,
        "sha256": sha256(path),
        "bytes": path.stat().st_size,
        "inputs": tensors["inputs"],
        "outputs": tensors["outputs"],
        "output_kind": OUTPUT_KIND,
        "produced_by": produced_by,
        "keras_metrics": keras_metrics,
        "parity": parity,
        **(extra or {}),
    }


def eval_entry(protocol: str, held_out: int, metrics: Sequence[str]) -> dict[str, Any]:
    """The manifest's ``eval`` part: the eval set's file, protocol, size and the metrics it can give."""
    return {"file": EVAL_SET, "protocol": protocol, "held_out": held_out, "metrics": list(metrics)}


def schema_entry(
    source: str, features: list[dict[str, Any]], vocabularies: dict[str, str], oov_index: int, label: str
) -> dict[str, Any]:
    """The manifest's ``schema`` part: how an app maps raw ids to model inputs and reads the output.

    ``vocabularies`` maps each feature to its :func:`vocab_file`.
    """
    return {
        "source": source,
        "features": features,
        "vocabularies": vocabularies,
        "oov_index": oov_index,
        "oov": f"map any raw value missing from a vocabulary file to index {oov_index}",
        "label": label,
        "output": f"{OUTPUT_KIND}; apply sigmoid for a probability",
    }


def manifest(
    artifacts: list[dict[str, Any]],
    eval_set: dict[str, Any],
    schema: dict[str, Any],
    *,
    stages: list[dict[str, Any]],
    student_choice: dict[str, Any],
    baselines: dict[str, Any],
    recipe: dict[str, Any],
    seed: int,
    versions: dict[str, str | None],
    search: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole manifest, keys in the order the file shows them; ``search`` only for a searched build.

    ``student_choice`` records which student candidate shipped as ``student`` and each one's
    validation score (a student distilled at each of the recipe's settings, and ``NO_TEACHER``, the
    one trained alone); ``baselines`` whether the teacher beats the strongest baseline on held-out data.

    ``artifacts`` are :func:`artifact_entry` dicts, ``eval_set`` from :func:`eval_entry`,
    ``schema`` from :func:`schema_entry`.
    """
    result = {
        "format": FORMAT,
        "artifacts": artifacts,
        "eval": eval_set,
        "schema": schema,
        "stages": stages,
        "student_choice": student_choice,
        "baselines": baselines,
        "recipe": recipe,
        "seed": seed,
        "versions": versions,
    }
    if search is not None:
        result["search"] = search
    return result


def _inside(name: str) -> bool:
    """Whether a relative path from a manifest stays inside the bundle folder."""
    return not (PurePath(name).is_absolute() or ".." in PurePath(name).parts)


def _file_of(entry: Any) -> Any:
    return entry.get("file") if isinstance(entry, dict) else None


def _artifact_problems(index: int, entry: Any) -> list[str]:
    where = f"artifacts[{index}]"
    if not isinstance(entry, dict):
        return [f"{where} is not an object"]
    problems = [f"{where} lacks {key!r}" for key in ARTIFACT_KEYS if key not in entry]
    file, digest, size = entry.get("file"), entry.get("sha256"), entry.get("bytes")
    if "file" in entry and not (isinstance(file, str) and is_artifact(file) and _inside(file)):
        problems.append(f"{where}.file {file!r} is not a {ARTIFACT_SUFFIX} file name inside the bundle")
    if "sha256" in entry and not (isinstance(digest, str) and _SHA256.fullmatch(digest)):
        problems.append(f"{where}.sha256 {digest!r} is not 64 lowercase hex digits")
    if "bytes" in entry and not (type(size) is int and size >= 0):
        problems.append(f"{where}.bytes {size!r} is not a byte count")
    for part in ("inputs", "outputs"):
        tensors = entry.get(part, [])
        if not (isinstance(tensors, list) and all(isinstance(t, dict) and set(TENSOR_KEYS) <= set(t) for t in tensors)):
            problems.append(f"{where}.{part} is not a list of {{{', '.join(TENSOR_KEYS)}}}")
    return problems


def _part_problems(manifest: dict[str, Any], part: str, keys: Sequence[str]) -> list[str]:
    value = manifest.get(part)
    if part not in manifest:
        return []  # reported as a missing top-level key
    if not isinstance(value, dict):
        return [f"{part} is not an object"]
    return [f"{part} lacks {key!r}" for key in keys if key not in value]


def validate(manifest: Any, where: str | Path = MANIFEST) -> None:
    """Check ``manifest`` against the schema :func:`manifest` produces; ``where`` names it in the error.

    Raises:
      BundleError: listing every problem (missing keys, bad artifact entries, a wrong eval file or format).
    """
    if not isinstance(manifest, dict):
        raise BundleError(f"{where}: not a bundle manifest: not a JSON object")
    problems = [f"lacks {key!r}" for key in MANIFEST_KEYS if key not in manifest]
    if "format" in manifest and manifest["format"] != FORMAT:
        problems.append(f"format {manifest['format']!r} is not {FORMAT}")
    artifacts = manifest.get("artifacts", [])
    if not isinstance(artifacts, list) or ("artifacts" in manifest and not artifacts):
        problems.append("artifacts is not a non-empty list")
    else:
        for index, entry in enumerate(artifacts):
            problems += _artifact_problems(index, entry)
    problems += _part_problems(manifest, "eval", EVAL_KEYS) + _part_problems(manifest, "schema", SCHEMA_KEYS)
    eval_set, schema = manifest.get("eval"), manifest.get("schema")
    if isinstance(eval_set, dict) and eval_set.get("file", EVAL_SET) != EVAL_SET:
        problems.append(f"eval.file {eval_set['file']!r} is not {EVAL_SET!r}")
    vocabularies = schema.get("vocabularies", {}) if isinstance(schema, dict) else {}
    if not (isinstance(vocabularies, dict) and all(isinstance(v, str) and _inside(v) for v in vocabularies.values())):
        problems.append("schema.vocabularies is not a mapping of features to files inside the bundle")
    if problems:
        raise BundleError(f"{where}: not a valid bundle manifest: {'; '.join(problems)}")


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of the bundle in ``folder``, checked for what a reader relies on.

    Only ``artifacts[*].file`` is required, and each must name a file inside ``folder``: a
    manifest comes with a downloaded bundle and may not point a reader elsewhere.

    Raises:
      BundleError: the manifest is missing, not JSON, has no artifact files, or points outside the folder.
    """
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise BundleError(f"{path}: no such file (the bundle manifest)")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"{path}: not valid JSON ({exc})") from None
    artifacts = data.get("artifacts") if isinstance(data, dict) else None
    if not (isinstance(artifacts, list) and all(isinstance(_file_of(a), str) for a in artifacts)):
        raise BundleError(f"{path}: not a bundle manifest with artifacts[*].file")
    for entry in artifacts:
        if not _inside(entry["file"]):
            raise BundleError(f"{path}: artifact file {entry['file']!r} points outside the bundle folder; refused")
    return data


def write_manifest(folder: str | Path, manifest: dict[str, Any]) -> Path:
    """Validate ``manifest`` and write it atomically into ``folder``; returns its path.

    Raises:
      BundleError: the manifest breaks the schema (nothing is written then).
    """
    path = Path(folder) / MANIFEST
    validate(manifest, path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    return path
