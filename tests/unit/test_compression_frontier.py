"""bench/compression.py's frontier: per floor, the smallest measured artifact meeting it on held-out ratios."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "compression.py"


def _bench():
    spec = importlib.util.spec_from_file_location("compression_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(name, size, auc, ndcg, variant="x alone"):
    metrics = {"auc": 0.8 * auc, "ndcg@10": None if ndcg is None else 0.5 * ndcg}
    return {"name": name, "variant": "fp32" if name == "teacher" else variant, "mode": "int8", "bytes": size,
            "p50_us": 1.0, "tflite_metrics": metrics,
            "vs_teacher": {"size": size / 1000, "auc": auc, "ndcg@10": ndcg}}


def test_each_floor_gets_the_smallest_row_meeting_every_metric_of_it():
    bench = _bench()
    rows = [_row("teacher", 1000, 1.0, 1.0), _row("a", 100, 0.9995, 0.995), _row("b", 50, 0.996, 0.985),
            _row("c", 20, 0.99, 0.999)]
    front = {f["floor"]: f for f in bench.frontier(rows)}
    assert front["99.9 %"]["row"] == "teacher"  # a's NDCG@10 ratio 0.995 < 0.999
    assert front["AUC 99.9 %, NDCG@10 99 %"]["row"] == "a"
    assert front["AUC 99.5 %, NDCG@10 98 %"]["row"] == "b" and front["AUC 99.5 %, NDCG@10 98 %"]["smaller"] == 20
    assert front["99 %"]["row"] == "c"  # AUC ratio 0.99 meets the 0.99 floor, and c is the smallest
    assert front["99.5 %"]["row"] == "a"  # b's NDCG@10 ratio 0.985 misses 0.995; a's 0.995 meets it


def test_a_metric_the_task_lacks_is_left_out_of_the_floor():
    bench = _bench()
    rows = [_row("teacher", 1000, 1.0, None), _row("a", 100, 0.9995, None)]
    front = {f["floor"]: f for f in bench.frontier(rows)}
    assert front["AUC 99.9 %, NDCG@10 99 %"]["row"] == "a"
