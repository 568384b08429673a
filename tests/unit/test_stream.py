"""The streaming task: the pipeline yields exactly the training positives, never a held-out one, with
negatives drawn in the pipeline; held-out and validation users are disjoint and their candidates
exclude what they saw."""

import numpy as np
import pandas as pd
import pytest

from edgerec.data import prepared, shards
from edgerec.data.schema import DataError
from edgerec.data.stream import StreamingTask
from edgerec.recipe import DataConfig
from tests.utils import tiny_interactions

CONFIG = DataConfig(negatives_per_positive=2, eval_candidates=10)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("streamed")
    prepared.save(tiny_interactions(users=60, items=40, per_user=8), path, shard_rows=100)
    return path


def _pairs(user, item):
    return set(zip(np.asarray(user).tolist(), np.asarray(item).tolist()))


def _log(folder):
    data = prepared.load(folder)
    return data.user + 1, data.item + 1, data.timestamp  # model ids: 0 is OOV


def test_the_stream_holds_every_training_positive_and_no_held_out_one(folder):
    # setup
    task = StreamingTask(folder, CONFIG, seed=0)
    user, item, _ = _log(folder)
    validation = task.validation.ranking
    held = _pairs(task.holdout_user, task.holdout_item)
    held |= _pairs(validation["user_id"][:: task.validation.num_candidates],
                   validation["item_id"][:: task.validation.num_candidates])
    per_batch = task.positives_per_batch(64)
    # execute: twenty passes' worth of batches (the shuffle buffer mixes passes: a pair is missed by
    # chance with probability about e^-20)
    seen = set()
    for features, labels in task.dataset(64).take(20 * len(user) // per_batch):
        positive = labels.numpy() == 1
        seen |= _pairs(features["user_id"].numpy()[positive], features["item_id"].numpy()[positive])
    # assert
    assert len(held) == task.held_out + len(task.validation.labels) // (1 + task.negatives_per_positive)
    assert seen == _pairs(user, item) - held
    assert task.train_positives == len(user) - len(held)


def test_a_batch_has_its_negatives_and_the_side_features_of_its_rows(folder):
    task = StreamingTask(folder, CONFIG, seed=0)
    data = prepared.load(folder)
    features, labels = next(iter(task.dataset(64)))
    labels = labels.numpy()
    positives = task.positives_per_batch(64)
    assert len(labels) == positives * (1 + task.negatives_per_positive) and labels.sum() == positives
    items = features["item_id"].numpy()
    assert items.min() >= 1 and items.max() < task.data.num_items  # never the OOV item
    np.testing.assert_array_equal(features["item_category"].numpy(),
                                  np.r_[0, data.item_features["item_category"] + 1][items])


def test_held_out_users_are_evaluated_on_their_latest_interaction_among_unseen_candidates(folder):
    # setup
    task = StreamingTask(folder, CONFIG, seed=0)
    user, item, time = _log(folder)
    # assert
    val_users = set(task.validation.ranking["user_id"].tolist())
    assert not val_users & set(task.holdout_user.tolist())
    for u, target, candidates in zip(task.holdout_user, task.holdout_item, task.candidates):
        mine = user == u
        assert target == item[mine][np.argmax(time[mine])] and candidates[0] == target
        assert not set(candidates[1:].tolist()) & set(item[mine].tolist())


def test_the_same_seed_gives_the_same_task_and_stream(folder):
    one, two = StreamingTask(folder, CONFIG, seed=3), StreamingTask(folder, CONFIG, seed=3)
    np.testing.assert_array_equal(one.candidates, two.candidates)
    (a, _), (b, _) = next(iter(one.dataset(64))), next(iter(two.dataset(64)))
    np.testing.assert_array_equal(a["item_id"].numpy(), b["item_id"].numpy())
    assert not np.array_equal(StreamingTask(folder, CONFIG, seed=4).candidates, one.candidates)


def test_workers_take_slices_of_the_batches_one_process_trains_on(folder):
    task = StreamingTask(folder, CONFIG, seed=0)
    whole = list(task.dataset(63).take(5))  # 21 positives: shares of 10 and 11
    slices = [list(task.dataset(63, workers=2, worker=w).take(5)) for w in (0, 1)]
    k = task.negatives_per_positive
    for (features, labels), parts in zip(whole, zip(*slices)):
        per = len(labels) // (1 + k)  # positives of the global batch, then their negatives
        for name in features:
            one = features[name].numpy()
            positives, negatives = one[:per], one[per:].reshape(per, k)
            halves = [part[0][name].numpy() for part in parts]
            cut = [per // 2, per - per // 2]  # positives of each worker: shares differ by at most one
            assert [len(half) for half in halves] == [c * (1 + k) for c in cut]
            np.testing.assert_array_equal(np.r_[halves[0][:cut[0]], halves[1][:cut[1]]], positives)
            np.testing.assert_array_equal(np.r_[halves[0][cut[0]:], halves[1][cut[1]:]], negatives.reshape(-1))


def test_a_folder_that_is_not_prepared_says_how_to_prepare_it(tmp_path):
    with pytest.raises(DataError, match=rf"{tmp_path}: not a prepared dataset \(no schema.json\); prepare it first"):
        StreamingTask(tmp_path, CONFIG, seed=0)


def test_only_leave_last_out_streams(folder):
    with pytest.raises(DataError, match="data.split 'random': a streamed log holds out each evaluated user's latest"):
        StreamingTask(folder, DataConfig(split="random"), seed=0)


def test_an_id_outside_the_vocabulary_names_the_shard_and_row(folder, tmp_path):
    # setup: a copy whose second shard holds an item id the vocabulary does not have
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    part = shards.files(copy / prepared.INTERACTIONS)[1]
    frame = pd.read_parquet(part)
    frame.loc[7, "item"] = 40
    frame.to_parquet(part, index=False)
    # execute / assert
    with pytest.raises(DataError, match=rf"{part}: row 107: item id 40 is outside the vocabulary \(0..39"):
        StreamingTask(copy, CONFIG, seed=0)
