"""Manifest entries: what each artifact is, how it was made, and how well it scored.

The manifest is read by `edgerec bench` (file list, sha256) and by apps (input names,
dtypes, vocabularies), so it holds facts about the bytes on disk, taken from the file itself:
here the tensors as the interpreter sees them; the entry's schema is `device_bench.bundle`'s.
"""

from __future__ import annotations

from pathlib import Path

from device_bench import bundle, runtime


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
    """The manifest entry of the converted artifact at `path`, its tensors read by the interpreter."""
    return bundle.artifact_entry(path, role, mode, tensor_facts(path), produced_by, keras_metrics, parity)
