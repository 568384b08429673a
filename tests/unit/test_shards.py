"""Parquet shard folders: `data prepare --shard-rows` writes them, builds load them like one file, and a
Spark-style `part-*.parquet` folder is read as one table in part order."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from edgerec.cli import main
from edgerec.data import prepared, shards
from edgerec.data.schema import DataError
from tests.utils import tiny_interactions


def test_sharded_prepare_loads_the_same_data_as_one_file(tmp_path):
    # setup
    data = tiny_interactions()
    prepared.save(data, tmp_path / "one")
    # execute
    schema = prepared.save(data, tmp_path / "many", shard_rows=50)
    # assert
    parts = shards.files(tmp_path / "many" / prepared.INTERACTIONS)
    assert schema["shard_rows"] == 50 and len(parts) == -(-len(data.user) // 50)
    one, many = prepared.load(tmp_path / "one"), prepared.load(tmp_path / "many")
    for name in ("user", "item", "timestamp"):
        np.testing.assert_array_equal(getattr(many, name), getattr(one, name))
    assert many.vocabularies == one.vocabularies


def test_rewriting_with_fewer_shards_removes_the_stale_ones(tmp_path):
    data = tiny_interactions()
    prepared.save(data, tmp_path / "p", shard_rows=20)
    prepared.save(data, tmp_path / "p", shard_rows=200)
    assert len(shards.files(tmp_path / "p" / prepared.INTERACTIONS)) == 2
    assert len(prepared.load(tmp_path / "p").user) == len(data.user)


def _spark_folder(tmp_path):
    """A folder as Spark writes it: part files with job ids, a _SUCCESS marker and .crc checksums."""
    folder = tmp_path / "spark"
    folder.mkdir()
    rows = [("u1", "m1", 1), ("u1", "m2", 2), ("u2", "m1", 3), ("u2", "m3", 4), ("u3", "m2", 5), ("u3", "m3", 6)]
    for index, part in enumerate((rows[:4], rows[4:])):
        frame = pd.DataFrame(part, columns=["uid", "mid", "ts"])
        frame.to_parquet(folder / f"part-{index:05d}-6f1c2a.snappy.parquet", index=False)
        (folder / f".part-{index:05d}-6f1c2a.snappy.parquet.crc").write_bytes(b"\x00")
    (folder / "_SUCCESS").write_text("")
    return folder


def test_prepare_reads_a_spark_folder_as_one_table(tmp_path):
    # execute
    result = CliRunner().invoke(main, [
        "data", "prepare", "--source", "parquet", "--path", str(_spark_folder(tmp_path)), "--out", str(tmp_path / "p"),
        "--user-col", "uid", "--item-col", "mid", "--time-col", "ts", "--shard-rows", "4",
    ])
    # assert
    assert result.exit_code == 0, result.output
    assert "as shards of at most 4 rows" in result.output
    data = prepared.load(tmp_path / "p")
    assert len(data.user) == 6 and data.vocabularies["user_id"] == ["u1", "u2", "u3"]
    np.testing.assert_array_equal(data.timestamp, np.arange(1, 7))
    assert json.loads((tmp_path / "p" / "schema.json").read_text())["shard_rows"] == 4


def test_a_bad_row_in_one_part_names_that_part_and_its_row(tmp_path):
    # setup
    folder = _spark_folder(tmp_path)
    bad = folder / "part-00002-6f1c2a.snappy.parquet"
    pd.DataFrame({"uid": ["u4", "u4"], "mid": ["m1", None], "ts": [7, 8]}).to_parquet(bad, index=False)
    # execute
    result = CliRunner().invoke(main, [
        "data", "prepare", "--source", "parquet", "--path", str(folder), "--out", str(tmp_path / "p"),
        "--user-col", "uid", "--item-col", "mid", "--time-col", "ts",
    ])
    # assert
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {bad}: row 2: column 'mid' is empty"
    assert not (tmp_path / "p").exists()


def test_a_part_missing_a_column_is_named(tmp_path):
    folder = _spark_folder(tmp_path)
    odd = folder / "part-00002-6f1c2a.snappy.parquet"
    pd.DataFrame({"uid": ["u4"], "ts": [7]}).to_parquet(odd, index=False)
    with pytest.raises(DataError, match=rf"{odd}: missing column\(s\) mid; the shard has: uid, ts"):
        list(shards.chunks(shards.files(folder), ["uid", "mid"]))


def test_a_folder_without_parquet_files_is_refused(tmp_path):
    (tmp_path / "_SUCCESS").write_text("")
    with pytest.raises(DataError, match="no .parquet files in this folder"):
        shards.files(tmp_path)


def test_chunks_number_rows_across_the_whole_folder(tmp_path):
    prepared.save(tiny_interactions(), tmp_path, shard_rows=70)
    paths = shards.files(tmp_path / prepared.INTERACTIONS)
    seen = [(c.first_row, len(c)) for c in shards.chunks(paths, ["user"], chunk_rows=32)]
    starts = np.cumsum([0] + [n for _, n in seen])[:-1]
    assert [first for first, _ in seen] == list(starts) and sum(n for _, n in seen) == 320


def test_click_rows_shard_and_load_like_one_file(tmp_path):
    # setup
    from tests.utils import write_criteo

    write_criteo(tmp_path / "day.tsv", rows=300)
    runner = CliRunner()
    for name, extra in (("one", []), ("many", ["--shard-rows", "64"])):
        result = runner.invoke(main, ["data", "prepare", "--source", "criteo", "--path", str(tmp_path / "day.tsv"),
                                      "--out", str(tmp_path / name), "--min-count", "3", *extra])
        assert result.exit_code == 0, result.output
    # assert
    one, many = prepared.load(tmp_path / "one"), prepared.load(tmp_path / "many")
    assert len(shards.files(tmp_path / "many" / prepared.ROWS)) == 5
    np.testing.assert_array_equal(many.labels, one.labels)
    for name in one.columns:
        np.testing.assert_array_equal(many.columns[name], one.columns[name])


def test_preparing_again_in_the_other_layout_leaves_only_the_new_one(tmp_path):
    data = tiny_interactions()
    prepared.save(data, tmp_path, shard_rows=100)
    prepared.save(data, tmp_path)
    assert (tmp_path / "interactions.parquet").is_file() and not (tmp_path / prepared.INTERACTIONS).exists()
    prepared.save(data, tmp_path, shard_rows=100)
    assert not (tmp_path / "interactions.parquet").exists() and len(prepared.load(tmp_path).user) == len(data.user)
