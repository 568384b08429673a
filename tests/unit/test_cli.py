"""CLI user errors: exit code 2 and one line naming the thing; no TensorFlow for bench or help."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from edgerec.cli import main


def _error_lines(result):
    return [line for line in result.output.splitlines() if line.strip()]


def test_bench_missing_path_is_one_line_naming_it(tmp_path):
    missing = tmp_path / "nope"
    result = CliRunner().invoke(main, ["bench", str(missing)])
    assert result.exit_code == 2
    assert _error_lines(result) == [f"Error: {missing}: no such file or folder"]


def test_unknown_recipe_lists_the_valid_ones():
    result = CliRunner().invoke(main, ["build", "--recipe", "defualt"])
    assert result.exit_code == 2
    assert "Did you mean 'default'?" in result.output and "default, smoke" in result.output
    assert len(_error_lines(result)) == 1


def test_missing_data_file_is_named(tmp_path):
    result = CliRunner().invoke(main, ["build", "--data", str(tmp_path / "log.csv"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert f"--data: {tmp_path / 'log.csv'}: no such file" in result.output


def test_out_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    result = CliRunner().invoke(main, ["build", "--recipe", "smoke", "--out", str(target / "bundle")])
    assert result.exit_code == 2
    assert "exists and is not a folder" in result.output


def test_bad_thread_list_names_the_flag(tmp_path):
    result = CliRunner().invoke(main, ["bench", str(tmp_path), "--threads", "1,x"])
    assert result.exit_code == 2
    assert "--threads" in result.output and "comma-separated integers" in result.output


def test_dump_recipe_prints_yaml():
    import yaml

    result = CliRunner().invoke(main, ["build", "--recipe", "smoke", "--dump-recipe"])
    assert result.exit_code == 0
    assert yaml.safe_load(result.output)["data"]["synthetic_size"] == "smoke"


@pytest.mark.parametrize("argv", [["--help"], ["bench", "--help"], ["build", "--help"]])
def test_cli_does_not_import_tensorflow_until_needed(argv):
    code = (
        "import sys; from edgerec.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
