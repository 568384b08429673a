import numpy as np
import pytest

from edgerec._keras import keras, tf
from edgerec.distill.distiller import Distiller
from edgerec.distill.losses import LogitsDistillation


def _numpy_soft_bce(teacher, student, t):
    p = 1 / (1 + np.exp(-teacher / t))
    q = 1 / (1 + np.exp(-student / t))
    return t * t * np.mean(-(p * np.log(q) + (1 - p) * np.log(1 - q)))


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
def test_logits_distillation_matches_numpy_formula(temperature):
    # setup
    rng = np.random.default_rng(0)
    teacher, student = rng.normal(size=(8, 1)) * 3, rng.normal(size=(8, 1)) * 3
    # execute
    loss = LogitsDistillation(temperature).compute_loss(tf.constant(teacher), tf.constant(student))
    # assert
    assert float(loss) == pytest.approx(_numpy_soft_bce(teacher, student, temperature), rel=1e-6)


def test_single_logit_is_not_softmaxed():
    # A softmax over one logit is always 1, which would make the loss constant; ours is not.
    loss = LogitsDistillation(2.0)
    a = float(loss.compute_loss(tf.constant([[3.0]]), tf.constant([[3.0]])))
    b = float(loss.compute_loss(tf.constant([[3.0]]), tf.constant([[-3.0]])))
    assert b > a


def test_temperature_must_be_positive():
    with pytest.raises(ValueError, match=r"temperature must be > 0. Received: temperature=0"):
        LogitsDistillation(0)


def test_distiller_trains_student_and_leaves_teacher_frozen(tiny_task, tiny_teacher, tiny_student):
    # setup
    student = keras.models.clone_model(tiny_student)
    student.set_weights(tiny_student.get_weights())
    teacher_before = [w.copy() for w in tiny_teacher.get_weights()]
    student_before = [w.copy() for w in student.get_weights()]
    distiller = Distiller(tiny_teacher, student, LogitsDistillation(2.0), alpha=0.5)
    distiller.compile(optimizer=keras.optimizers.Adam(0.01))
    features, labels = tiny_task.train_epoch(0)
    # execute
    history = distiller.fit(features, labels, batch_size=64, epochs=3, verbose=0)
    # assert
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    for before, after in zip(teacher_before, tiny_teacher.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert any(not np.array_equal(b, a) for b, a in zip(student_before, student.get_weights()))
