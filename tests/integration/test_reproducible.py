"""Same recipe, seed and machine -> the same held-out set and the same metrics, build after build."""

import numpy as np
import pytest
from click.testing import CliRunner

from device_bench.bundle import EVAL_SET, read_manifest
from edgerec.cli import main

pytestmark = pytest.mark.slow


def test_a_second_smoke_build_reproduces_the_first(smoke_bundle, tmp_path):
    # execute
    result = CliRunner().invoke(main, ["build", "--recipe", "smoke", "--out", str(tmp_path / "again")])
    # assert
    assert result.exit_code == 0, result.output
    first = read_manifest(smoke_bundle)
    second = read_manifest(tmp_path / "again")
    assert [s["metrics"] for s in second["stages"]] == [s["metrics"] for s in first["stages"]]
    assert [a["keras_metrics"] for a in second["artifacts"]] == [a["keras_metrics"] for a in first["artifacts"]]
    with np.load(smoke_bundle / EVAL_SET) as a, np.load(tmp_path / "again" / EVAL_SET) as b:
        assert sorted(a.files) == sorted(b.files)
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
    assert second["recipe"] == first["recipe"] and second["seed"] == first["seed"]
