"""Ctrl-C, SIGTERM and a second build into the same folder: one line, a known exit code, nothing lost."""

import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from edgerec.build_lock import LOCK_FILE, BuildLockedError, build_lock
from edgerec.checkpoints import STATE_DIR
from edgerec.cli import main

CLI = [sys.executable, "-c", "from edgerec.cli import main; main()"]


def _interrupt_inside_tensorflow(*args, **kwargs):
    """What Ctrl-C inside a TensorFlow op looks like from Python: a SystemError around the interrupt."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        raise SystemError("<built-in function TFE_Py_Execute> returned a result with an exception set")


@pytest.mark.parametrize("raised", [KeyboardInterrupt(), _interrupt_inside_tensorflow])
def test_an_interrupted_build_is_one_line_naming_the_resume_command(monkeypatch, tmp_path, raised):
    from edgerec import pipeline

    def run(*args, **kwargs):
        if isinstance(raised, BaseException):
            raise raised
        raised()

    monkeypatch.setattr(pipeline, "run", run)
    out = tmp_path / "my bundle"
    result = CliRunner().invoke(main, ["build", "--recipe", "smoke", "--set", "seed=3", "--out", str(out)])
    assert result.exit_code == 130, result.output
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        f"interrupted; continue with: edgerec build --recipe smoke --set=seed=3 --out '{out}' --resume"
    ]


def test_another_verb_interrupted_is_one_line_too(monkeypatch, tmp_path):
    from edgerec.data import sources

    def prepare(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sources, "prepare", prepare)
    log = tmp_path / "log.csv"
    log.write_text("user_id,item_id,timestamp\n1,2,3\n")
    result = CliRunner().invoke(main, ["data", "prepare", "--source", "csv", "--path", str(log), "--out",
                                       str(tmp_path / "d")])
    assert result.exit_code == 130, result.output
    assert result.output.strip() == "interrupted"


@pytest.mark.slow
def test_sigterm_ends_a_build_like_ctrl_c_and_resume_continues_it(tmp_path):
    out = tmp_path / "b"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([*CLI, "build", "--recipe", "smoke", "--out", str(out)], env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines = []
    for line in proc.stderr:  # wait until the first stage has finished: its checkpoint is there to keep
        lines.append(line)
        if line.startswith("[teacher]"):
            break
    deadline = time.monotonic() + 120
    while not any(out.joinpath(STATE_DIR).glob("*.npz")) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 130, "".join(lines) + rest
    assert "Traceback" not in rest
    assert rest.strip().splitlines()[-1] == f"interrupted; continue with: edgerec build --recipe smoke --out {out} --resume"
    resumed = subprocess.run([*CLI, "build", "--recipe", "smoke", "--out", str(out), "--resume"], env=env, text=True,
                             capture_output=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    kept = next(line for line in resumed.stderr.splitlines() if line.startswith("[resume]"))
    assert "finished stage(s) kept: " in kept and not kept.endswith("kept: none"), kept


def test_a_second_build_into_the_same_folder_is_refused_and_writes_nothing(tmp_path):
    out = tmp_path / "b"
    with build_lock(out):
        result = CliRunner().invoke(main, ["build", "--recipe", "smoke", "--out", str(out)])
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        f"Error: --out: {out}: another edgerec build is writing into this folder (it holds {out / LOCK_FILE}); "
        "wait for it to finish or give another --out"
    )
    assert not out.exists()  # the holder created the folder and wrote nothing into it: no trace left


def test_a_lock_left_by_a_killed_build_is_not_held(tmp_path):
    out = tmp_path / "b"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from edgerec.build_lock import build_lock\n"
        f"with build_lock({str(out)!r}):\n    print('held', flush=True); time.sleep(600)\n"
    )], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(BuildLockedError, match="another edgerec build is writing into this folder"):
        with build_lock(out):
            pass
    holder.kill()
    holder.wait()
    assert (out / LOCK_FILE).exists()  # the file stays; the lock went with the process
    with build_lock(out):
        pass


def test_the_cli_runs_from_a_thread_that_may_not_set_signal_handlers(tmp_path):
    import threading

    results = []
    thread = threading.Thread(target=lambda: results.append(
        CliRunner().invoke(main, ["build", "--recipe", "smoke", "--dump-recipe"])))
    thread.start()
    thread.join(timeout=60)
    assert results and results[0].exit_code == 0, results and results[0].output
