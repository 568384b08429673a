"""Criteo TSV loader, the CTR task and its prepared form: hand-computed values, no TensorFlow."""

import json
import math

import numpy as np
import pytest

from device_bench import evalset, metrics
from device_bench.bundle import EVAL_SET
from edgerec import baselines
from edgerec.data import criteo, prepared
from edgerec.data.schema import DataError
from edgerec.data.task import CtrTask, make_task
from edgerec.data.vocab import OOV
from edgerec.recipe import DataConfig
from tests.utils import write_criteo


def _line(label, integers, categoricals):
    return "\t".join([label, *integers, *categoricals]) + "\n"


def test_integer_transform_by_hand():
    # setup: ln(3)^2 = 1.207, ln(10)^2 = 5.302, ln(100)^2 = 21.21, ln(1000)^2 = 47.72
    values = np.array([np.nan, -3, -1, 0, 1, 2, 3, 10, 100, 1000])
    # execute
    tokens = criteo.transform_integers(values)
    # assert
    assert tokens.tolist() == [criteo.MISSING, "-3", "-1", "0", "1", "2", "1", "5", "21", "47"]


def test_integer_transform_matches_the_ffm_reference_code():
    # the Juan et al. preprocessing: str(int(math.log(float(v))**2)) if int(v) > 2 else v
    values = np.arange(-5, 100_000, 7, dtype=np.float64)
    expected = [str(int(math.log(v) ** 2)) if v > 2 else str(int(v)) for v in values]
    assert criteo.transform_integers(values).tolist() == expected


def test_loader_encodes_min_count_vocabularies_with_oov_and_missing(tmp_path):
    # setup: C1 "aa" twice, "bb" once; I1 3 and 4 both bucket to "1", one I1 empty
    path = tmp_path / "day.tsv"
    ints = [["3"] + ["0"] * 12, ["4"] + ["0"] * 12, [""] + ["0"] * 12]
    cats = [["aa"] + ["x"] * 25, ["bb"] + ["x"] * 25, ["aa"] + [""] * 25]
    path.write_text("".join(_line(label, i, c) for label, i, c in zip("101", ints, cats)))
    # execute
    data = criteo.load(path, min_count=2)
    # assert
    np.testing.assert_array_equal(data.labels, [1, 0, 1])
    assert data.vocabularies["C1"] == [OOV, "aa"]
    np.testing.assert_array_equal(data.columns["C1"], [1, 0, 1])  # "bb" seen once: OOV
    assert data.vocabularies["I1"] == [OOV, "1"]  # "<missing>" seen once: OOV too
    np.testing.assert_array_equal(data.columns["I1"], [1, 1, 0])
    assert data.vocabularies["C2"] == [OOV, "x"]  # the empty value is seen once
    assert [f.name for f in data.features()] == list(criteo.FIELDS[1:])
    assert all(c.dtype == np.int32 for c in data.columns.values())


def test_missing_is_its_own_value_when_frequent(tmp_path):
    path = tmp_path / "day.tsv"
    path.write_text(_line("0", [""] * 13, [""] * 26) * 2)
    data = criteo.load(path, min_count=2)
    assert data.vocabularies["I5"] == [OOV, criteo.MISSING] and data.vocabularies["C9"] == [OOV, criteo.MISSING]
    assert (data.columns["I5"] == 1).all()


def test_chunk_size_does_not_change_the_result(tmp_path):
    write_criteo(tmp_path / "day.tsv", rows=500)
    whole, chunked = criteo.load(tmp_path / "day.tsv", 3), criteo.load(tmp_path / "day.tsv", 3, chunk_rows=37)
    assert whole.vocabularies == chunked.vocabularies
    for name in whole.columns:
        np.testing.assert_array_equal(whole.columns[name], chunked.columns[name])


def test_error_in_a_later_chunk_names_its_line(tmp_path):
    path = tmp_path / "day.tsv"
    path.write_text(_line("0", ["1"] * 13, ["a"] * 26) * 5 + _line("0", ["1"] * 4 + ["1.5"] + ["1"] * 8, ["a"] * 26))
    with pytest.raises(DataError, match=r"day.tsv: line 6: column 'I5' \(field 6\) must be an integer or empty"):
        criteo.load(path, chunk_rows=2)


