"""run.bench: discovery, error rows, latency statistics, batch resizing."""

import stat

import numpy as np
import pytest

from device_bench import rows, run

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
    assert tuple(result[0]["metrics"]) == rows.METRIC_KEYS
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
