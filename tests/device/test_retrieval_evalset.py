"""eval.npz's retrieval part: what each held-out row ranks its target among, and its checks."""

from __future__ import annotations

import numpy as np
import pytest

from device_bench import evalset


def _arrays(**changes):
    # two held-out rows of users 0 and 1 (user 0 twice in the seen lists: rows 0 and 2), a catalogue of 6 items
    arrays = {
        "retrieval/user_id": np.array([3, 5, 3], np.int32),
        "retrieval/target": np.array([2, 4, 1], np.int32),
        "retrieval/seen_row": np.array([0, 1, 0], np.int32),
        "retrieval/seen_offsets": np.array([0, 3, 5], np.int64),
        "retrieval/seen_items": np.array([1, 2, 5, 3, 4], np.int32),
        "catalogue/item_id": np.arange(6, dtype=np.int32),
        "catalogue/item_genre": np.array([0, 1, 1, 2, 2, 3], np.int32),
    }
    arrays.update(changes)
    return arrays


def test_each_row_ranks_its_target_among_the_items_its_user_never_had():
    part = evalset.retrieval_part(_arrays(), "eval.npz")
    # execute
    eligible = part.eligible(np.arange(3))
    # assert: never the OOV item 0, nor anything the user had -- the row's own target included
    assert eligible.tolist() == [
        [False, False, False, True, True, False],
        [False, True, True, False, False, True],
        [False, False, False, True, True, False],
    ]


def test_ranker_rows_join_the_user_columns_with_the_catalogue():
    part = evalset.retrieval_part(_arrays(), "eval.npz")
    rows = part.ranker_rows(np.array([1, 2]), np.array([[5, 3], [4, 0]]))
    assert {k: v.tolist() for k, v in rows.items()} == {
        "user_id": [5, 5, 3, 3], "item_id": [5, 3, 4, 0], "item_genre": [3, 2, 2, 0]}


def test_a_file_without_the_part_has_none():
    arrays = {k: v for k, v in _arrays().items() if not k.startswith("retrieval/")}
    assert evalset.retrieval_part(arrays, "eval.npz") is None


@pytest.mark.parametrize("changes, message", [
    ({"retrieval/target": np.array([2, 6, 1], np.int32)}, r"target must hold item indices in \[0, 6\)"),
    ({"retrieval/seen_offsets": np.array([0, 3, 4], np.int64)}, "seen_offsets must rise from 0 to len"),
    ({"retrieval/seen_row": np.array([0, 2, 0], np.int32)}, "seen_row must index the 2 users"),
    ({"retrieval/seen_row": np.array([0, 1], np.int32)}, r"target and seen_row must have shape \(3,\)"),
])
def test_an_inconsistent_part_is_refused_naming_the_file(changes, message):
    with pytest.raises(evalset.EvalSetError, match=f"eval.npz: retrieval part: .*{message}"):
        evalset.retrieval_part(_arrays(**changes), "eval.npz")


def test_a_part_missing_an_array_is_refused():
    arrays = _arrays()
    del arrays["retrieval/seen_items"]
    with pytest.raises(evalset.EvalSetError, match=r"lacks \['retrieval/seen_items'\]"):
        evalset.retrieval_part(arrays, "eval.npz")
