import numpy as np
import pytest
from click.testing import CliRunner

from edgerec.cli import main
from edgerec.data import movielens, prepared
from edgerec.data.schema import DataError
from tests.utils import write_movielens


@pytest.mark.parametrize(
    "layout, side",
    [
        ("100k", {"user_gender", "user_age", "user_occupation", "item_genre"}),
        ("1m", {"user_gender", "user_age", "user_occupation", "item_genre"}),
        ("latest", {"item_genre"}),
    ],
)
def test_each_layout_loads_ids_times_and_side_features(tmp_path, layout, side):
    # setup
    ratings = write_movielens(tmp_path / layout, layout)
    # execute
    data = movielens.load(tmp_path / layout)
    # assert
    assert len(data.user) == len(ratings)
    assert set(data.user_features) | set(data.item_features) == side
    raw_user = np.asarray(data.vocabularies["user_id"])[data.user].astype(int)
    raw_item = np.asarray(data.vocabularies["item_id"])[data.item].astype(int)
    assert list(zip(raw_user, raw_item, data.timestamp)) == [(u, i, t) for u, i, _, t in ratings]
    genres = np.asarray(data.vocabularies["item_genre"])[data.item_features["item_genre"]]
    if layout == "1m":  # movies.dat genre of item 2 is "Action|Thriller": the first genre is kept
        assert genres[data.vocabularies["item_id"].index("2")] == "Action"


def test_min_rating_filters(tmp_path):
    ratings = write_movielens(tmp_path / "ml", "1m")
    data = movielens.load(tmp_path / "ml", min_rating=4)
    assert len(data.user) == sum(r >= 4 for _, _, r, _ in ratings)


def test_wrong_separator_names_file_line_and_column(tmp_path):
    folder = tmp_path / "ml"
    write_movielens(folder, "1m")
    (folder / "ratings.dat").write_text("1,2,5,978300000\n")
    with pytest.raises(DataError, match=r"ratings.dat: line 1: column 'user' must be an integer.*wrong separator"):
        movielens.load(folder)


def test_not_a_movielens_folder(tmp_path):
    with pytest.raises(DataError, match=r"not a MovieLens folder \(expected u.data, ratings.dat or ratings.csv"):
        movielens.load(tmp_path)


def test_prepare_round_trips_through_the_prepared_folder(tmp_path):
    # setup
    write_movielens(tmp_path / "ml", "100k")
    out = tmp_path / "prepared"
    # execute
    result = CliRunner().invoke(main, ["data", "prepare", "--source", "movielens", "--path", str(tmp_path / "ml"),
                                       "--out", str(out), "--text-encoder", "none"])
    loaded = prepared.load(out)
    direct = movielens.load(tmp_path / "ml")
    # assert
    assert result.exit_code == 0, result.output
    assert f"prepared 300 interactions, 30 users, {direct.num_items} items" in result.output
    np.testing.assert_array_equal(loaded.item, direct.item)
    np.testing.assert_array_equal(loaded.timestamp, direct.timestamp)
    for name, table in direct.user_features.items():
        np.testing.assert_array_equal(loaded.user_features[name], table)
    assert loaded.vocabularies == direct.vocabularies
    assert loaded.item_text == direct.item_text


def test_prepare_bad_path_and_folder_without_schema(tmp_path):
    result = CliRunner().invoke(main, ["data", "prepare", "--source", "movielens", "--path", str(tmp_path / "x"),
                                       "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and f"--path: {tmp_path / 'x'}: no such file or folder" in result.output
    result = CliRunner().invoke(main, ["build", "--recipe", "smoke", "--data", str(tmp_path), "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and "without schema.json; prepare it first" in result.output
