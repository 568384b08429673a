import numpy as np
import pytest

from edgerec.data import synthetic
from edgerec.data.files import Columns, load_interactions
from edgerec.data.negatives import (
    AUTO_NEGATIVES, AUTO_ROWS_PER_EPOCH, PositiveSet, item_weights, negatives_per_positive, sample_candidates,
    sample_negatives,
)
from edgerec.data.schema import DataError
from edgerec.data import splits
from edgerec.data.splits import leave_last_out
from edgerec.data.task import RankingTask
from edgerec.recipe import DataConfig
from tests.utils import tiny_interactions


def test_synthetic_is_deterministic_and_seed_dependent():
    a, b, c = synthetic.generate("smoke", 0), synthetic.generate("smoke", 0), synthetic.generate("smoke", 1)
    np.testing.assert_array_equal(a.item, b.item)
    np.testing.assert_array_equal(a.timestamp, b.timestamp)
    assert not np.array_equal(a.item, c.item)


def test_synthetic_shape_like_implicit_feedback():
    # execute
    data = synthetic.generate("smoke", 0)
    counts = np.bincount(data.item, minlength=data.num_items)
    # assert: every user above the minimum, no duplicate (user, item), popularity skewed
    per_user = np.bincount(data.user)
    assert per_user.min() >= synthetic.SIZES["smoke"].min_per_user
    assert len(np.unique(data.user.astype(np.int64) * data.num_items + data.item)) == len(data.user)
    top_decile = np.sort(counts)[::-1][: data.num_items // 10].sum()
    assert top_decile > 0.2 * counts.sum()
    assert np.all(np.diff(data.timestamp)[np.diff(data.user) == 0] > 0)


def test_leave_last_out_holds_out_latest_per_user():
    # setup: user 0's latest is row 2, user 1's latest is row 1 (tie on time: later row wins)
    user = np.array([0, 1, 0, 1, 0])
    timestamp = np.array([5, 9, 7, 9, 6])
    # execute
    train, holdout = leave_last_out(user, timestamp)
    # assert
    np.testing.assert_array_equal(holdout, [2, 3])
    np.testing.assert_array_equal(np.sort(train), [0, 1, 4])


def test_negatives_never_hit_positives():
    # setup
    data = tiny_interactions()
    positives = PositiveSet(data.user, data.item, data.num_items)
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(data.num_users), 50)
    # execute
    negatives = sample_negatives(users, positives, rng)
    candidates = sample_candidates(np.arange(data.num_users), 9, positives, rng)
    # assert
    assert not positives.contains(users, negatives).any()
    assert not positives.contains(np.repeat(np.arange(data.num_users), 9), candidates.reshape(-1)).any()
    assert all(len(set(row)) == 9 for row in candidates)


