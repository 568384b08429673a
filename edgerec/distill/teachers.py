"""Teachers made of other models: an ensemble, and a teacher-assistant chain.

- `ensemble_teacher`: the mean of several teachers' logits as one functional model, usable
  wherever a teacher is (the Distiller freezes it whole). Averaging logits of differently
  biased teachers gives a lower-variance soft target (the ensemble is what Hinton et al.,
  2015, distil into a single model).
- `distill_chain`: teacher -> assistant(s) -> student (Mirzadeh et al., "Improved Knowledge
  Distillation via Teacher Assistant", AAAI 2020): when the size gap is large, a mid-sized
  assistant distilled from the teacher supervises the student better than the teacher does.
  Orchestration only: each link is trained by the `distill` function the caller gives (the
  pipeline's, with its data and budget).
"""

from __future__ import annotations

from typing import Callable, Sequence

from edgerec._keras import keras

Distil = Callable[[keras.Model, keras.Model], None]  # trains the second model under the first


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


def distill_chain(teacher: keras.Model, chain: Sequence[keras.Model], distill: Distil) -> keras.Model:
    """Distils chain[0] from `teacher`, then each next model from the one before; returns the last."""
    if not chain:
        raise ValueError("distill_chain needs at least one model to train. Received: []")
    supervisor = teacher
    for model in chain:
        distill(supervisor, model)
        supervisor = model
    return supervisor
