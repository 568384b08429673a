"""`python -m device_bench` on a "device": a Python where TensorFlow cannot be imported.

A sitecustomize on PYTHONPATH installs an import hook in the CLI process and,
because the workers inherit PYTHONPATH, in every worker too. The hook also
logs each blocked attempt, so a caught ImportError cannot hide one.
"""

import json
import subprocess
import sys
from pathlib import Path

from device_bench import metrics, rows
from tests.utils import NO_TENSORFLOW, blocked_import_env

# device_bench may not import the training side of the project either.
DEVICE_BLOCKED = (*NO_TENSORFLOW, "edgerec", "converters")


def _run_cli(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    env, log = blocked_import_env(tmp_path, DEVICE_BLOCKED)
    repo_root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "device_bench", *args], cwd=repo_root, env=env, capture_output=True, text=True
    )
    return proc, log


def test_shim_really_blocks_tensorflow(tmp_path):
    proc, log = _run_cli(tmp_path, "--help")
    probe = subprocess.run(
        [sys.executable, "-c", "import tensorflow"],
        env=blocked_import_env(tmp_path, DEVICE_BLOCKED)[0],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0
    assert probe.returncode != 0 and "blocked" in probe.stderr


def test_bundle_benchmarks_without_tensorflow(bundle, tmp_path):
    # execute
    out = tmp_path / "out.json"
    proc, log = _run_cli(
        tmp_path, str(bundle.folder), "--json", str(out), "--runs", "20", "--warmup", "2", "--min-seconds", "0.05"
    )

    # assert: the run completed and nothing tried to import TensorFlow
    assert proc.returncode == 0, proc.stderr
    assert not log.exists(), log.read_text()
    result = json.loads(out.read_text())
    assert set(result["environment"]) >= {"platform", "python", "numpy", "cpu", "cores"}
    by_name = {row["artifact"]: row for row in result["rows"]}
    assert sorted(by_name) == ["model.tflite", "truncated.tflite"]
    for row in result["rows"]:
        assert tuple(row) == rows.ROW_KEYS
        assert tuple(row["latency_us"]) == rows.LATENCY_KEYS
        assert set(row["runtime"]) == {"name", "version"}

    good = by_name["model.tflite"]
    assert good["status"] == "ok"
    assert good["runtime"]["name"] == "ai_edge_litert"
    assert good["latency_us"]["p50"] > 0 and good["latency_us"]["runs"] >= 20
    assert good["peak_rss_bytes"] >= good["rss_before_load_bytes"] > 0
    assert tuple(good["metrics"]) == metrics.keys()
    assert all(0.0 <= value <= 1.0 for key, value in good["metrics"].items() if key != "logloss")
    assert good["metrics"]["logloss"] > 0

    bad = by_name["truncated.tflite"]
    assert bad["status"].startswith("error")
    assert bad["latency_us"]["p50"] is None and bad["metrics"] == {}

    # the markdown table went to stdout
    assert "| model.tflite | ok |" in proc.stdout
