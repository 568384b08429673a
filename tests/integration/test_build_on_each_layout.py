"""`edgerec data prepare` + `edgerec build --data` on a made-up fixture of every input layout.

MovieLens-1M and Criteo have their own, fuller end-to-end tests; this covers the other layouts
with a trimmed recipe (one epoch per model, QAT without fine-tuning), since what is under test
is that each layout reaches a complete bundle, not the training.
"""

import json

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from device_bench.bundle import BENCH, read_manifest
from edgerec import recipe
from edgerec.cli import main
from tests.utils import write_movielens

pytestmark = pytest.mark.slow


def _interactions_frame(ratings):
    frame = pd.DataFrame(ratings, columns=["user_id", "item_id", "rating", "timestamp"])
    frame["item_genre"] = frame["item_id"] % 4
    return frame


def _write(layout, folder):
    if layout.startswith("movielens-"):
        write_movielens(folder, layout.removeprefix("movielens-"), users=30, items=80, per_user=10)
        return ["--source", "movielens", "--path", str(folder)], "movielens"
    frame = _interactions_frame(write_movielens(folder / "ml", "1m", users=30, items=80, per_user=10))
    folder.mkdir(parents=True, exist_ok=True)
    if layout == "csv":
        frame.to_csv(folder / "log.csv", index=False)
        return ["--source", "csv", "--path", str(folder / "log.csv")], "log.csv"
    frame.to_parquet(folder / "log.parquet", index=False)
    return ["--source", "parquet", "--path", str(folder / "log.parquet")], "log.parquet"


@pytest.fixture(scope="module")
def trimmed_recipe(tmp_path_factory):
    plain = recipe.load("smoke").to_dict()
    plain["teacher_training"]["max_epochs"] = plain["student_training"]["max_epochs"] = 1
    plain["compress"] = [{"name": "qat", "finetune_epochs": 0}]
    path = tmp_path_factory.mktemp("recipe") / "trimmed.yaml"
    path.write_text(yaml.safe_dump(plain))
    return path


@pytest.mark.parametrize("layout", ["movielens-100k", "movielens-latest", "csv", "parquet"])
def test_prepare_then_build_reaches_a_complete_bundle(layout, trimmed_recipe, tmp_path):
    # setup
    source_flags, source_name = _write(layout, tmp_path / "raw")
    runner = CliRunner()
    prepared = runner.invoke(main, ["data", "prepare", *source_flags, "--out", str(tmp_path / "prepared")])
    assert prepared.exit_code == 0, prepared.output
    # execute
    result = runner.invoke(main, ["build", "--recipe", str(trimmed_recipe), "--data", str(tmp_path / "prepared"),
                                  "--out", str(tmp_path / "bundle")])
    # assert
    assert result.exit_code == 0, result.output
    manifest = read_manifest(tmp_path / "bundle")
    assert source_name in manifest["schema"]["source"]
    assert len(manifest["schema"]["features"]) > 2, "side features must come through every layout"
    rows = json.loads((tmp_path / "bundle" / BENCH).read_text())["rows"]
    # the four rankers and the retrieval artifact (interaction data), each ok and with its full-catalogue or two-stage metrics
    assert [r["status"] for r in rows] == ["ok"] * 5 and rows[-1]["artifact"] == "retrieval_int8.tflite"
    assert "full_ndcg@10" in rows[-1]["metrics"] and all("two_stage_ndcg@10" in r["metrics"] for r in rows[:-1])
    assert all(0.0 <= r["metrics"]["ndcg@10"] <= 1.0 for r in rows)
