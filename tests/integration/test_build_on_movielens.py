"""`edgerec data prepare` + `edgerec build --data` on a (made-up) MovieLens-1M folder."""

import json

import pytest
from click.testing import CliRunner

from device_bench.bundle import BENCH, read_manifest
from edgerec.cli import main
from tests.utils import write_movielens

pytestmark = pytest.mark.slow


def test_prepare_then_build_writes_a_bundle_with_movielens_features(tmp_path):
    # setup
    write_movielens(tmp_path / "ml-1m", "1m", users=40, items=90, per_user=12)
    runner = CliRunner()
    prepared = runner.invoke(main, ["data", "prepare", "--source", "movielens", "--path", str(tmp_path / "ml-1m"),
                                    "--out", str(tmp_path / "prepared")])
    assert prepared.exit_code == 0, prepared.output
    # execute: the teacher reads the titles and genres prepare encoded, the student gets them by transfer
    result = runner.invoke(main, ["build", "--recipe", "smoke", "--data", str(tmp_path / "prepared"),
                                  "--set", "teacher.item_text=true", "--set", "distill.weight_transfer=pca",
                                  "--out", str(tmp_path / "bundle")])
    # assert
    assert result.exit_code == 0, result.output
    assert "starts from the PCA of teacher's item representations" in result.output
    manifest = read_manifest(tmp_path / "bundle")
    stages = {stage["name"]: stage for stage in manifest["stages"]}
    text_from = json.loads((tmp_path / "prepared" / "schema.json").read_text())["item_vectors"]["from"]
    assert text_from.startswith("minilm: ") or text_from.startswith("tfidf: ")  # with the text extra or without
    assert f"teacher (item text: {text_from.split(': ')[0]})" in stages
    assert set(stages["student distilled"]["facts"]["by_popularity"]) == {"head", "torso", "tail"}
    assert manifest["schema"]["source"].startswith("movielens-1m:")
    names = [f["name"] for f in manifest["schema"]["features"]]
    assert names == ["user_id", "item_id", "user_gender", "user_age", "user_occupation", "item_genre"]
    rows = json.loads((tmp_path / "bundle" / BENCH).read_text())["rows"]
    # the four rankers and the retrieval artifact (interaction data), each ok and with its full-catalogue or two-stage metrics
    assert [r["status"] for r in rows] == ["ok"] * 5 and rows[-1]["artifact"] == "retrieval_int8.tflite"
    assert "full_ndcg@10" in rows[-1]["metrics"] and all("two_stage_ndcg@10" in r["metrics"] for r in rows[:-1])
