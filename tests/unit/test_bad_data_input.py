"""Bad data through the CLI: exit code 2 and one line naming the file, the row or column, and what was expected."""

import pytest
from click.testing import CliRunner

from edgerec.cli import main
from tests.utils import assert_one_line_error, write_criteo, write_movielens


def _prepare(*args):
    return CliRunner().invoke(main, ["data", "prepare", *args])


CSV_CASES = {
    "missing column": ("user_id,item,timestamp\n1,2,3\n", ["log.csv", "missing column(s) item_id", "the file has: user_id, item, timestamp"]),
    "non-numeric timestamp": ("user_id,item_id,timestamp\n1,2,3\n1,3,tomorrow\n", ["log.csv: row 3", "'timestamp' must be a number", "'tomorrow'"]),
    "empty id": ("user_id,item_id,timestamp\n1,2,3\n,3,4\n", ["log.csv: row 3", "'user_id' is empty"]),
    "empty file": ("user_id,item_id,timestamp\n", ["log.csv: no rows"]),
    "unknown separator": ("user_id item_id timestamp\n1 2 3\n", ["log.csv", "cannot tell the separator", "pass --sep"]),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_generic_csv_errors(tmp_path, case):
    text, needles = CSV_CASES[case]
    (tmp_path / "log.csv").write_text(text)
    assert_one_line_error(_prepare("--source", "csv", "--path", str(tmp_path / "log.csv"), "--out", str(tmp_path / "o")), *needles)


def test_nan_label_names_row(tmp_path):
    (tmp_path / "log.csv").write_text("user_id,item_id,timestamp,rating\n1,2,3,4\n1,3,4,nan\n")
    result = _prepare("--source", "csv", "--path", str(tmp_path / "log.csv"), "--out", str(tmp_path / "o"),
                      "--label-col", "rating", "--min-rating", "4")
    assert_one_line_error(result, "row 3", "'rating' must be a number")


def test_empty_after_filtering(tmp_path):
    (tmp_path / "log.csv").write_text("user_id,item_id,timestamp,rating\n1,2,3,1\n1,3,4,2\n")
    result = _prepare("--source", "csv", "--path", str(tmp_path / "log.csv"), "--out", str(tmp_path / "o"),
                      "--label-col", "rating", "--min-rating", "4")
    assert_one_line_error(result, "log.csv: no rows with rating >= 4.0")


def test_not_utf8_text_is_named(tmp_path):
    (tmp_path / "log.csv").write_bytes("user_id,item_id,timestamp\n\xe9t\xe9,2,3\n".encode("latin-1"))
    result = _prepare("--source", "csv", "--path", str(tmp_path / "log.csv"), "--out", str(tmp_path / "o"))
    assert_one_line_error(result, "log.csv: cannot be read as text", "utf-8")


def test_movielens_non_integer_id(tmp_path):
    write_movielens(tmp_path / "ml", "1m")
    (tmp_path / "ml" / "ratings.dat").write_text("1::2::5::978300000\nx7::3::4::978300001\n")
    assert_one_line_error(_prepare("--source", "movielens", "--path", str(tmp_path / "ml"), "--out", str(tmp_path / "o")),
                    "ratings.dat: line 2: column 'user' must be an integer. Received: 'x7'")


def test_a_log_left_empty_by_the_k_core_is_refused(tmp_path):
    # setup: every user has a single interaction, so the default k-core (users >= 2) leaves nothing
    (tmp_path / "log.csv").write_text("user_id,item_id,timestamp\n1,2,3\n2,3,4\n")
    result = _prepare("--source", "csv", "--path", str(tmp_path / "log.csv"), "--out", str(tmp_path / "o"))
    assert_one_line_error(result, "log.csv: no interaction is left after k-core filtering (users >= 2",
                          "lower --min-user-interactions")


GOOD_CRITEO = "\t".join(["0", *["1"] * 13, *["68fd1e64"] * 26]) + "\n"
CRITEO_CASES = {
    "comma-separated": (GOOD_CRITEO + GOOD_CRITEO.replace("\t", ","),
                        ["day.tsv: line 2: expected 40 tab-separated fields (label, I1..I13, C1..C26), found 1",
                         "(comma-separated? Criteo files are tab-separated)"]),
    "field missing": (GOOD_CRITEO + GOOD_CRITEO.rstrip("\n").rsplit("\t", 1)[0] + "\n",
                      ["day.tsv: line 2: expected 40 tab-separated fields", "found 39"]),
    "label not 0/1": (GOOD_CRITEO + "2" + GOOD_CRITEO[1:],
                      ["day.tsv: line 2: column 'label' (field 1) must be 0 or 1. Received: '2'"]),
    "empty label": (GOOD_CRITEO + GOOD_CRITEO[1:],
                    ["day.tsv: line 2: column 'label' (field 1) must be 0 or 1. Received: an empty field"]),
    "non-integer I-column": (GOOD_CRITEO + GOOD_CRITEO.replace("\t1\t", "\tabc\t", 1),
                             ["day.tsv: line 2: column 'I1' (field 2) must be an integer or empty. Received: 'abc'"]),
    "empty file": ("", ["day.tsv: no rows (expected tab-separated lines: label, I1..I13, C1..C26)"]),
}


@pytest.mark.parametrize("case", sorted(CRITEO_CASES))
def test_criteo_errors(tmp_path, case):
    text, needles = CRITEO_CASES[case]
    (tmp_path / "day.tsv").write_text(text)
    assert_one_line_error(_prepare("--source", "criteo", "--path", str(tmp_path / "day.tsv"), "--out", str(tmp_path / "o")),
                    *needles)


def test_criteo_rejects_interaction_flags(tmp_path):
    write_criteo(tmp_path / "day.tsv", rows=10)
    assert_one_line_error(_prepare("--source", "criteo", "--path", str(tmp_path / "day.tsv"), "--out", str(tmp_path / "o"),
                             "--min-rating", "4"), "--min-rating / --label-col do not apply to --source criteo")
    assert_one_line_error(_prepare("--source", "csv", "--path", str(tmp_path / "day.tsv"), "--out", str(tmp_path / "o"),
                             "--min-count", "3"), "--min-count applies to --source criteo")