@pytest.fixture(scope="module")
def ctr_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("criteo") / "day.tsv"
    write_criteo(path, rows=1000)
    return criteo.load(path, min_count=5)


def test_time_split_holds_out_the_last_rows_and_leave_last_out_does_the_same(ctr_data):
    time_task = CtrTask(ctr_data, DataConfig(split="time", time_quantile=0.8), seed=0)
    default = make_task(ctr_data, DataConfig(time_quantile=0.8), seed=0)
    np.testing.assert_array_equal(time_task.holdout_idx, np.arange(800, 1000))
    np.testing.assert_array_equal(default.holdout_idx, time_task.holdout_idx)
    assert "last 20% of the rows" in default.describe() and "no ranking metrics" in default.describe()


def test_random_split_holds_out_a_fraction_disjoint_from_training(ctr_data):
    task = CtrTask(ctr_data, DataConfig(split="random", holdout_fraction=0.25), seed=0)
    assert len(task.holdout_idx) == 250 and len(task.train_idx) == 750
    assert not set(task.holdout_idx) & set(task.train_idx)
    assert task.holdout_idx.max() > 900  # drawn across the file, not only its end
    assert task.holdout_idx.min() < 100


def test_train_epochs_shuffle_training_rows_by_epoch(ctr_data):
    task = CtrTask(ctr_data, DataConfig(), seed=0)
    (a, ya), (b, yb), (again, _) = task.train_epoch(0), task.train_epoch(1), task.train_epoch(0)
    assert not np.array_equal(a["C1"], b["C1"]) and np.array_equal(a["C1"], again["C1"])
    assert sorted(ya) == sorted(yb) == sorted(ctr_data.labels[task.train_idx])
    assert task.train_rows_per_epoch == len(ya) == 900
    calibration = task.representative_rows(50)
    assert len(calibration["I1"]) == 50


def test_prior_baseline_is_auc_half_and_the_logloss_of_the_training_rate(ctr_data):
    task = CtrTask(ctr_data, DataConfig(), seed=0)
    p = ctr_data.labels[task.train_idx].mean()
    y = ctr_data.labels[task.holdout_idx]
    name, metrics = baselines.no_model(task)
    assert name == "click-rate prior (baseline)" and set(metrics) == {"auc", "logloss"}
    assert metrics["auc"] == 0.5
    assert metrics["logloss"] == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), abs=1e-6)


def test_held_out_rows_of_one_class_are_a_clear_error(tmp_path):
    path = tmp_path / "day.tsv"
    path.write_text(_line("1", ["1"] * 13, ["a"] * 26) + _line("0", ["1"] * 13, ["a"] * 26) * 9)
    with pytest.raises(DataError, match=r"the held-out rows \(1\) are all non-clicks"):
        CtrTask(criteo.load(path, min_count=1), DataConfig(), seed=0)


def test_eval_set_is_pointwise_only_and_device_metrics_skip_ranking(ctr_data, tmp_path):
    # setup
    task = CtrTask(ctr_data, DataConfig(), seed=0)
    # execute
    task.save_eval(tmp_path / EVAL_SET)
    loaded = evalset.load(tmp_path / EVAL_SET)
    logits = np.linspace(-1, 1, len(loaded.labels))
    # assert
    assert loaded.num_candidates == 0 and loaded.ranking == {}
    loaded.check_inputs(task.input_names)
    assert metrics.score(loaded.labels, logits).keys() == {"auc", "logloss"}


def test_prepared_folder_records_the_kind_and_round_trips(ctr_data, tmp_path):
    schema = prepared.save(ctr_data, tmp_path / "p")
    back = prepared.load(tmp_path / "p")
    on_disk = json.loads((tmp_path / "p" / "schema.json").read_text())
    assert on_disk["kind"] == "ctr" and on_disk == schema and on_disk["rows"] == 1000
    assert on_disk["label"] == criteo.LABEL_DEFINITION and on_disk["source"].startswith("criteo:")
    assert back.vocabularies == ctr_data.vocabularies
    np.testing.assert_array_equal(back.labels, ctr_data.labels)
    for name in ctr_data.columns:
        np.testing.assert_array_equal(back.columns[name], ctr_data.columns[name])
