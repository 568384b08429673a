"""The issue's acceptance case: a Last.fm-style `user_artists.dat` (tab-separated, a weight column, no
timestamp, users with one interaction) goes through `data prepare` and a smoke build."""

import json

import numpy as np
from click.testing import CliRunner

from device_bench.bundle import REPORT, read_manifest
from edgerec.cli import main


def _user_artists(path, users=120, artists=300, seed=0):
    """userID, artistID, weight; every 10th user listened to one artist only."""
    rng = np.random.default_rng(seed)
    lines = ["userID\tartistID\tweight"]
    for user in range(2, users + 2):
        count = 1 if user % 10 == 0 else int(rng.integers(3, 25))
        popular = rng.zipf(1.4, 4 * count) % artists + 1
        for artist in list(dict.fromkeys(popular.tolist()))[:count]:
            lines.append(f"{user}\t{artist}\t{int(rng.integers(1, 5000))}")
    path.write_text("\n".join(lines) + "\n")
    return sum(1 for user in range(2, users + 2) if user % 10 == 0)


def test_a_tab_separated_dat_log_without_time_prepares_and_builds(tmp_path):
    # setup
    single = _user_artists(tmp_path / "user_artists.dat")
    runner = CliRunner()
    # execute
    prepare = runner.invoke(main, ["data", "prepare", "--source", "csv", "--path", str(tmp_path / "user_artists.dat"),
                                   "--user-col", "userID", "--item-col", "artistID", "--weight-col", "weight",
                                   "--no-time", "--out", str(tmp_path / "d")])
    build = runner.invoke(main, ["build", "--recipe", "smoke", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "b")])
    # assert: the users with one artist are dropped with one line, and the report names the split
    assert prepare.exit_code == 0, prepare.output
    assert f"dropped {single} users" in prepare.output
    assert json.loads((tmp_path / "d" / "schema.json").read_text())["timed"] is False
    assert build.exit_code == 0, build.output
    protocol = "leave-one-out per user at random (the data has no timestamps; drawn with seed 0)"
    assert protocol in (tmp_path / "b" / REPORT).read_text()
    assert protocol in json.dumps(read_manifest(tmp_path / "b"))
