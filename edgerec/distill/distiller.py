"""A tf_keras Model that trains a student under a frozen teacher.

loss = alpha * BCE(label, sigmoid(z_s)) + (1 - alpha) * sum_i w_i * distillation_i(teacher, student)
(candidate-group terms scaled to a training row's weight per item: see `losses.WeightedSum`)

The student may be a plain model or one wrapped by a compression step (pruning wrappers,
QAT fake-quant): the distiller only calls it, so the teacher keeps supervising every
fine-tuning stage. TFMOT's `UpdatePruningStep` finds the student's pruned layers because it
recurses into sub-models of the fitted model.

Losses that read intermediate layers (hint, embedding) make the distiller build auxiliary
sub-models of the teacher and of the student that expose those layers' outputs next to the
logit; they share the models' layers, so the teacher stays frozen and the gradient reaches the
student's own weights. The losses' projections are trained alongside the student and live in
the distiller, never in the student, so they are never exported.

Training data is `(features, y)`, or `((features, extras), y)` as built by `epoch_data`:
- `extras["groups"]`, for ranking distillation, maps each input name to an int32 array
  (groups, candidates): one user's candidate items per row (`RankingTask.candidate_groups`);
- `extras["teacher"]` and `extras["teacher_groups"]` are the teacher's logits on the rows and on
  the groups, when a `TeacherLogits` cache is given: the teacher then runs in the step only for
  the intermediate layers some loss reads (see `teacher_logits.py` for why).
"""

from __future__ import annotations

from edgerec import train
from edgerec._keras import keras, tf
from edgerec.data.task import CtrTask, RankingTask
from edgerec.distill.losses import CANDIDATES, SCORE, DistillationLoss, WeightedSum, layer_output
from edgerec.distill.teacher_logits import TeacherLogits


class Distiller(keras.Model):
    def __init__(
        self,
        teacher: keras.Model,
        student: keras.Model,
        loss: DistillationLoss,
        alpha: float,
        teacher_logits: TeacherLogits | None = None,
    ):
        super().__init__(name="distiller")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1]. Received: alpha={alpha}")
        if teacher_logits is not None and teacher_logits.teacher is not teacher:
            raise ValueError("teacher_logits were computed by another teacher than the one given")
        self.teacher = teacher
        self.student = student
        self.distillation_loss = loss if isinstance(loss, WeightedSum) else WeightedSum([(1.0, loss)])
        self.alpha = alpha
        teacher.trainable = False
        self.distillation_loss.build(teacher, student)
        self.projections = self.distillation_loss.projections
        teacher_keys, student_keys = self.distillation_loss.keys
        self.teacher_logits = teacher_logits
        self._needs_teacher_score = SCORE in teacher_keys
        teacher_keys = teacher_keys - ({SCORE, CANDIDATES} if teacher_logits is not None else {CANDIDATES})
        self._teacher_outputs = _named_outputs(teacher, teacher_keys) if teacher_keys else None
        self._student_outputs = _named_outputs(student, student_keys | {SCORE})  # SCORE: the hard-label loss
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def candidates(self) -> int:
        """Items per candidate group the training data must provide (0: no groups)."""
        return self.distillation_loss.candidates

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def epoch_data(self, task: RankingTask | CtrTask, epoch: int, batch_size: int) -> dict:
        """`model.fit` keyword arguments for one epoch: rows, plus the groups and cached teacher logits the losses need."""
        features, labels = task.train_epoch(epoch)
        extras = {}
        if self.teacher_logits is not None and self._needs_teacher_score:
            extras["teacher"] = self.teacher_logits.rows(epoch)
        if not self.candidates:
            return {"x": (features, extras) if extras else features, "y": labels, "batch_size": batch_size}
        groups = {"groups": task.candidate_groups(epoch, self.candidates)}
        if self.teacher_logits is not None:
            groups["teacher_groups"] = self.teacher_logits.groups(epoch, self.candidates)
        return {"x": train.with_candidate_groups((features, extras), labels, groups, batch_size)}

    def train_step(self, data):
        x, y = data
        extras = {}
        if isinstance(x, tuple):
            x, extras = x
        teacher_outputs = {} if self._teacher_outputs is None else self._teacher_outputs(x, training=False)
        if "teacher" in extras:
            teacher_outputs[SCORE] = extras["teacher"]
        if "teacher_groups" in extras:
            teacher_outputs[CANDIDATES] = extras["teacher_groups"]
        elif "groups" in extras:
            teacher_outputs[CANDIDATES] = _group_logits(self.teacher, extras["groups"], training=False)
        groups = extras.get("groups")
        with tf.GradientTape() as tape:
            student_outputs = self._student_outputs(x, training=True)
            if groups is not None:
                student_outputs[CANDIDATES] = _group_logits(self.student, groups, training=True)
            student_logits = student_outputs[SCORE]
            hard = tf.reduce_mean(
                tf.nn.sigmoid_cross_entropy_with_logits(
                    labels=tf.cast(tf.reshape(y, [-1]), student_logits.dtype),
                    logits=tf.reshape(student_logits, [-1]),
                )
            )
            soft = self.distillation_loss.compute_loss(teacher_outputs, student_outputs)
            loss = self.alpha * hard + (1.0 - self.alpha) * soft
            if self.student.losses:
                loss += tf.add_n(self.student.losses)
        variables = self.student.trainable_variables + [w for p in self.projections for w in p.trainable_weights]
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}


def _named_outputs(model: keras.Model, keys: set[str]):
    """A callable (x, training) -> {key: tensor} with the logit under SCORE (if asked) and each named layer's output.

    Only the asked outputs are computed: a teacher whose logit is cached runs only up to the
    layers the losses read.
    """
    layers = sorted(keys - {SCORE, CANDIDATES})
    if not layers:
        return lambda x, training: {SCORE: model(x, training=training)}
    names = ([SCORE] if SCORE in keys else []) + layers
    outputs = ([model.outputs[0]] if SCORE in keys else []) + [layer_output(model, name) for name in layers]
    extractor = keras.Model(model.inputs, outputs, name=f"{model.name}_outputs")

    def named(x, training):
        values = extractor(x, training=training)
        return dict(zip(names, values if len(names) > 1 else [values]))

    return named


def _group_logits(model: keras.Model, groups: dict, training: bool) -> tf.Tensor:
    """Logits of (groups, candidates) id arrays, scored as one flat batch, shape (groups, candidates)."""
    shape = tf.shape(next(iter(groups.values())))
    flat = {name: tf.reshape(ids, [-1]) for name, ids in groups.items()}
    return tf.reshape(model(flat, training=training), shape)
