"""A tf_keras Model that trains a student under a frozen teacher.

loss = alpha * BCE(label, sigmoid(z_s)) + (1 - alpha) * distillation(z_t, z_s)

The student may be a plain model or one wrapped by a compression step (pruning wrappers,
QAT fake-quant): the distiller only calls it, so the teacher keeps supervising every
fine-tuning stage. TFMOT's `UpdatePruningStep` finds the student's pruned layers because it
recurses into sub-models of the fitted model.
"""

from __future__ import annotations

from edgerec._keras import keras, tf
from edgerec.distill.losses import DistillationLoss


class Distiller(keras.Model):
    def __init__(self, teacher: keras.Model, student: keras.Model, loss: DistillationLoss, alpha: float):
        super().__init__(name="distiller")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1]. Received: alpha={alpha}")
        self.teacher = teacher
        self.student = student
        self.distillation_loss = loss
        self.alpha = alpha
        teacher.trainable = False
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def train_step(self, data):
        x, y = data
        teacher_logits = self.teacher(x, training=False)
        with tf.GradientTape() as tape:
            student_logits = self.student(x, training=True)
            hard = tf.reduce_mean(
                tf.nn.sigmoid_cross_entropy_with_logits(
                    labels=tf.cast(tf.reshape(y, [-1]), student_logits.dtype),
                    logits=tf.reshape(student_logits, [-1]),
                )
            )
            soft = self.distillation_loss.compute_loss(teacher_logits, student_logits)
            loss = self.alpha * hard + (1.0 - self.alpha) * soft
            if self.student.losses:
                loss += tf.add_n(self.student.losses)
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}
