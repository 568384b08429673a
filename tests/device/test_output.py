"""Table ratios, device facts, CSV rows and the A/B comparison gate."""

import csv
from pathlib import Path

import pytest

from device_bench import compare, rows, table


def _row(artifact, p50, nbytes, auc, ndcg, threads=1, batch=1):
    row = rows.new_row(Path(artifact), threads, batch)
    row.update(bytes=nbytes, status="ok", metrics={"auc": auc, "ndcg@10": ndcg, "logloss": 0.3})
    row["latency_us"]["p50"] = p50
    return row


def test_markdown_ratios_are_against_the_baseline_row():
    result = [_row("teacher.tflite", 20.0, 4000, 0.90, 0.50), _row("student.tflite", 5.0, 1000, 0.88, 0.45)]

    lines = table.markdown(result, baseline="teacher.tflite").splitlines()

    assert lines[0].endswith("| size × | speed-up × | AUC × | NDCG@10 × |")
    assert lines[3].endswith("| 0.25 | 4.00 | 0.98 | 0.90 |")
    assert "size ×" not in table.markdown(result)


def test_markdown_has_a_cell_per_column_and_the_retrieval_metrics():
    retrieval = _row("retrieval_int8.tflite", 9.0, 2000, 0.89, 0.49)
    retrieval["metrics"].update({"full_recall@10": 0.1234, "full_ndcg@10": 0.0617})
    ranker = _row("student.tflite", 5.0, 1000, 0.88, 0.45)
    ranker["metrics"]["two_stage_ndcg@10"] = 0.0701

    lines = table.markdown([retrieval, ranker]).splitlines()

    assert len({line.count("|") for line in lines}) == 1
    assert "| recall@10, full catalogue |" in lines[0] and "| 0.1234 |" in lines[2] and "| 0.0701 |" in lines[3]


def test_environment_has_device_facts():
    env = table.environment()

    assert {"cpu", "cores", "os", "kernel", "python", "numpy", "runtimes", "cpu_governor", "memory_bytes"} <= set(env)
    assert env["runtimes"]["ai_edge_litert"] and env["memory_bytes"] > 2**20


def test_csv_has_flat_columns(tmp_path):
    result = [_row("a.tflite", 5.0, 1000, 0.9, 0.5), rows.new_row(tmp_path / "b.tflite", 1, 1)]
    result[1]["status"] = "error: broken"

    rows.write_csv(tmp_path / "rows.csv", result)

    with open(tmp_path / "rows.csv") as f:
        got = list(csv.DictReader(f))
    assert got[0]["latency_us.p50"] == "5.0" and got[0]["metrics.ndcg@10"] == "0.5"
    assert got[1]["metrics.auc"] == "" and got[1]["status"] == "error: broken"
    assert "fidelity.kendall_tau" in got[0]


def _write(path, result):
    rows.write_json(path, {}, result)
    return path


def test_compare_gates_on_relative_metric_drop_and_slowdown(tmp_path):
    a = _write(tmp_path / "a.json", [_row("s.tflite", 10.0, 1000, 0.90, 0.500)])
    b = _write(tmp_path / "b.json", [_row("s.tflite", 13.0, 1000, 0.90, 0.490)])  # ndcg −2 %, p50 +30 %

    assert compare.compare(a, b, max_drop=0.03).failures == []
    assert compare.compare(a, b, max_drop=0.01).failures[0].startswith("s.tflite threads=1 batch=1: ndcg@10 dropped 2.00%")
    slow = compare.compare(a, b, max_drop=0.03, max_slowdown=0.2).failures
    assert len(slow) == 1 and "p50 slowed 30.00%" in slow[0]
    assert "| s.tflite | 1 | 1 | p50 µs | 10 | 13 | +30.00% |" in compare.compare(a, b).table


def test_compare_logloss_drop_is_an_increase_and_error_row_fails(tmp_path):
    a = _write(tmp_path / "a.json", [_row("s.tflite", 10.0, 1000, 0.9, 0.5), _row("t.tflite", 10.0, 1, 0.9, 0.5)])
    worse = _row("s.tflite", 10.0, 1000, 0.9, 0.5)
    worse["metrics"]["logloss"] = 0.4
    broken = rows.new_row(Path("t.tflite"), 1, 1)
    b = _write(tmp_path / "b.json", [worse, broken])

    failures = compare.compare(a, b, metrics=["logloss"]).failures

    assert "s.tflite threads=1 batch=1: logloss dropped 33.33%" in failures[0]
    assert failures[1] == "t.tflite threads=1 batch=1: logloss missing in B (A has 0.3)"


def test_compare_refuses_unreadable_and_disjoint_files(tmp_path):
    a = _write(tmp_path / "a.json", [_row("s.tflite", 10.0, 1000, 0.9, 0.5)])
    b = _write(tmp_path / "b.json", [_row("s.tflite", 10.0, 1000, 0.9, 0.5, threads=4)])
    (tmp_path / "bad.json").write_text("{not json")

    with pytest.raises(compare.CompareInputError, match="bad.json: not a readable bench JSON"):
        compare.compare(a, tmp_path / "bad.json")
    with pytest.raises(compare.CompareInputError, match="have no row with the same"):
        compare.compare(a, b)