@pytest.mark.parametrize("positives, expected", [
    (100, AUTO_NEGATIVES[1]),  # a tiny log: the upper bound
    (AUTO_ROWS_PER_EPOCH // 10, 9),  # 10 rows per positive an epoch: 9 negatives
    (AUTO_ROWS_PER_EPOCH, AUTO_NEGATIVES[0]),  # a large log: the lower bound
])
def test_auto_negatives_fill_an_epoch_within_bounds(positives, expected):
    assert negatives_per_positive("auto", positives) == expected
    assert negatives_per_positive(7, positives) == 7


def test_task_resolves_auto_negatives_from_its_training_positives():
    data = tiny_interactions(items=60, per_user=8)
    task = RankingTask(data, DataConfig(negatives_per_positive="auto", eval_candidates=10), 0)
    k = task.negatives_per_positive
    assert k == negatives_per_positive("auto", len(task.train_user))
    features, labels = task.train_epoch(0)
    assert len(labels) == len(task.train_user) * (1 + k)
    _, pointwise_labels = task.pointwise_eval()
    assert pointwise_labels.reshape(-1, 1 + k)[:, 0].all() and not pointwise_labels.reshape(-1, 1 + k)[:, 1:].any()
    assert f"{k} sampled negatives per held-out positive" in task.describe()


def test_too_few_unseen_items_for_eval_is_a_clear_error():
    data = tiny_interactions(items=12, per_user=8)
    with pytest.raises(DataError, match=r"user '0' has only 4 items .* 9 candidates are needed \(lower data.eval_candidates\)"):
        RankingTask(data, DataConfig(negatives_per_positive=1, eval_candidates=10), 0)


def test_task_rows_carry_side_features_and_eval_layout(tiny_task):
    # execute
    ranking = tiny_task.ranking_eval()
    features, labels = tiny_task.pointwise_eval()
    # assert: side features follow the ids; the held-out item leads each candidate group
    data = tiny_task.data
    np.testing.assert_array_equal(ranking["user_age"], data.user_features["user_age"][ranking["user_id"]])
    np.testing.assert_array_equal(ranking["item_category"], data.item_features["item_category"][ranking["item_id"]])
    np.testing.assert_array_equal(ranking["item_id"].reshape(len(tiny_task.holdout_item), -1)[:, 0], tiny_task.holdout_item)
    assert labels.sum() == len(tiny_task.holdout_item) == data.num_users - 1  # one per user; row 0 is OOV
    assert labels[0] == 1 and labels[1] == 0
    assert list(features) == tiny_task.input_names


def test_train_epochs_exclude_holdout_and_differ_by_epoch(tiny_task):
    a, labels = tiny_task.train_epoch(0)
    b, _ = tiny_task.train_epoch(1)
    held = set(zip(tiny_task.holdout_user, tiny_task.holdout_item))
    assert not held & set(zip(a["user_id"][labels == 1], a["item_id"][labels == 1]))
    assert labels.mean() == pytest.approx(1 / 3)
    assert not np.array_equal(a["item_id"], b["item_id"])


def test_csv_loader_maps_raw_ids_and_side_features(tmp_path):
    # setup
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,timestamp,user_country,item_genre\nu9,m1,3,fr,drama\nu9,m2,4,fr,comedy\nu3,m1,5,de,drama\n")
    # execute
    data = load_interactions(path)
    # assert
    assert data.vocabularies["user_id"] == ["u3", "u9"]
    np.testing.assert_array_equal(data.user, [1, 1, 0])
    np.testing.assert_array_equal(data.user_features["user_country"], [0, 1])  # u3 -> de, u9 -> fr
    np.testing.assert_array_equal(data.item_features["item_genre"], [1, 0])  # m1 -> drama, m2 -> comedy


@pytest.mark.parametrize(
    "text, message",
    [
        ("user,item_id,timestamp\n1,2,3\n", r"missing column\(s\) user_id; the file has: user, item_id, timestamp"),
        ("user_id,item_id,timestamp\n1,2,3\n1,3,soon\n", r"row 3: column 'timestamp' must be a number. Received: 'soon'"),
        ("user_id,item_id,timestamp\n1,,3\n", r"row 2: column 'item_id' is empty"),
        ("user_id,item_id,timestamp\n", r"no rows"),
    ],
)
def test_csv_loader_errors_name_file_row_and_column(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=rf"bad.csv: {message}"):
        load_interactions(path)


def _log(tmp_path, rows=40):
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "uid": [f"u{u}" for u in rng.integers(0, 7, rows)],
        "mid": rng.integers(100, 120, rows),
        "when": rng.integers(0, 10**6, rows),
        "stars": rng.integers(1, 6, rows),
        "country": rng.choice(["fr", "de", "it"], rows),
        "genre": rng.choice(["a", "b"], rows),
    })
    frame.to_csv(tmp_path / "log.csv", index=False)
    frame.to_parquet(tmp_path / "log.parquet", index=False)
    return frame


MAPPED = Columns(user="uid", item="mid", timestamp="when", label="stars", min_label=3,
                 user_features=("country",), item_features=("genre",))


@pytest.mark.parametrize("name", ["log.csv", "log.parquet"])
def test_column_mapping_threshold_and_side_features(tmp_path, name):
    # setup
    frame = _log(tmp_path)
    kept = frame[frame.stars >= 3]
    # execute
    data = load_interactions(tmp_path / name, MAPPED)
    # assert
    assert len(data.user) == len(kept)
    np.testing.assert_array_equal(np.asarray(data.vocabularies["user_id"])[data.user], kept.uid.to_numpy())
    np.testing.assert_array_equal(np.asarray(data.vocabularies["item_id"])[data.item].astype(int), kept.mid.to_numpy())
    first_country = kept.groupby("uid").country.first()
    table = np.asarray(data.vocabularies["country"])[data.user_features["country"]]
    assert dict(zip(data.vocabularies["user_id"], table)) == first_country.to_dict()


def test_chunk_size_does_not_change_the_result(tmp_path):
    _log(tmp_path, rows=101)
    whole = load_interactions(tmp_path / "log.csv", MAPPED)
    chunked = load_interactions(tmp_path / "log.csv", MAPPED, chunk_rows=7)
    np.testing.assert_array_equal(whole.user, chunked.user)
    np.testing.assert_array_equal(whole.item, chunked.item)
    assert whole.vocabularies == chunked.vocabularies
    for name in whole.user_features:
        np.testing.assert_array_equal(whole.user_features[name], chunked.user_features[name])


