"""Accuracy by the held-out item's training popularity: the groups, the eval set's counts, the bench rows and table."""

import numpy as np
import pytest

from device_bench import evalset, popularity, run, table
from device_bench.bundle import EVAL_SET

FAST = {"runs": 5, "warmup": 1, "min_seconds": 0.0}


def test_popularity_groups_split_the_held_out_lists_by_training_counts():
    # setup: items 0..3 seen 0, 5, 6 and 51 times in training; lists held out on each
    counts = np.array([0, 5, 6, 51])
    holdout = np.array([3, 2, 1, 0, 3])
    scores = np.array([[2.0, 1.0], [0.0, 1.0], [2.0, 1.0], [2.0, 1.0], [2.0, 1.0]])
    # execute
    result = popularity.by_group(scores, counts[holdout])
    # assert: bounds inclusive as documented; the torso's one list ranked its item second
    assert {name: group["lists"] for name, group in result.items()} == {"head": 2, "torso": 1, "tail": 2}
    assert result["tail"]["hr@10"] == 1.0
    assert result["torso"]["mrr"] == 0.5
    assert popularity.bounds() == {"head": "51+", "torso": "6-50", "tail": "0-5"}


def test_an_empty_group_reports_its_count_only():
    result = popularity.by_group(np.ones((1, 3)), np.array([100]))
    assert result["tail"] == {"lists": 0}


def _with_counts(bundle, copy_model, counts):
    with np.load(bundle.eval_path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return copy_model(eval_arrays={**arrays, evalset.POPULARITY: counts})


def test_the_bench_scores_each_popularity_group_through_the_interpreter(bundle, copy_model):
    # setup: the bundle's 10 ranking lists, the first 4 on tail items, 3 torso, 3 head
    counts = np.array([0, 1, 5, 2, 6, 50, 7, 51, 900, 60], dtype=np.int32)
    folder = _with_counts(bundle, copy_model, counts)
    # execute
    result = run.bench([folder / "model.tflite"], threads=[1, 2], **FAST)
    # assert: the groups are the Keras logits' metrics on each group's lists, repeated on every row
    keras = bundle.keras_ranking_logits.reshape(len(counts), -1)
    groups = result[0]["by_popularity"]
    assert {name: g["lists"] for name, g in groups.items()} == {"head": 3, "torso": 3, "tail": 4}
    for name, mask in popularity.groups(counts).items():
        assert groups[name]["ndcg@10"] == pytest.approx(popularity.by_group(keras[mask], counts[mask])[name]["ndcg@10"],
                                                        abs=1e-4)
    assert result[1]["by_popularity"] == groups
    # assert: the table adds one line per artifact under its header of group bounds and list counts
    lines = table.markdown(result).splitlines()
    header = next(i for i, line in enumerate(lines) if "tail (0-5) NDCG@10, 4 lists" in line)
    assert lines[header + 2].startswith("| model.tflite | ") and header + 3 == len(lines)


def test_an_eval_set_without_counts_gives_no_groups(bundle):
    [row] = run.bench([bundle.model], **FAST)
    assert row["status"] == "ok" and row["by_popularity"] == {}
    assert "training interactions" not in table.markdown([row])


@pytest.mark.parametrize("counts", [np.array([1, 2], np.int32), -np.ones(10, np.int32), np.ones(10, np.float32)])
def test_counts_of_the_wrong_shape_or_kind_are_refused_in_one_line(bundle, copy_model, counts):
    folder = _with_counts(bundle, copy_model, counts)
    with pytest.raises(evalset.EvalSetError, match=r"popularity/train_count must hold 10 integer counts >= 0"):
        evalset.load(folder / EVAL_SET)
