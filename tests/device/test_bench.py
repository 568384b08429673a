"""run.bench: discovery, error rows, latency statistics, batch resizing, fidelity, pinning."""

import json
import os
import stat

import numpy as np
import pytest

from device_bench import fidelity, metrics, rows, run, worker
from device_bench.bundle import EVAL_SET, MANIFEST

FAST = {"runs": 30, "warmup": 2, "min_seconds": 0.0}


def test_latency_statistics_are_ordered_and_batch_resizes(bundle):
    # execute
    result = run.bench([bundle.model], batches=[1, 32], accuracy=False, **FAST)

    # assert
    assert [(row["batch"], row["status"]) for row in result] == [(1, "ok"), (32, "ok")]
    for row in result:
        latency = row["latency_us"]
        assert 0 < latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
        assert latency["runs"] >= FAST["runs"]
        assert latency["init"] > 0 and latency["first"] > 0
        assert row["metrics"] == {}


def test_accuracy_runs_once_and_is_copied_to_other_configurations(bundle):
    result = run.bench([bundle.model], threads=[1, 2], **FAST)

    assert [row["status"] for row in result] == ["ok", "ok"]
    assert tuple(result[0]["metrics"]) == metrics.keys()
    assert result[1]["metrics"] == result[0]["metrics"]


def test_discover_reads_manifest_and_eval_set(bundle):
    artifacts = run.discover([bundle.folder])

    assert [a.path.name for a in artifacts] == ["model.tflite", "truncated.tflite"]
    assert all(a.eval_path == bundle.eval_path for a in artifacts)
    assert artifacts[0].sha256 is not None and artifacts[1].sha256 is None


def test_sha256_mismatch_is_an_error_row_and_is_not_run(copy_model):
    folder = copy_model(manifest={"artifacts": [{"file": "model.tflite", "sha256": "0" * 64}]})

    [row] = run.bench([folder], **FAST)

    assert row["status"].startswith("error: sha256 mismatch: manifest says 0000")
    assert row["runtime"] == {"name": None, "version": None}
    assert row["latency_us"]["p50"] is None


def test_missing_path_raises_bench_input_error(tmp_path):
    with pytest.raises(run.BenchInputError, match="no-such-bundle: no such file or folder"):
        run.bench([tmp_path / "no-such-bundle"])


def test_folder_without_tflite_raises_bench_input_error(tmp_path):
    with pytest.raises(run.BenchInputError, match="no .tflite files"):
        run.discover([tmp_path])


def test_bad_options_raise_with_the_received_value(bundle):
    with pytest.raises(run.BenchInputError, match=r"Received: threads=\[0\]"):
        run.bench([bundle.model], threads=[0])
    with pytest.raises(run.BenchInputError, match="Unknown runtime 'tflite'"):
        run.bench([bundle.model], runtime="tflite")


def test_worker_that_outlives_the_timeout_is_an_error_row(bundle):
    # a worker cannot even start Python in 1 ms, so it is killed
    [row] = run.bench([bundle.model], timeout=0.001, **FAST)

    assert row["status"] == "error: timeout after 0.001 s (worker killed)"
    assert tuple(row) == rows.ROW_KEYS