def test_bad_label_is_named_with_its_row_in_a_later_chunk(tmp_path):
    _log(tmp_path, rows=30)
    text = (tmp_path / "log.csv").read_text().splitlines()
    parts = text[25].split(",")
    parts[3] = "NaN"
    text[25] = ",".join(parts)
    (tmp_path / "log.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"log.csv: row 26: column 'stars' must be a number. Received: 'NaN'"):
        load_interactions(tmp_path / "log.csv", MAPPED, chunk_rows=10)


def test_missing_mapped_feature_column_lists_available(tmp_path):
    _log(tmp_path)
    with pytest.raises(DataError, match=r"missing feature column\(s\) age; the file has: uid, mid, when"):
        load_interactions(tmp_path / "log.csv", Columns(user="uid", item="mid", timestamp="when", user_features=("age",)))


def test_random_split_holds_out_a_fraction_and_keeps_one_train_row_per_user():
    # setup
    rng = np.random.default_rng(0)
    user = np.repeat(np.arange(50), rng.integers(2, 30, 50))
    timestamp = rng.integers(0, 1000, len(user))
    # execute
    train, holdout = splits.random_fraction(user, timestamp, 0.25, np.random.default_rng(1))
    # assert
    assert len(np.intersect1d(train, holdout)) == 0 and len(train) + len(holdout) == len(user)
    counts, held = np.bincount(user), np.bincount(user[holdout], minlength=50)
    np.testing.assert_array_equal(held, np.minimum(np.round(counts * 0.25), counts - 1))
    assert np.all(np.bincount(user[train], minlength=50) >= 1)
    again = splits.random_fraction(user, timestamp, 0.25, np.random.default_rng(1))[1]
    np.testing.assert_array_equal(holdout, again)


def test_time_split_holds_out_late_rows_of_known_users_only():
    user = np.array([0, 0, 1, 1, 2])
    timestamp = np.array([1, 9, 2, 8, 10])
    train, holdout = splits.time_cutoff(user, timestamp, 0.5)  # cut-off at 8
    np.testing.assert_array_equal(train, [0, 2, 3])
    np.testing.assert_array_equal(holdout, [1])  # user 2's only interaction is late: cold, dropped


def test_popularity_negatives_follow_count_power_and_avoid_positives():
    # setup: item 0 is 99x more frequent than the others in training
    data = tiny_interactions(users=20, items=30)
    positives = PositiveSet(data.user, data.item, data.num_items)
    counts = np.ones(data.num_items)
    counts[0] = 99.0
    weights = item_weights("popularity", counts - 1, 1.0)
    users = np.repeat(np.flatnonzero(~positives.contains(np.arange(20), np.zeros(20, int))), 2000)
    # execute
    items = sample_negatives(users, positives, np.random.default_rng(0), weights)
    # assert: item 0 drawn far above uniform 1/30 (its weight is 99/128 before rejection)
    assert not positives.contains(users, items).any()
    assert (items == 0).mean() > 0.5
    assert item_weights("uniform", counts, 0.75) is None


@pytest.mark.parametrize("split", ["leave_last_out", "random", "time"])
def test_every_split_gives_a_consistent_task(split):
    # execute
    data = synthetic.generate("smoke", 0)  # users active over overlapping periods, as a time split needs
    task = RankingTask(data, DataConfig(split=split, eval_candidates=10, negative_sampling="popularity"), seed=0)
    # assert: candidate groups lead with the held-out item; nothing held out is trained on
    assert task.candidates.shape == (len(task.holdout_item), 10)
    np.testing.assert_array_equal(task.candidates[:, 0], task.holdout_item)
    train_pairs = set(zip(task.train_user, task.train_item))
    assert not train_pairs & set(zip(task.holdout_user, task.holdout_item))
    assert {"leave_last_out": "leave-last-out", "random": "random 20%", "time": "cut-off"}[split] in task.describe()


def test_oov_index_reserved_and_rare_side_values_collapse():
    # setup: category 4 is carried by items 4, 9, ... (6 items); with min_count 7 every category is rare
    from edgerec.data.vocab import OOV, with_oov

    data = tiny_interactions()
    # execute
    kept, collapsed = with_oov(data, 1), with_oov(data, 7)
    # assert
    assert all(v[0] == OOV for v in kept.vocabularies.values())
    np.testing.assert_array_equal(kept.user, data.user + 1)
    assert kept.vocabularies["item_id"][1:] == data.vocabularies["item_id"]
    np.testing.assert_array_equal(kept.item_features["item_category"][1:], data.item_features["item_category"] + 1)
    assert kept.item_features["item_category"][0] == 0 and kept.user_features["user_age"][0] == 0
    assert collapsed.vocabularies["item_category"] == [OOV] and not collapsed.item_features["item_category"].any()


def test_task_never_samples_the_oov_item(tiny_task):
    features, labels = tiny_task.train_epoch(0)
    assert (features["item_id"] > 0).all() and (features["user_id"] > 0).all()
    assert (tiny_task.candidates > 0).all() and (tiny_task.pointwise_items > 0).all()
    assert tiny_task.features[1].vocab_size == tiny_task.data.num_items == 31  # 30 items + OOV
