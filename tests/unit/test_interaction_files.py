"""Interaction logs as they come: any extension and separator, no header, no time, a weight column, k-core filtering."""

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgerec.cli import main
from edgerec.data import filtering, prepared
from edgerec.data.files import Columns, Layout, load_interactions
from edgerec.data.schema import DataError
from edgerec.data.task import RankingTask
from edgerec.recipe import DataConfig
from tests.utils import assert_one_line_error, tiny_interactions

ROWS = [("7", "a", "30"), ("7", "b", "1"), ("9", "a", "5"), ("9", "c", "2"), ("9", "b", "8")]
NO_TIME = Columns(user="u", item="i", timestamp=None, weight="w")


def _write(path, sep, header=True):
    lines = ([sep.join(["u", "i", "w"])] if header else []) + [sep.join(row) for row in ROWS]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("sep", ["\t", ",", ";", "|"])
def test_the_separator_of_any_extension_is_sniffed(tmp_path, sep):
    data = load_interactions(_write(tmp_path / "log.dat", sep), NO_TIME)
    assert data.vocabularies["user_id"] == ["7", "9"] and data.vocabularies["item_id"] == ["a", "b", "c"]
    np.testing.assert_array_equal(data.user, [0, 0, 1, 1, 1])
    assert not data.timed and not data.timestamp.any()


def test_a_multi_character_separator_is_given_with_sep(tmp_path):
    data = load_interactions(_write(tmp_path / "log.txt", "::"), NO_TIME, layout=Layout(sep="::"))
    np.testing.assert_array_equal(data.item, [0, 1, 0, 2, 1])


def test_a_headerless_file_is_named_by_columns_or_by_position(tmp_path):
    path = _write(tmp_path / "log.dat", "\t", header=False)
    named = load_interactions(path, NO_TIME, layout=Layout(header=False, names=("u", "i", "w")))
    by_position = load_interactions(path, Columns(user="1", item="2", timestamp=None), layout=Layout(header=False))
    np.testing.assert_array_equal(named.user, by_position.user)
    np.testing.assert_array_equal(named.item, by_position.item)
    assert len(named.user) == len(ROWS)  # the first row is data, not a header


def test_min_weight_keeps_rows_at_or_above_it(tmp_path):
    data = load_interactions(_write(tmp_path / "log.csv", ","), dataclasses.replace(NO_TIME, min_weight=5))
    kept = [(u, i) for u, i, w in ROWS if float(w) >= 5]
    pairs = [(data.vocabularies["user_id"][u], data.vocabularies["item_id"][i]) for u, i in zip(data.user, data.item)]
    assert pairs == kept


def _graph(user, item):
    base = tiny_interactions(users=3, items=4, per_user=1)
    return dataclasses.replace(
        base, user=np.array(user, np.int32), item=np.array(item, np.int32), timestamp=np.arange(len(user)),
        user_features={"user_age": np.array([5, 6, 7], np.int32)},
        item_features={"item_category": np.array([0, 1, 2, 3], np.int32)},
        vocabularies={**base.vocabularies, "user_age": [str(a) for a in range(8)]})


def test_k_core_iterates_until_both_thresholds_hold():
    # setup: item 3 is seen once; dropping it leaves user 2 with one row, dropping that leaves item 2 with one
    data = _graph(user=[0, 0, 1, 1, 1, 2, 2], item=[0, 1, 0, 1, 2, 2, 3])
    # execute
    kept, dropped = filtering.k_core(data, min_user=2, min_item=2)
    # assert
    assert dropped == filtering.Dropped(users=1, items=2, interactions=3, rounds=3)
    assert kept.vocabularies["user_id"] == ["0", "1"] and kept.vocabularies["item_id"] == ["0", "1"]
    assert kept.user_features["user_age"].tolist() == [5, 6] and kept.item_features["item_category"].tolist() == [0, 1]
    np.testing.assert_array_equal(kept.user, [0, 0, 1, 1])
    np.testing.assert_array_equal(kept.timestamp, [0, 1, 2, 3])


def test_k_core_that_leaves_nothing_or_drops_nothing():
    chain = _graph(user=[0, 0, 1, 1, 2, 2], item=[0, 1, 1, 2, 2, 3])  # a 2-core of a chain is empty
    with pytest.raises(DataError, match="no interaction is left after k-core"):
        filtering.k_core(chain, min_user=2, min_item=2)
    kept, dropped = filtering.k_core(chain, min_user=2, min_item=1)
    assert kept is chain and dropped == filtering.Dropped(0, 0, 0, 0)
    # a minimum of 0 keeps every id of that kind, even one left without interactions
    kept, dropped = filtering.k_core(_graph(user=[0, 0, 1, 1, 2], item=[0, 1, 1, 2, 3]), min_user=2, min_item=0)
    assert (dropped.users, dropped.items) == (1, 0) and kept.num_items == 4


