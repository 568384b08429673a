"""CLI user errors: exit code 2 and one line naming the thing; no TensorFlow for bench or help."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from device_bench.errors import EdgerecError
from edgerec import recipe
from edgerec.cli import main


def _dump(folder, plain):
    import yaml

    path = folder / "dumped.yaml"
    path.write_text(yaml.safe_dump(plain, sort_keys=False))
    return path


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


class _Mistake(EdgerecError):
    """A user error no verb knows by name."""


def test_an_edgerec_error_inside_any_verb_is_exit_2_and_one_line(tmp_path, monkeypatch):
    # setup: the engine call of a verb raises an EdgerecError subclass the CLI has never heard of
    from edgerec import recipe, report

    def fail(*args, **kwargs):
        raise _Mistake("recipe: something the user can fix")

    monkeypatch.setattr(recipe, "load", fail)
    monkeypatch.setattr(report, "write", fail)
    # execute
    results = [CliRunner().invoke(main, ["build", "--recipe", "smoke"]),
               CliRunner().invoke(main, ["report", str(tmp_path)])]
    # assert
    for result in results:
        assert result.exit_code == 2
        assert _error_lines(result) == ["Error: recipe: something the user can fix"]


def test_an_error_that_is_not_a_user_mistake_is_not_turned_into_exit_2(monkeypatch):
    from edgerec import recipe

    def fail(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(recipe, "load", fail)
    result = CliRunner().invoke(main, ["build", "--recipe", "smoke"])
    assert result.exit_code == 1 and isinstance(result.exception, ValueError)


def test_dump_recipe_prints_yaml():
    import yaml

    result = CliRunner().invoke(main, ["build", "--recipe", "smoke", "--dump-recipe"])
    assert result.exit_code == 0
    assert yaml.safe_load(result.output)["data"]["synthetic_size"] == "smoke"


@pytest.mark.parametrize("verb", [["build"], ["compress", "--sensitivity"], ["distill", "--compare"]])
def test_set_reaches_every_recipe_reading_verb_and_a_bad_one_is_one_line(verb):
    result = CliRunner().invoke(main, [*verb, "--recipe", "smoke", "--set", "teacher.embeding_dim=8"])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "unknown key 'embeding_dim'. Did you mean 'embedding_dim'?" in result.output


def test_dump_recipe_shows_a_partial_recipe_merged_with_its_base_and_the_sets(tmp_path):
    import yaml

    path = tmp_path / "mine.yaml"
    path.write_text("teacher: {embedding_dim: 32}\n")
    result = CliRunner().invoke(main, ["build", "--recipe", str(path), "--set", "student.hidden=[16]", "--dump-recipe"])
    assert result.exit_code == 0, result.output
    dumped = yaml.safe_load(result.output)
    default = recipe.load("default").to_dict()
    assert dumped["name"] == "mine" and dumped["teacher"] == {**default["teacher"], "embedding_dim": 32}
    assert dumped["student"] == {**default["student"], "hidden": [16]}
    assert recipe.load(str(_dump(tmp_path, dumped))) == recipe.load(str(path), ("student.hidden=[16]",))


@pytest.mark.parametrize("argv", [["--help"], ["bench", "--help"], ["build", "--help"]])
def test_cli_does_not_import_tensorflow_until_needed(argv):
    code = (
        "import sys; from edgerec.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _bench_json(path, ndcg, p50=10.0):
    from pathlib import Path as _Path

    from device_bench import rows

    row = rows.new_row(_Path("s.tflite"), 1, 1)
    row.update(status="ok", bytes=1000, metrics={"ndcg@10": ndcg})
    row["latency_us"]["p50"] = p50
    rows.write_json(path, {}, [row])
    return str(path)


def test_bench_compare_exit_codes(tmp_path):
    a = _bench_json(tmp_path / "a.json", 0.50)
    b = _bench_json(tmp_path / "b.json", 0.49, p50=20.0)

    passed = CliRunner().invoke(main, ["bench", "--compare", a, b, "--max-drop", "0.05"])
    failed = CliRunner().invoke(main, ["bench", "--compare", a, b, "--metric", "ndcg@10", "--max-drop", "0.01"])
    slower = CliRunner().invoke(main, ["bench", "--compare", a, b, "--max-drop", "0.05", "--max-slowdown", "0.5"])

    assert passed.exit_code == 0 and "| s.tflite | 1 | 1 | ndcg@10 | 0.5 | 0.49 | -2.00% |" in passed.output
    assert failed.exit_code == 1 and "FAIL s.tflite threads=1 batch=1: ndcg@10 dropped 2.00%" in failed.output
    assert slower.exit_code == 1 and "p50 slowed 100.00%" in slower.output


def test_bench_compare_bad_input_is_exit_2(tmp_path):
    a = _bench_json(tmp_path / "a.json", 0.5)
    (tmp_path / "bad.json").write_text("[]")

    unreadable = CliRunner().invoke(main, ["bench", "--compare", a, str(tmp_path / "bad.json")])
    one_file = CliRunner().invoke(main, ["bench", "--compare", a])

    assert unreadable.exit_code == 2 and "bad.json: not a readable bench JSON" in unreadable.output
    assert one_file.exit_code == 2 and "exactly two bench JSON files" in one_file.output


def test_bench_unknown_baseline_is_named(tmp_path):
    (tmp_path / "m.tflite").write_bytes(b"x")
    result = CliRunner().invoke(main, ["bench", str(tmp_path), "--baseline", "teacher.tflite"])
    assert result.exit_code == 2
    assert _error_lines(result) == ["Error: --baseline 'teacher.tflite' is not among the artifacts: m.tflite"]


def test_unwritable_out_folder_is_refused(tmp_path, monkeypatch):
    # setup: permissions cannot stop root (CI), so the permission check itself is made to say no
    import os

    monkeypatch.setattr(os, "access", lambda path, mode: False)
    # execute
    result = CliRunner().invoke(main, ["build", "--recipe", "smoke", "--out", str(tmp_path / "bundle")])
    # assert
    assert result.exit_code == 2
    assert _error_lines(result) == [f"Error: --out: {tmp_path} is not writable"]


@pytest.mark.parametrize("candidates", [False, True])
def test_unknown_distillation_layer_fails_before_any_training(tmp_path, candidates):
    # setup: the smoke recipe with a hint from a layer the student does not have (in its second candidate)
    import yaml

    from edgerec import recipe

    plain = recipe.load("smoke").to_dict()
    hint = [{"name": "hint", "student_layer": "hiden_0", "teacher_layer": "hidden_0"}]
    plain["distill"]["methods"] = [[{"name": "logits"}], hint] if candidates else hint
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(plain))
    # execute
    result = CliRunner().invoke(main, ["build", "--recipe", str(path), "--out", str(tmp_path / "o")])
    # assert
    assert result.exit_code == 2
    assert "model 'student' has no layer 'hiden_0'. Did you mean 'hidden_0'?" in result.output
    assert "[teacher]" not in result.output
