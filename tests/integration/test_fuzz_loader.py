"""The bench loader under mutated artifacts, in reduced form (bench/fuzz_loader.py runs 1,000)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "fuzz_loader.py"


def test_every_mutated_artifact_becomes_a_row_and_the_parent_survives(smoke_bundle, tmp_path):
    # execute
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(smoke_bundle), "--cases", "24", "--batch", "12", "--seed", "3",
         "--json", str(tmp_path / "fuzz.json")],
        capture_output=True, text=True, timeout=600,
    )
    # assert
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "fuzz.json").read_text())
    assert result["parent crashes"] == 0
    assert result["ok rows"] + result["error rows"] == result["cases"] == 24
    assert result["error rows"] > 0, "mutations this heavy must break some artifacts, or the fuzzer is not fuzzing"
