"""End to end: `edgerec build --recipe smoke`, then `edgerec bench` on what it wrote."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from device_bench import metrics, rows
from device_bench.bundle import BENCH, MANIFEST, PLOTS, REPORT, read_manifest, validate
from edgerec.cli import main
from tests.utils import NO_TENSORFLOW, blocked_import_env

pytestmark = pytest.mark.slow
RANKERS = ["teacher.tflite", "student_scratch.tflite", "student.tflite", "student_int8.tflite"]
RETRIEVAL = "retrieval_int8.tflite"
ARTIFACTS = [*RANKERS, RETRIEVAL]


def test_bundle_holds_the_contract_files(smoke_bundle):
    for name in [*ARTIFACTS, "manifest.json", "eval.npz", "bench.json", "report.md"]:
        assert (smoke_bundle / name).is_file(), name
    assert not list(smoke_bundle.glob(".*.tmp")), "no temporary file left behind"


def test_manifest_matches_the_files(smoke_bundle):
    manifest = read_manifest(smoke_bundle)
    validate(manifest)
    assert [a["file"] for a in manifest["artifacts"]] == ARTIFACTS
    features = manifest["schema"]["features"]
    for artifact in manifest["artifacts"]:
        data = (smoke_bundle / artifact["file"]).read_bytes()
        assert artifact["sha256"] == hashlib.sha256(data).hexdigest()
        assert artifact["bytes"] == len(data)
        owners = ("user",) if artifact["file"] == RETRIEVAL else ("user", "item")
        assert {i["name"] for i in artifact["inputs"]} == {f["name"] for f in features if f["owner"] in owners}
    by_file = {a["file"]: a for a in manifest["artifacts"]}
    modes = {name: a["mode"] for name, a in by_file.items()}
    assert modes["student_int8.tflite"] == "int8" and modes["teacher.tflite"] == "fp32" and modes[RETRIEVAL] == "int8"
    assert [s["step"] for s in by_file["student_int8.tflite"]["produced_by"]["steps"]] == ["low_rank", "prune", "int4_tables", "qat"]
    # the retrieval artifact: both signatures, K as the smoke recipe asks, the catalogue of the vocabulary
    retrieval = by_file[RETRIEVAL]
    assert retrieval["outputs"] == [{"name": "items", "dtype": "int32", "shape": [-1, 20]},
                                    {"name": "scores", "dtype": "float32", "shape": [-1, 20]}]
    assert [i["name"] for i in retrieval["signatures"]["score"]["inputs"]] == sorted(
        ["candidates", *(f["name"] for f in features if f["owner"] == "user")])
    items = next(f for f in features if f["name"] == "item_id")
    assert retrieval["retrieval"]["top_k"] == 20 and retrieval["retrieval"]["num_items"] == items["vocab_size"]
    assert list(retrieval["retrieval"]["float_ops"]) == ["DEQUANTIZE"]  # full-integer but for the float logits out
    for feature, relative in manifest["schema"]["vocabularies"].items():
        assert (smoke_bundle / relative).is_file(), feature
    assert manifest["recipe"]["name"] == "smoke" and manifest["versions"]["tensorflow"]


def test_bench_json_has_every_contract_field(smoke_bundle):
    result = json.loads((smoke_bundle / BENCH).read_text())
    assert [r["artifact"] for r in result["rows"]] == ARTIFACTS
    manifest = read_manifest(smoke_bundle)
    for row, artifact in zip(result["rows"], manifest["artifacts"]):
        assert tuple(row) == rows.ROW_KEYS and row["status"] == "ok"
        assert row["bytes"] == artifact["bytes"]
        assert row["latency_us"]["p50"] > 0 and row["latency_us"]["init"] > 0
        kind = metrics.CATALOGUE if row["artifact"] == RETRIEVAL else metrics.RERANKED
        assert set(row["metrics"]) == {*metrics.keys(), *metrics.retrieval_keys(kind)}
        # fp32 on the device scores like Keras did; int8 within quantization error
        tolerance = 1e-4 if artifact["mode"] == "fp32" else 0.05
        assert row["metrics"]["auc"] == pytest.approx(artifact["keras_metrics"]["auc"], abs=tolerance)
        # every held-out list in exactly one popularity group, scored on the device
        assert sum(group["lists"] for group in row["by_popularity"].values()) == manifest["eval"]["held_out"]
    # the retrieval artifact's full-catalogue metrics track its Keras model's; two-stage re-ranking of its
    # top-100 by the fp32 teacher can only find targets the retrieval found within its top-100
    retrieval = result["rows"][-1]
    for key in metrics.retrieval_keys(metrics.CATALOGUE):
        assert retrieval["metrics"][key] == pytest.approx(manifest["artifacts"][-1]["keras_metrics"][key], abs=0.05)
    teacher = result["rows"][0]["metrics"]
    assert 0 < teacher["two_stage_recall@10"] <= retrieval["metrics"]["full_recall@100"]


def test_report_shows_artifacts_and_baselines(smoke_bundle):
    report = (smoke_bundle / REPORT).read_text()
    for needle in ["student_int8.tflite", "popularity (baseline)", "student trained alone (baseline)", "+ qat",
                   "## Retrieval: the whole catalogue", "top-100 re-ranked by student_int8.tflite",
                   "retrieval student distilled (two-tower)"]:
        assert needle in report


def test_bench_without_tensorflow_prints_a_row_per_artifact(smoke_bundle, tmp_path):
    # setup: a Python in which TensorFlow cannot be imported, as on a Pi with edgerec[device]
    env, log = blocked_import_env(tmp_path, (*NO_TENSORFLOW, "converters"))
    out = tmp_path / "bench.json"
    # execute
    proc = subprocess.run(
        [sys.executable, "-c", "from edgerec.cli import main; main()", "bench", str(smoke_bundle),
         "--runs", "10", "--warmup", "1", "--min-seconds", "0", "--json", str(out)],
        env=env, capture_output=True, text=True,
    )
    # assert
    assert proc.returncode == 0, proc.stderr
    assert not log.exists(), f"tried to import: {log.read_text()}"
    for name in ARTIFACTS:
        assert f"| {name} | ok |" in proc.stdout
    header = proc.stdout.splitlines()[0]
    for column in ["size KiB", "runtime", "threads", "batch", "init ms", "first µs", "mean µs", "std µs",
                   "p50 µs", "p90 µs", "p99 µs", "runs", "peak RSS MiB", "AUC", "LogLoss", "HR@10", "NDCG@10"]:
        assert f"| {column} |" in header
    assert "ai_edge_litert" in proc.stdout
    assert [tuple(r) for r in json.loads(out.read_text())["rows"]] == [rows.ROW_KEYS] * len(ARTIFACTS)


def test_truncated_artifact_is_an_error_row_and_the_rest_complete(smoke_bundle, tmp_path):
    # setup: a copy of the bundle whose int8 artifact lost its second half; no manifest, so
    # the interpreter itself meets the broken file (not the sha256 check)
    bundle = tmp_path / "bundle"
    shutil.copytree(smoke_bundle, bundle)
    (bundle / MANIFEST).unlink()
    data = (bundle / "student_int8.tflite").read_bytes()
    (bundle / "student_int8.tflite").write_bytes(data[: len(data) // 2])
    out = tmp_path / "rows.json"
    # execute
    result = CliRunner().invoke(main, ["bench", str(bundle), "--runs", "5", "--min-seconds", "0", "--json", str(out)])
    # assert
    assert result.exit_code == 0, result.output
    by_name = {r["artifact"]: r for r in json.loads(out.read_text())["rows"]}
    assert by_name["student_int8.tflite"]["status"].startswith("error")
    assert all(by_name[n]["status"] == "ok" for n in ARTIFACTS if n != "student_int8.tflite")
    assert "two_stage_ndcg@10" not in by_name["teacher.tflite"]["metrics"]  # no manifest: no role, no two-stage pass


def test_tampered_artifact_fails_its_manifest_check(smoke_bundle, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(smoke_bundle, bundle)
    with open(bundle / "student.tflite", "ab") as fh:
        fh.write(b"\0")
    result = CliRunner().invoke(main, ["bench", str(bundle / "student.tflite"), "--runs", "5", "--min-seconds", "0"])
    assert result.exit_code == 0
    assert "sha256 mismatch" in result.output


def test_existing_bundle_is_not_overwritten_without_force(smoke_bundle, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(smoke_bundle, bundle)
    result = CliRunner().invoke(main, ["build", "--recipe", "smoke", "--out", str(bundle)])
    assert result.exit_code == 2
    assert "already holds a bundle" in result.output and "--force" in result.output


def test_build_plots_and_report_reruns_without_tensorflow(smoke_bundle, tmp_path):
    # setup: the build drew the plots (matplotlib is in CI's extras); re-run the report where TensorFlow is blocked
    plots = json.loads((smoke_bundle / PLOTS).read_text())
    assert [a["artifact"] for a in plots["artifacts"]] == ARTIFACTS
    assert all((smoke_bundle / p["file"]).read_bytes().startswith(b"\x89PNG") for p in plots["plots"])
    bundle = tmp_path / "bundle"
    shutil.copytree(smoke_bundle, bundle)
    env, log = blocked_import_env(tmp_path, (*NO_TENSORFLOW, "converters"))
    # execute
    proc = subprocess.run([sys.executable, "-c", "from edgerec.cli import main; main()", "report", str(bundle)],
                          env=env, capture_output=True, text=True)
    # assert
    assert proc.returncode == 0, proc.stderr
    assert not log.exists(), f"tried to import: {log.read_text()}"
    assert json.loads((bundle / PLOTS).read_text()) == plots
    assert "![auc_vs_bytes](auc_vs_bytes.png)" in (bundle / REPORT).read_text()


def test_unknown_ids_map_to_oov_and_every_artifact_runs_on_them(smoke_bundle):
    # setup: what an app does with a user, item or category it has never seen
    import numpy as np

    from device_bench import accuracy, runtime

    manifest = read_manifest(smoke_bundle)
    assert manifest["schema"]["oov_index"] == 0
    for relative in manifest["schema"]["vocabularies"].values():
        assert (smoke_bundle / relative).read_text().splitlines()[0] == "<oov>"
    rows = {f["name"]: np.zeros(8, dtype=np.int32) for f in manifest["schema"]["features"]}
    for artifact in manifest["artifacts"]:
        # execute
        interpreter, _ = runtime.load(smoke_bundle / artifact["file"])
        if artifact["file"] == RETRIEVAL:
            users = {i["name"]: rows[i["name"]] for i in artifact["inputs"]}
            out = interpreter.get_signature_runner("recommend")(**users)
            logits, items = out["scores"], out["items"]
            assert items.shape == (8, 20) and items.min() >= 1  # the OOV item is never recommended
        else:
            logits = accuracy.predict(interpreter, rows)
        # assert
        assert logits.shape[0] == 8 and np.isfinite(logits).all()
