"""Same recipe, seed and machine -> the same held-out set and the same metrics, build after build."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgerec.cli import main

pytestmark = pytest.mark.slow


def test_a_second_smoke_build_reproduces_the_first(smoke_bundle, tmp_path):
    # execute
    result = CliRunner().invoke(main, ["build", "--recipe", "smoke", "--out", str(tmp_path / "again")])
    # assert
    assert result.exit_code == 0, result.output
    first = json.loads((smoke_bundle / "manifest.json").read_text())
    second = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert [s["metrics"] for s in second["stages"]] == [s["metrics"] for s in first["stages"]]
    assert [a["keras_metrics"] for a in second["artifacts"]] == [a["keras_metrics"] for a in first["artifacts"]]
    with np.load(smoke_bundle / "eval.npz") as a, np.load(tmp_path / "again" / "eval.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
    assert second["recipe"] == first["recipe"] and second["seed"] == first["seed"]
