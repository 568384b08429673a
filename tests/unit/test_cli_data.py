"""`edgerec data prepare` for generic files: mapping flags reach the loader, mistakes exit 2."""

import json

from click.testing import CliRunner

from edgerec.cli import main


def _csv(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("uid,mid,when,stars,country\nu1,m1,1,5,fr\nu1,m2,2,2,fr\nu2,m1,3,4,de\nu2,m3,4,5,de\n")
    return path


def test_mapping_flags_and_threshold(tmp_path):
    # execute
    result = CliRunner().invoke(main, [
        "data", "prepare", "--source", "csv", "--path", str(_csv(tmp_path)), "--out", str(tmp_path / "p"),
        "--user-col", "uid", "--item-col", "mid", "--time-col", "when", "--label-col", "stars", "--min-rating", "4",
        "--user-features", "country", "--min-user-interactions", "1",
    ])
    # assert
    assert result.exit_code == 0, result.output
    schema = json.loads((tmp_path / "p" / "schema.json").read_text())
    assert schema["interactions"] == 3 and schema["items"] == 2
    assert [f["name"] for f in schema["features"]] == ["user_id", "item_id", "country"]


def test_label_column_needs_a_threshold(tmp_path):
    result = CliRunner().invoke(main, ["data", "prepare", "--source", "csv", "--path", str(_csv(tmp_path)),
                                       "--out", str(tmp_path / "p"), "--label-col", "stars"])
    assert result.exit_code == 2 and "--label-col needs --min-rating" in result.output


def test_missing_column_is_one_line_listing_the_file_columns(tmp_path):
    result = CliRunner().invoke(main, ["data", "prepare", "--source", "csv", "--path", str(_csv(tmp_path)),
                                       "--out", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert result.output.strip().endswith("missing column(s) user_id, item_id, timestamp; the file has: uid, mid, when, stars, country")
    assert len(result.output.strip().splitlines()) == 1


def test_source_and_file_type_must_agree(tmp_path):
    result = CliRunner().invoke(main, ["data", "prepare", "--source", "parquet", "--path", str(_csv(tmp_path)),
                                       "--out", str(tmp_path / "p")])
    assert result.exit_code == 2 and "--source parquet expects a .parquet file" in result.output


def test_criteo_prepare_writes_a_ctr_folder(tmp_path):
    # setup
    from tests.utils import write_criteo

    labels = write_criteo(tmp_path / "day.tsv", rows=300)
    # execute
    result = CliRunner().invoke(main, ["data", "prepare", "--source", "criteo", "--path", str(tmp_path / "day.tsv"),
                                       "--out", str(tmp_path / "p"), "--min-count", "3"])
    # assert
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"prepared 300 rows, click rate {labels.mean():.4f} (I1, I2,")
    schema = json.loads((tmp_path / "p" / "schema.json").read_text())
    assert schema["kind"] == "ctr" and schema["rows"] == 300 and len(schema["features"]) == 39
    for feature in schema["features"]:
        vocab = (tmp_path / "p" / "vocab" / f"{feature['name']}.txt").read_text().splitlines()
        assert vocab[0] == "<oov>" and len(vocab) == feature["vocab_size"]
