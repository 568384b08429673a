"""A teacher made of other models: the ensemble behind `distill.ensemble`.

- `ensemble_teacher`: the mean of several teachers' logits as one functional model, usable
  wherever a teacher is (the Distiller freezes it whole). Averaging logits of differently
  biased teachers gives a lower-variance soft target (the ensemble is what Hinton et al.,
  2015, distil into a single model).
"""

from __future__ import annotations

from typing import Sequence

from edgerec._keras import keras


def ensemble_teacher(teachers: Sequence[keras.Model], name: str = "ensemble") -> keras.Model:
    """A model whose "score" logit is the mean of `teachers`' logits; they must share inputs."""
    if len(teachers) < 2:
        raise ValueError(f"an ensemble needs at least 2 teachers. Received: {len(teachers)}")
    input_names = [sorted(t.input_names) for t in teachers]
    if any(names != input_names[0] for names in input_names):
        raise ValueError(f"ensemble teachers must take the same inputs. Received: {input_names}")
    model_names = [t.name for t in teachers]
    if len(set(model_names)) != len(model_names):
        raise ValueError(f"ensemble teachers need distinct model names. Received: {model_names}")
    inputs = {n: keras.Input(shape=(), dtype="int32", name=n) for n in teachers[0].input_names}
    score = keras.layers.Average(name="score")([t(inputs) for t in teachers])
    return keras.Model(inputs=inputs, outputs=score, name=name)