def test_the_build_drops_users_the_split_cannot_use_and_says_so():
    # setup: user 0 keeps a single interaction
    data = tiny_interactions()
    keep = (data.user != 0) | (np.arange(len(data.user)) == 0)
    data = dataclasses.replace(data, user=data.user[keep], item=data.item[keep], timestamp=data.timestamp[keep])
    # execute
    task = RankingTask(data, DataConfig(negatives_per_positive=2, eval_candidates=10), seed=0)
    # assert
    assert task.data.num_users == 40  # 39 users + OOV
    assert "dropped 1 users with fewer than 2 interactions" in task.summary()


def test_without_time_the_held_out_interaction_is_random_per_user_and_seeded():
    data = dataclasses.replace(tiny_interactions(), timestamp=np.zeros(320, np.int64), timed=False)
    config = DataConfig(negatives_per_positive=2, eval_candidates=10)
    a, b, other = (RankingTask(data, config, seed=s) for s in (0, 0, 1))
    assert len(a.holdout_user) == len(set(a.holdout_user.tolist())) == 40  # one per user
    np.testing.assert_array_equal(a.holdout_item, b.holdout_item)
    assert not np.array_equal(a.holdout_item, other.holdout_item)
    # the rows' order in the file does not decide it: it is not always each user's last row
    last = tiny_interactions().item.reshape(40, 8)[:, -1] + 1
    assert (a.holdout_item != last).mean() > 0.5
    assert "leave-one-out per user at random (the data has no timestamps; drawn with seed 0)" in a.describe()
    with pytest.raises(DataError, match="data.split 'time' needs timestamps"):
        RankingTask(data, dataclasses.replace(config, split="time"), seed=0)


def test_a_prepared_log_without_time_round_trips(tmp_path):
    data = load_interactions(_write(tmp_path / "log.dat", "\t"), NO_TIME)
    prepared.save(data, tmp_path / "d")
    assert json.loads((tmp_path / "d" / prepared.SCHEMA).read_text())["timed"] is False
    again = prepared.load(tmp_path / "d")
    assert not again.timed
    np.testing.assert_array_equal(again.user, data.user)


def test_prepare_prints_what_the_k_core_dropped(tmp_path):
    path = _write(tmp_path / "log.dat", "\t")  # user 7 has two rows, user 9 three; item c is seen once
    result = CliRunner().invoke(main, ["data", "prepare", "--source", "csv", "--path", str(path), "--user-col", "u",
                                       "--item-col", "i", "--no-time", "--min-item-interactions", "2",
                                       "--out", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "k-core (users >= 2, items >= 2 interactions): dropped 0 users, 1 items, 1 interactions" in result.output
    assert json.loads((tmp_path / "d" / prepared.SCHEMA).read_text())["items"] == 2


BAD_FLAGS = {
    "sep for criteo": (["--source", "criteo", "--sep", ","], "--sep applies to --source csv, not criteo"),
    "min-weight alone": (["--source", "csv", "--min-weight", "3"], "--min-weight needs --weight-col"),
    "no-time and time-col": (["--source", "csv", "--no-time", "--time-col", "t"], "--no-time and --time-col"),
    "columns count": (["--source", "csv", "--columns", "u,i"], "line 1 has 3 fields separated by '\\t'; --columns names 2"),
    "no timestamp column": (["--source", "csv", "--user-col", "u", "--item-col", "i"],
                            "missing column(s) timestamp; the file has: u, i, w (a log without time: --no-time)"),
    "parquet source for a text file": (["--source", "parquet"], "--source parquet expects a .parquet file"),
}


@pytest.mark.parametrize("case", sorted(BAD_FLAGS))
def test_flags_that_cannot_apply_are_named(tmp_path, case):
    args, needle = BAD_FLAGS[case]
    path = _write(tmp_path / "log.dat", "\t", header=case != "columns count")
    result = CliRunner().invoke(main, ["data", "prepare", "--path", str(path), "--out", str(tmp_path / "d"), *args])
    assert_one_line_error(result, needle)
    assert not (tmp_path / "d").exists()


def test_an_unknown_separator_asks_for_sep(tmp_path):
    (tmp_path / "log.txt").write_text("u i w\n7 a 3\n")
    with pytest.raises(DataError, match=r"log.txt: cannot tell the separator .* pass --sep"):
        load_interactions(tmp_path / "log.txt", NO_TIME)
