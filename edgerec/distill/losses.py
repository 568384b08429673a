"""Distillation losses behind one interface: `compute_loss(teacher_outputs, student_outputs)`.

Trap for recommenders: a softmax over a single CTR logit is always 1, so the Hinton recipe
cannot be applied as is. For a binary head the soft target is the Bernoulli distribution
sigmoid(z_t / T) and the student's is sigmoid(z_s / T); the loss is their binary
cross-entropy, scaled by T^2 so its gradient magnitude does not shrink as T grows
(Hinton et al., "Distilling the Knowledge in a Neural Network", 2015).
"""

from __future__ import annotations

from edgerec._keras import tf


class DistillationLoss:
    """Base class: maps (teacher outputs, student outputs) to a scalar loss."""

    def compute_loss(self, teacher_outputs: tf.Tensor, student_outputs: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}


class LogitsDistillation(DistillationLoss):
    """T^2 * BCE(sigmoid(z_t / T), sigmoid(z_s / T)), mean over the batch; inputs are logits."""

    def __init__(self, temperature: float = 2.0):
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0. Received: temperature={temperature}")
        self.temperature = float(temperature)

    def compute_loss(self, teacher_outputs: tf.Tensor, student_outputs: tf.Tensor) -> tf.Tensor:
        t = self.temperature
        soft_targets = tf.sigmoid(tf.reshape(teacher_outputs, [-1]) / t)
        student_logits = tf.reshape(student_outputs, [-1]) / t
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=soft_targets, logits=student_logits)
        return (t * t) * tf.reduce_mean(bce)

    def get_config(self) -> dict:
        return {"temperature": self.temperature}
