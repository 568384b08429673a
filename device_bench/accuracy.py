"""On-device accuracy: run the artifact over the eval set and score its logits.

Quantisation error shows up here and nowhere else, so the numbers come from
the interpreter itself, with the same metric code ``edgerec`` uses for Keras.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from device_bench import metrics, runtime
from device_bench.evalset import EvalSet
from device_bench.inputs import take_rows

BATCH_SIZE = 1024


def predict(interpreter: Any, columns: dict[str, np.ndarray], batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Logits for every row of ``columns`` (input name -> column), shape (N,).

    Runs fixed-size batches; the last one is padded by repeating the final row
    and the padding's outputs are dropped, so the interpreter is sized once.
    """
    specs = runtime.input_specs(interpreter)
    output = runtime.output_spec(interpreter)
    n = next(iter(columns.values())).shape[0]
    batch_size = min(batch_size, n)
    runtime.resize(interpreter, specs, batch_size)
    logits = np.empty(n, dtype=np.float64)
    for start in range(0, n, batch_size):
        index = np.minimum(np.arange(start, start + batch_size), n - 1)
        for tensor_index, value in take_rows(specs, columns, index).items():
            interpreter.set_tensor(tensor_index, value)
        interpreter.invoke()
        values = interpreter.get_tensor(output.index).reshape(-1)
        if values.shape[0] != batch_size:
            raise ValueError(
                f"Expected one logit per row ({batch_size}), the output has {values.shape[0]} values."
            )
        stop = min(start + batch_size, n)
        logits[start:stop] = runtime.dequantize(values, output)[: stop - start]
    return logits


def score(
    interpreter: Any, evalset: EvalSet, batch_size: int = BATCH_SIZE
) -> tuple[np.ndarray, np.ndarray | None]:
    """Logits for the pointwise rows, shape (N,), and the ranking rows, shape (U, C) or None.

    The ranking scores are returned (not only their metrics) so that the
    parent can compare an artifact's per-user ordering with a reference's.
    """
    pointwise = predict(interpreter, evalset.pointwise, batch_size)
    if not evalset.num_candidates:
        return pointwise, None
    return pointwise, predict(interpreter, evalset.ranking, batch_size).reshape(-1, evalset.num_candidates)


def evaluate(interpreter: Any, evalset: EvalSet, batch_size: int = BATCH_SIZE) -> dict[str, float]:
    """``metrics.score`` of the artifact's logits: the ranking metrics are absent when the eval set
    has no ranking part."""
    return metrics.score(evalset.labels, *score(interpreter, evalset, batch_size))
