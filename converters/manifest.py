"""Manifest entries: what each artifact is, how it was made, and how well it scored.

`manifest.json` is read by `edgerec bench` (file list, sha256) and by apps (input names,
dtypes, vocabularies), so it holds facts about the bytes on disk, taken from the file itself.
"""

from __future__ import annotations

from pathlib import Path

from device_bench import runtime
from device_bench.run import sha256


def tensor_facts(path: Path) -> dict:
    """Input and output names, dtypes and shapes as the interpreter sees them."""
    interpreter, _ = runtime.load(path)

    def fact(spec):
        return {"name": spec.name, "dtype": spec.dtype.name, "shape": list(spec.shape_signature)}

    return {
        "inputs": [fact(s) for s in runtime.input_specs(interpreter)],
        "outputs": [fact(runtime.output_spec(interpreter))],
    }


def artifact_entry(path: Path, mode: str, role: str, produced_by: dict, keras_metrics: dict, parity: dict) -> dict:
    return {
        "file": path.name,
        "role": role,
        "mode": mode,
        "sha256": sha256(path),
        "bytes": path.stat().st_size,
        **tensor_facts(path),
        "output_kind": "logit",
        "produced_by": produced_by,
        "keras_metrics": keras_metrics,
        "parity": parity,
    }