def test_worker_killed_by_a_signal_is_an_error_row(bundle, tmp_path, monkeypatch):
    # setup: stand in for an interpreter segfaulting inside the worker
    crashing_python = tmp_path / "python"
    crashing_python.write_text("#!/bin/sh\nkill -SEGV $$\n")
    crashing_python.chmod(crashing_python.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(run.sys, "executable", str(crashing_python))

    # execute
    [row] = run.bench([bundle.model], **FAST)

    # assert
    assert row["status"].startswith("error: worker killed by signal SIGSEGV")


def test_bare_tflite_without_eval_set_uses_synthetic_inputs(copy_model):
    folder = copy_model()

    [row] = run.bench([folder / "model.tflite"], **FAST)

    assert row["status"] == "ok"
    assert row["metrics"] == {}


def test_eval_set_missing_an_input_names_it(bundle, copy_model):
    # setup: an eval set without item_id
    with np.load(bundle.eval_path) as npz:
        arrays = {key: npz[key] for key in npz.files if not key.endswith("item_id")}
    folder = copy_model(eval_arrays=arrays)

    [row] = run.bench([folder], **FAST)

    assert row["status"].startswith("error: EvalSetError")
    assert "missing model inputs ['item_id']; the file has ['user_id']" in row["status"]


def test_hanging_and_corrupt_artifacts_are_error_rows_beside_a_good_one(bundle, hanging_model, tmp_path):
    # setup: a flatbuffer whose root offset and identifier are overwritten
    flipped = tmp_path / "flipped.tflite"
    flatbuffer = bytearray(bundle.model.read_bytes())
    flatbuffer[:8] = bytes(b ^ 0xFF for b in flatbuffer[:8])
    flipped.write_bytes(bytes(flatbuffer))

    # execute
    result = run.bench([hanging_model, bundle.model, flipped, bundle.truncated], timeout=8, accuracy=False, **FAST)

    # assert
    status = {row["artifact"]: row["status"] for row in result}
    assert status["hanging.tflite"] == "error: timeout after 8 s (worker killed)"
    assert status["model.tflite"] == "ok"
    assert status["flipped.tflite"].startswith("error") and "timeout" not in status["flipped.tflite"]
    assert status["truncated.tflite"].startswith("error") and "timeout" not in status["truncated.tflite"]
    assert all(tuple(row) == rows.ROW_KEYS for row in result)


def test_default_reference_is_the_student_beside_the_artifact(bundle, copy_model):
    # setup: the same model under the student's name, so agreement must be perfect
    with np.load(bundle.eval_path) as npz:
        folder = copy_model(eval_arrays=dict(npz))
    (folder / "student.tflite").write_bytes(bundle.model.read_bytes())

    result = run.bench([folder / "model.tflite"], **FAST)

    assert result[0]["fidelity"] == {"reference": "student.tflite", "top10_overlap": 1.0, "kendall_tau": 1.0}


def test_explicit_reference_is_scored_on_the_artifacts_eval_set(bundle):
    # execute: other.tflite is not benched itself, so an extra worker scores it on bundle's eval set
    [row] = run.bench([bundle.model], reference=bundle.other, **FAST)

    # assert: the interpreter's agreement equals the agreement of the two Keras models
    want = fidelity.compare(
        bundle.keras_ranking_logits.reshape(-1, 100), bundle.other_ranking_logits.reshape(-1, 100)
    )
    assert row["fidelity"]["reference"] == "other.tflite"
    assert row["fidelity"]["kendall_tau"] == pytest.approx(want["kendall_tau"], abs=1e-3)
    assert row["fidelity"]["top10_overlap"] == pytest.approx(want["top10_overlap"], abs=0.02)
    assert row["fidelity"]["kendall_tau"] < 0.99


def test_without_reference_or_accuracy_fidelity_is_null(bundle):
    [row] = run.bench([bundle.model], **FAST)  # the bundle has no student.tflite

    assert row["fidelity"] == dict.fromkeys(rows.FIDELITY_KEYS)


def test_missing_reference_file_raises(bundle, tmp_path):
    with pytest.raises(run.BenchInputError, match="reference: .*nope.tflite: expected an existing .tflite"):
        run.bench([bundle.model], reference=tmp_path / "nope.tflite")


def test_keras_delta_is_device_minus_manifest_metric(bundle):
    # setup: a manifest whose Keras AUC is 0.1 below what the interpreter measures
    [measured] = run.bench([bundle.model], **FAST)
    with np.load(bundle.eval_path) as npz:
        arrays = dict(npz)
    folder = bundle.folder.parent / "with_keras_metrics"
    folder.mkdir(exist_ok=True)
    (folder / "model.tflite").write_bytes(bundle.model.read_bytes())
    np.savez(folder / EVAL_SET, **arrays)
    keras_metrics = {"auc": measured["metrics"]["auc"] - 0.1, "hr@10": measured["metrics"]["hr@10"], "other": 1.0}
    (folder / MANIFEST).write_text(json.dumps({"artifacts": [{"file": "model.tflite", "keras_metrics": keras_metrics}]}))

    [row] = run.bench([folder], **FAST)

    assert row["keras_delta"] == {"auc": pytest.approx(0.1), "hr@10": 0.0}


def test_items_per_s_is_batch_over_mean_latency_and_xnnpack_is_recorded(bundle):
    result = run.bench([bundle.model], batches=[1, 16], xnnpack=False, accuracy=False, **FAST)

    for row in result:
        assert row["status"] == "ok" and row["xnnpack"] is False
        assert row["items_per_s"] == pytest.approx(row["batch"] / row["latency_us"]["mean"] * 1e6, rel=1e-3)


def test_reference_kernels_score_like_the_optimized_ones_and_are_recorded(bundle):
    optimized = run.bench([bundle.folder / "model.tflite"], batches=[16], **FAST)
    reference = run.bench([bundle.folder / "model.tflite"], batches=[16], reference_kernels=True, **FAST)

    assert [r["status"] for r in optimized + reference] == ["ok", "ok"]
    assert reference[0]["reference_kernels"] is True and reference[0]["xnnpack"] is False
    assert optimized[0]["reference_kernels"] is False
    for key, value in optimized[0]["metrics"].items():
        assert reference[0]["metrics"][key] == pytest.approx(value, abs=1e-4), key


def test_cpus_pin_the_worker_and_are_recorded(bundle):
    cpu = min(os.sched_getaffinity(0))

    [row] = run.bench([bundle.model], cpus=[cpu], accuracy=False, **FAST)

    assert row["status"] == "ok" and row["cpus"] == [cpu]


def test_worker_pins_itself_before_loading(bundle, monkeypatch):
    # setup: record the call instead of pinning the test process
    calls = []
    monkeypatch.setattr(worker.os, "sched_setaffinity", lambda pid, cpus: calls.append((pid, list(cpus))))
    job = {
        "path": str(bundle.model), "threads": 1, "batch": 1, "runs": 2, "warmup": 0, "min_seconds": 0.0,
        "runtime": None, "xnnpack": True, "cpus": [0], "eval": None, "with_accuracy": False, "ranking_out": None,
    }

    result = worker.run(job)

    assert result["status"] == "ok" and calls == [(0, [0])]


def test_cpus_outside_the_allowed_set_are_refused(bundle):
    with pytest.raises(run.BenchInputError, match=r"cpus must be a non-empty subset of .*Received: cpus=\[4096\]"):
        run.bench([bundle.model], cpus=[4096])


def test_cpus_without_sched_setaffinity_is_a_clear_error(bundle, monkeypatch):
    monkeypatch.delattr(run.os, "sched_setaffinity")

    with pytest.raises(run.BenchInputError, match="CPU pinning needs Linux"):
        run.bench([bundle.model], cpus=[0])


def test_manifest_entries_cannot_escape_the_bundle(tmp_path):
    # setup: a bundle whose manifest names a file outside it
    (tmp_path / "m.tflite").write_bytes(b"x")
    for name in ["../outside.tflite", "/etc/passwd", "sub/../../x.tflite"]:
        (tmp_path / MANIFEST).write_text(json.dumps({"artifacts": [{"file": name}]}))
        # execute / assert
        with pytest.raises(run.BenchInputError, match="points outside the bundle folder; refused"):
            run.discover([tmp_path])


def test_zero_byte_text_and_bit_flipped_files_are_error_rows(bundle, tmp_path):
    # setup: an empty file, a text file named .tflite, and the model with its file identifier flipped
    (tmp_path / "empty.tflite").write_bytes(b"")
    (tmp_path / "text.tflite").write_text("this is not a flatbuffer\n")
    flatbuffer = bytearray(bundle.model.read_bytes())
    flatbuffer[4] ^= 0x01  # "TFL3" -> "UFL3": one bit
    (tmp_path / "bitflip.tflite").write_bytes(bytes(flatbuffer))
    paths = [tmp_path / name for name in ("empty.tflite", "text.tflite", "bitflip.tflite")]

    # execute
    result = run.bench([*paths, bundle.model], accuracy=False, **FAST)

    # assert
    status = {row["artifact"]: row["status"] for row in result}
    assert status.pop("model.tflite") == "ok"
    assert len(status) == 3 and all(s.startswith("error") and "timeout" not in s for s in status.values()), status
