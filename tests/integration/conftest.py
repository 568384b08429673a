"""One smoke bundle per session, built through the CLI.

CI builds it once with the console script (timed, as a user would) and passes its folder in
EDGEREC_SMOKE_BUNDLE; run alone, the fixture builds it with Click's CliRunner.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def smoke_bundle(tmp_path_factory) -> Path:
    given = os.environ.get("EDGEREC_SMOKE_BUNDLE")
    if given:
        return Path(given)
    from click.testing import CliRunner

    from edgerec.cli import main

    out = tmp_path_factory.mktemp("smoke") / "bundle"
    result = CliRunner().invoke(main, ["build", "--recipe", "smoke", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out
