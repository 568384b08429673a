"""The fault suite in reduced form: every bad input, a few fuzz cases, one kill -9 and one Ctrl-C + --resume.

bench/fault_suite.py runs the full form (1,000 fuzz cases, five kill points, ten interrupts, two builds for
determinism); here the CI smoke bundle is the reference, so its build counts as the first
determinism run and only the resumed build is compared with it. Kill and Ctrl-C instants fall in the
first 10 s, when a smoke build (20-30 s on CI's machine when it is quiet) is still running: a later
instant may come after it finished, and such a trial tests nothing.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "fault_suite.py"


def test_bad_inputs_fuzz_and_a_killed_build_are_all_handled(smoke_bundle, tmp_path):
    # execute
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--reference", str(smoke_bundle), "--fuzz-cases", "12", "--kill-trials", "1",
         "--interrupt-trials", "1", "--kill-window", "10", "--determinism-runs", "1", "--seed", "5", "--json", str(tmp_path / "faults.json")],
        capture_output=True, text=True, timeout=1200,
    )
    # assert
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    result = json.loads((tmp_path / "faults.json").read_text())
    assert result["bad_inputs"]["tried"] >= 30 and result["bad_inputs"]["handled cleanly"] == result["bad_inputs"]["tried"]
    assert result["fuzz"]["parent crashes"] == 0 and result["fuzz"]["cases"] == 12
    killed = result["kill_resume"]
    assert killed["trials"] == 1 and killed["mismatching"] == 0 and killed["partial"] == 0
    interrupted = result["interrupt_resume"]
    assert interrupted["trials"] == 1 and interrupted["unclean exits"] == 0 and interrupted["mismatching"] == 0
    assert interrupted["interrupted"] == 1  # a signal the build never saw would pass the lines above
