"""Choose a TFLite interpreter package and describe a loaded model's tensors.

Devices carry different interpreter packages: ``ai_edge_litert`` (current),
``tflite_runtime`` (older Pi images) or, on a workstation, full TensorFlow.
All three expose the same ``Interpreter`` class, so the rest of
``device_bench`` only ever talks to the object returned by :func:`load`.
TensorFlow is imported only when nothing lighter is installed, or when asked.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from device_bench.errors import EdgerecError

# Preference order for the automatic choice: name -> (module, attribute path of Interpreter, distribution).
# TensorFlow's public ``tf.lite`` is an attribute of the top-level module;
# ``import tensorflow.lite`` yields the internal source package, which has no Interpreter.
RUNTIMES: dict[str, tuple[str, str, str]] = {
    "ai_edge_litert": ("ai_edge_litert.interpreter", "Interpreter", "ai-edge-litert"),
    "tflite_runtime": ("tflite_runtime.interpreter", "Interpreter", "tflite-runtime"),
    "tensorflow": ("tensorflow", "lite.Interpreter", "tensorflow"),
}


class RuntimeUnavailableError(EdgerecError, RuntimeError):
    """The requested interpreter package is unknown or cannot be imported."""


@dataclass(frozen=True)
class RuntimeInfo:
    """Which interpreter ran an artifact; stored in every result row."""

    name: str
    version: str | None


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output, named by its signature key where the model has one."""

    name: str
    index: int
    dtype: np.dtype
    shape_signature: tuple[int, ...]  # -1 marks a dynamic dimension
    scale: float  # 0.0 when the tensor is not quantised
    zero_point: int


def installed() -> list[str]:
    """Interpreter packages present on this machine (found, not imported)."""
    return [name for name in RUNTIMES if importlib.util.find_spec(name) is not None]


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=None)
def resolve(runtime: str | None = None) -> tuple[type, RuntimeInfo]:
    """Import the interpreter class: ``runtime`` by name, else the first that imports.

    Cached, so calling it again (e.g. inside a timed model load) costs nothing.
    """
    if runtime is not None and runtime not in RUNTIMES:
        raise RuntimeUnavailableError(
            f"Unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}. "
            f"Installed: {', '.join(installed()) or 'none'}."
        )
    candidates = [runtime] if runtime is not None else list(RUNTIMES)
    errors = []
    for name in candidates:
        module_name, attribute, distribution = RUNTIMES[name]
        try:
            interpreter_class = functools.reduce(getattr, attribute.split("."), importlib.import_module(module_name))
        except (ImportError, AttributeError) as exc:
            errors.append(f"{name}: {exc}")
            continue
        return interpreter_class, RuntimeInfo(name, _version(distribution))
    raise RuntimeUnavailableError(
        f"No usable TFLite interpreter ({'; '.join(errors)}). "
        f"Installed: {', '.join(installed()) or 'none'}. Install one, e.g. `pip install ai-edge-litert`."
    )


def _resolver(interpreter_class: type, name: str) -> Any:
    """``OpResolverType.<name>`` of the interpreter's package."""
    member = getattr(getattr(sys.modules[interpreter_class.__module__], "OpResolverType", None), name, None)
    if member is None:
        raise RuntimeUnavailableError(f"{interpreter_class.__module__} has no OpResolverType.{name}")
    return member


def _without_default_delegates(interpreter_class: type) -> Any:
    """The ``OpResolverType`` member that keeps XNNPACK (the default CPU delegate) out.

    All three packages define ``OpResolverType`` in the module that defines
    ``Interpreter`` (for TensorFlow, ``tensorflow.lite.python.interpreter``).
    """
    resolver_types = getattr(sys.modules[interpreter_class.__module__], "OpResolverType", None)
    member = getattr(resolver_types, "BUILTIN_WITHOUT_DEFAULT_DELEGATES", None)
    if member is None:
        raise RuntimeUnavailableError(
            f"{interpreter_class.__module__} cannot disable XNNPACK (no OpResolverType."
            "BUILTIN_WITHOUT_DEFAULT_DELEGATES); run with XNNPACK on."
        )
    return member


def load(
    path: str | Path, num_threads: int = 1, runtime: str | None = None, xnnpack: bool = True,
    reference_kernels: bool = False,
) -> tuple[Any, RuntimeInfo]:
    """Construct an interpreter for the ``.tflite`` at ``path`` (tensors not yet allocated).

    ``xnnpack=False`` builds the interpreter with the builtin kernels only, to
    measure what the XNNPACK delegate buys (or to rule it out when a model
    misbehaves under it). ``reference_kernels=True`` runs TFLite's reference
    kernels (no delegate, no optimized GEMM): slow, but the specification of each
    op, for when the optimized kernels of an interpreter build crash (tflite-runtime
    2.14's int8 FULLY_CONNECTED at batch > 1 on aarch64 under qemu, see the README).
    """
    interpreter_class, info = resolve(runtime)
    options: dict[str, Any] = {"model_path": str(path), "num_threads": num_threads}
    if reference_kernels:
        options["experimental_op_resolver_type"] = _resolver(interpreter_class, "BUILTIN_REF")
    elif not xnnpack:
        options["experimental_op_resolver_type"] = _without_default_delegates(interpreter_class)
    return interpreter_class(**options), info


def _strip_tensor_name(name: str) -> str:
    # Without a signature, converted Keras inputs are named "serving_default_<name>:0".
    name = name.rsplit(":", 1)[0]
    return name.removeprefix("serving_default_")


def _spec(name: str, detail: dict) -> TensorSpec:
    scale, zero_point = detail["quantization"]
    return TensorSpec(
        name=name,
        index=int(detail["index"]),
        dtype=np.dtype(detail["dtype"]),
        shape_signature=tuple(int(d) for d in detail["shape_signature"]),
        scale=float(scale),
        zero_point=int(zero_point),
    )


def input_specs(interpreter: Any) -> list[TensorSpec]:
    """The model inputs, named as the eval set names them (Keras input names).

    A converted Keras model has one signature whose keys are the Keras input
    names; the runner that exposes them must be dropped before any resize,
    because the interpreter refuses to reallocate while it is referenced.
    """
    if len(interpreter.get_signature_list()) == 1:
        runner = interpreter.get_signature_runner()
        by_name = runner.get_input_details()
        del runner
        return sorted((_spec(name, d) for name, d in by_name.items()), key=lambda s: s.index)
    return [_spec(_strip_tensor_name(d["name"]), d) for d in interpreter.get_input_details()]


def output_spec(interpreter: Any) -> TensorSpec:
    """The single output (a logit per row); several outputs are an error."""
    details = interpreter.get_output_details()
    if len(details) != 1:
        names = [d["name"] for d in details]
        raise ValueError(f"Expected a model with one output (a logit), found {len(details)}: {names}")
    return _spec(details[0]["name"], details[0])


def resize(interpreter: Any, specs: list[TensorSpec], batch: int) -> None:
    """Give every input the batch dimension ``batch`` and allocate tensors.

    Non-batch dimensions keep their declared size (a dynamic one becomes 1).
    """
    for spec in specs:
        rest = [max(d, 1) for d in spec.shape_signature[1:]]
        interpreter.resize_tensor_input(spec.index, [batch, *rest])
    interpreter.allocate_tensors()


def dequantize(values: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Real values of an output tensor; full-integer models emit int8/uint8 logits."""
    if spec.scale == 0.0:
        return values.astype(np.float64)
    return (values.astype(np.float64) - spec.zero_point) * spec.scale
