"""Keras vs TFLite: do they compute the same scores on real rows?

Run the written artifact with the device's interpreter code and compare its logits with the
Keras model's on the same rows. Float modes should agree to ~1e-5; int8 does not, so the
judge for int8 is the task metric on held-out data (recorded next to this), while the
logit error and the agreement of each user's top-10 show *how* quantization changed scores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device_bench import accuracy, runtime


def tflite_logits(path: Path, rows: dict[str, np.ndarray]) -> np.ndarray:
    interpreter, _ = runtime.load(path, num_threads=1)
    return accuracy.predict(interpreter, rows)


def compare(keras_logits: np.ndarray, tflite: np.ndarray, candidates_per_user: int | None = None) -> dict:
    """Logit error statistics and, for grouped candidate rows, mean top-10 overlap per user."""
    diff = np.abs(np.asarray(keras_logits, np.float64) - tflite)
    result = {
        "rows": int(diff.size),
        "max_abs_logit_diff": float(diff.max()),
        "mean_abs_logit_diff": float(diff.mean()),
    }
    if candidates_per_user:
        k = min(10, candidates_per_user)
        a = np.argsort(-keras_logits.reshape(-1, candidates_per_user), axis=1, kind="stable")[:, :k]
        b = np.argsort(-tflite.reshape(-1, candidates_per_user), axis=1, kind="stable")[:, :k]
        overlap = [len(np.intersect1d(x, y)) / k for x, y in zip(a, b)]
        result["top10_overlap"] = float(np.mean(overlap))
    return {key: float(f"{value:.4g}") if isinstance(value, float) else value for key, value in result.items()}
