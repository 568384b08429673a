"""Manifest entries: what each artifact is, how it was made, and how well it scored.

The manifest is read by `edgerec bench` (file list, sha256) and by apps (input names,
dtypes, vocabularies), so it holds facts about the bytes on disk, taken from the file itself:
here the tensors as the interpreter sees them; the entry's schema is `device_bench.bundle`'s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from converters.retrieval import Retrieval, float_ops
from device_bench import bundle, retrieval, runtime


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


def _signature_facts(interpreter, signature: str) -> dict:
    """A signature's inputs and outputs: name, dtype, shape and, where quantized, scale and zero point."""
    runner = interpreter.get_signature_runner(signature)

    def facts(details: dict) -> list[dict]:
        out = []
        for name, detail in sorted(details.items()):
            scale, zero_point = detail["quantization"]
            fact = {"name": name, "dtype": np.dtype(detail["dtype"]).name,
                    "shape": [int(d) for d in detail["shape_signature"]]}
            if scale:
                fact.update(scale=float(scale), zero_point=int(zero_point))
            out.append(fact)
        return out

    return {"inputs": facts(runner.get_input_details()), "outputs": facts(runner.get_output_details())}


# why an op of a full-integer retrieval artifact outputs float32
FLOAT_OPS = {"DEQUANTIZE": "the scores leave as float32 logits, as every edgerec artifact's output"}


def retrieval_entry(path: Path, produced_by: dict, keras_metrics: dict, parity: dict, info: Retrieval,
                    oov_index: int) -> dict:
    """The manifest entry of a retrieval artifact: its `recommend` tensors as `inputs` / `outputs`, both
    signatures under `signatures`, and what `recommend` returns under `retrieval` (K, the catalogue,
    the OOV rule), all read from the file except K's meaning."""
    interpreter, _ = runtime.load(path)
    signatures = {name: _signature_facts(interpreter, name) for name in (retrieval.RECOMMEND, retrieval.SCORE)}
    floats = {op: FLOAT_OPS.get(op, "left in float by the converter") for op in float_ops(path.read_bytes())}
    extra = {
        "signatures": signatures,
        "retrieval": {
            "top_k": retrieval.top_k(interpreter),
            "num_items": info.num_items,
            "items": f"{retrieval.ITEMS}: indices into the item_id vocabulary, best first; the OOV item "
                     f"{oov_index} is never recommended",
            "scores": f"{retrieval.SCORES}: logits (apply sigmoid for a probability); score gives the same "
                      f"logit for an item as recommend",
            "not_filtered": "recommend does not know what the user already has: drop those items from its "
                            "list, so ask for K >= the items you show + the items you drop",
            "float_ops": floats,
        },
    }
    return bundle.artifact_entry(path, bundle.RETRIEVAL, "int8", signatures[retrieval.RECOMMEND], produced_by,
                                 keras_metrics, parity, extra)
