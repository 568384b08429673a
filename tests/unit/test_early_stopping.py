"""Validation-driven training: the tracker's rule on scripted sequences, and `train.fit` keeping the best epoch."""

from __future__ import annotations

import numpy as np
import pytest

from edgerec.early_stopping import Tracker


@pytest.mark.parametrize(
    "values, patience, stops_after, best_epoch",
    [
        ([0.1, 0.3, 0.2, 0.25, 0.29], 2, 4, 2),  # two epochs without beating 0.3: stop after epoch 4
        ([0.1, 0.2, 0.3, 0.4], 2, None, 4),  # always improving: runs to the end
        ([0.5, 0.5, 0.5], 1, 2, 1),  # a tie is no gain
        ([0.3, 0.1, 0.35, 0.2, 0.2, 0.1], 3, 6, 3),  # a late gain resets the count
    ],
)
def test_tracker_stops_after_patience_epochs_without_gain_and_keeps_the_best(values, patience, stops_after, best_epoch):
    # setup
    tracker = Tracker(patience)
    stopped = None
    # execute: the "weights" of epoch e are e, so the kept snapshot names its epoch
    for epoch, value in enumerate(values, start=1):
        if tracker.update(value, lambda epoch=epoch: epoch):
            stopped = epoch
            break
    # assert
    assert stopped == stops_after
    assert tracker.best_epoch == best_epoch and tracker.best_weights == best_epoch
    assert tracker.best_value == max(values[: stopped or len(values)])


def test_tracker_lower_is_better_and_min_delta():
    tracker = Tracker(patience=1, higher_is_better=False, min_delta=0.01)
    assert not tracker.update(0.50, lambda: "a")
    assert tracker.update(0.495, lambda: "b")  # better by less than min_delta: not a gain, patience 1 spent
    assert tracker.best_weights == "a" and tracker.best_value == 0.50


def test_fit_restores_the_weights_of_the_best_validation_epoch(monkeypatch):
    from edgerec import train
    from edgerec._keras import keras
    from edgerec.data.task import RankingTask
    from edgerec.models.zoo import build_ranker
    from edgerec.recipe import DataConfig, ModelConfig, TrainConfig
    from tests.utils import tiny_interactions

    # setup: a task with validation, a scripted validation metric (best at epoch 2), the weights after each epoch
    tiny_task = RankingTask(tiny_interactions(), DataConfig(negatives_per_positive=2, eval_candidates=10), seed=0,
                            validation=True)
    model = build_ranker(tiny_task.features, ModelConfig(embedding_dim=4, hidden=(8,)), "m", seed=0)
    train.compile_ranker(model, TrainConfig(max_epochs=5, patience=2, batch_size=64, learning_rate=0.05))
    scripted = iter([0.2, 0.4, 0.3, 0.35, 0.1])
    monkeypatch.setattr(train, "evaluate_on", lambda scored, data: {"ndcg@10": next(scripted)})
    after = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            after.append([w.copy() for w in self.model.get_weights()])

    config = TrainConfig(max_epochs=5, patience=2, batch_size=64, learning_rate=0.05)
    # execute
    curve = train.fit(model, tiny_task, config, config.max_epochs, "m", lambda _: None, callbacks=[Record()])
    # assert: stopped after epoch 4 (two epochs without beating 0.4), epoch 2's weights are back
    assert [e["validation"] for e in curve.epochs] == [0.2, 0.4, 0.3, 0.35]
    assert curve.best_epoch == 2 and curve.stopped == "patience" and len(after) == 4
    for kept, epoch_two in zip(model.get_weights(), after[1]):
        np.testing.assert_array_equal(kept, epoch_two)
    assert any(not np.array_equal(a, b) for a, b in zip(after[1], after[3]))  # training did move them
