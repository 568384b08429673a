"""`edgerec report`: plots and plots.json from a fabricated bundle; no TensorFlow, no interpreter."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from device_bench import rows as bench_rows
from device_bench.bundle import BENCH, LEARNING_CURVES_PNG, MANIFEST, NO_TEACHER, PLOTS, REPORT, read_manifest
from edgerec import report
from edgerec.report import plots
from edgerec.search import pareto
from edgerec.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# artifact: (bytes, p50 µs, auc, ndcg@10). "wide" is bigger, slower and worse than "teacher": dominated everywhere.
ARTIFACTS = {
    "teacher.tflite": (3_000_000, 20.0, 0.90, 0.48),
    "wide.tflite": (4_000_000, 25.0, 0.89, 0.47),
    "student.tflite": (600_000, 2.0, 0.89, 0.475),
    "student_int8.tflite": (150_000, 1.9, 0.885, 0.47),
}


def _row(name, size, p50, auc, ndcg):
    row = {key: None for key in bench_rows.ROW_KEYS}
    row.update(
        artifact=name, path=f"b/{name}", bytes=size, runtime={"name": "ai_edge_litert", "version": "2.3.0"},
        threads=1, batch=1, status="ok",
        latency_us={**dict.fromkeys(bench_rows.LATENCY_KEYS, 1.0), "p50": p50, "runs": 100},
        metrics={"auc": auc, "logloss": 0.3, "hr@10": 0.7, "ndcg@10": ndcg},
    )
    return row


@pytest.fixture
def bundle(tmp_path):
    """manifest.json + bench.json shaped like `edgerec build` writes them (see a real bundle)."""
    folder = tmp_path / "bundle"
    folder.mkdir()
    metrics = {"auc": 0.9, "logloss": 0.3, "hr@10": 0.7, "ndcg@10": 0.48}
    manifest = {
        "format": 1,
        "artifacts": [
            {"file": name, "mode": "fp32", "bytes": size,
             "parity": {"max_abs_logit_diff": 1e-6, "mean_abs_logit_diff": 1e-7, "top10_overlap": 1.0}}
            for name, (size, *_) in ARTIFACTS.items()
        ],
        "eval": {"file": "eval.npz", "protocol": "leave-last-out", "users": 10},
        "schema": {"source": "tiny"},
        "stages": [{"name": "teacher", "metrics": metrics, "params": 100, "seconds": 1.0, "facts": {}}],
        "recipe": {"name": "tiny", "compress": [{"name": "qat"}]},
        "seed": 0,
    }
    rows = [_row(name, *values) for name, values in ARTIFACTS.items()]
    rows.append({**_row("student.tflite", 600_000, 1.0, 0.89, 0.475), "threads": 4})  # another config: not plotted
    (folder / MANIFEST).write_text(json.dumps(manifest))
    bench_rows.write_json(folder / BENCH, {"cpu": "test cpu", "cores": 2}, rows)
    return folder


def test_pareto_front_by_hand():
    # setup: (cost, metric); b is beaten by a on both axes, d ties c exactly
    points = [(1.0, 0.9), (2.0, 0.8), (3.0, 0.95), (3.0, 0.95)]
    # execute / assert: the plots' front is the search's, a cost minimised and a metric maximised
    assert pareto.front(points, (False, True)) == [True, False, True, True]


def test_report_writes_valid_pngs_and_exact_plot_data(bundle):
    # execute
    result = CliRunner().invoke(main, ["report", str(bundle)])
    # assert
    assert result.exit_code == 0, result.output
    data = json.loads((bundle / PLOTS).read_text())
    assert [p["name"] for p in data["plots"]] == ["auc_vs_bytes", "ndcg10_vs_bytes", "auc_vs_p50", "ndcg10_vs_p50"]
    for plot in data["plots"]:
        png = (bundle / plot["file"]).read_bytes()
        assert len(png) > 1000 and png.startswith(PNG_MAGIC)
        assert f"]({plot['file']})" in (bundle / REPORT).read_text()
    bench = [r for r in json.loads((bundle / BENCH).read_text())["rows"] if r["threads"] == 1]
    assert data["config"] == {"threads": 1, "batch": 1}
    assert [a["artifact"] for a in data["artifacts"]] == [r["artifact"] for r in bench]
    for point, row in zip(data["artifacts"], bench):
        assert (point["bytes"], point["p50_us"]) == (row["bytes"], row["latency_us"]["p50"])
        assert (point["auc"], point["ndcg@10"]) == (row["metrics"]["auc"], row["metrics"]["ndcg@10"])
    assert not list(bundle.glob(".*.tmp")), "no temporary file left behind"


def test_dominated_artifact_is_off_every_front(bundle):
    report.write(bundle)
    points = {a["artifact"]: a["on_front"] for a in json.loads((bundle / PLOTS).read_text())["artifacts"]}
    assert not any(points["wide.tflite"].values())
    assert all(points["teacher.tflite"].values()) and all(points["student_int8.tflite"].values())
    # student: nothing smaller or faster is as accurate (it ties wide's AUC, and wide is bigger and slower)
    assert points["student.tflite"] == {
        "auc_vs_bytes": True, "ndcg10_vs_bytes": True, "auc_vs_p50": True, "ndcg10_vs_p50": True
    }


def test_missing_bench_json_exits_2_naming_it(bundle):
    (bundle / BENCH).unlink()
    result = CliRunner().invoke(main, ["report", str(bundle)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and str(bundle / BENCH) in lines[0]


def test_missing_bundle_exits_2_naming_it(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {tmp_path / 'nope'}: no such bundle folder"


def test_bench_option_reads_that_file(bundle, tmp_path):
    other = tmp_path / "pi.json"
    bench_rows.write_json(other, {"cpu": "pi"}, [_row("student.tflite", 600_000, 9.5, 0.89, 0.475)])
    result = CliRunner().invoke(main, ["report", str(bundle), "--bench", str(other)])
    assert result.exit_code == 0, result.output
    data = json.loads((bundle / PLOTS).read_text())
    assert [(a["artifact"], a["p50_us"]) for a in data["artifacts"]] == [("student.tflite", 9.5)]


def test_without_matplotlib_writes_report_and_says_so(bundle, monkeypatch):
    # setup: importing matplotlib fails, as without the `report` extra
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    # execute
    result = CliRunner().invoke(main, ["report", str(bundle)])
    # assert
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == plots.NO_MATPLOTLIB
    assert not list(bundle.glob("*.png"))
    assert plots.NO_MATPLOTLIB in (bundle / REPORT).read_text()
    assert all(p["file"] is None for p in json.loads((bundle / PLOTS).read_text())["plots"])


def test_failed_rows_give_a_report_without_points(bundle):
    # setup: every artifact failed on the device
    failed = [{**_row(name, *values), "status": "error: boom"} for name, values in ARTIFACTS.items()]
    bench_rows.write_json(bundle / BENCH, {}, failed)
    # execute
    result = CliRunner().invoke(main, ["report", str(bundle)])
    # assert
    assert result.exit_code == 0, result.output
    data = json.loads((bundle / PLOTS).read_text())
    assert data["artifacts"] == [] and all(p["file"] is None and p["front"] == [] for p in data["plots"])
    assert "nothing to plot" in (bundle / REPORT).read_text()


def test_ctr_bundle_reports_n_a_for_ranking_metrics_and_draws_no_ndcg_plot(bundle):
    # setup: a CTR bundle: its eval set gives AUC and LogLoss only, parity has no top-10 overlap
    manifest = read_manifest(bundle)
    manifest["eval"]["metrics"] = ["auc", "logloss"]
    manifest["stages"] = [{"name": "click-rate prior (baseline)", "metrics": {"auc": 0.5, "logloss": 0.55}},
                          {"name": "teacher", "metrics": {"auc": 0.8, "logloss": 0.45}, "params": 9, "seconds": 1.0}]
    for artifact in manifest["artifacts"]:
        del artifact["parity"]["top10_overlap"]
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    rows = [{**_row(name, size, p50, auc, None), "metrics": {"auc": auc, "logloss": 0.4}}
            for name, (size, p50, auc, _) in ARTIFACTS.items()]
    bench_rows.write_json(bundle / BENCH, {}, rows)
    # execute
    result = CliRunner().invoke(main, ["report", str(bundle)])
    # assert
    assert result.exit_code == 0, result.output
    text = (bundle / REPORT).read_text()
    assert "| click-rate prior (baseline) | — | 0.5000 | 0.5500 | n/a | n/a | 0 |" in text
    assert "| teacher.tflite | 1 | 1 | 2929.7 | 1.0× | 20.0 | 1.00× | 0.9000 | 0.4000 | n/a | n/a | 1.000 | n/a | ok |" in text
    assert "| teacher.tflite | fp32 | 1.00e-06 | 1.00e-07 | n/a |" in text
    assert "training click rate" in text and "item-popularity" not in text
    data = json.loads((bundle / PLOTS).read_text())
    assert [p["name"] for p in data["plots"]] == ["auc_vs_bytes", "auc_vs_p50"]
    assert not list(bundle.glob("ndcg10_*.png"))


def test_report_shows_achieved_sparsity_per_layer_and_table_after_each_step(bundle):
    # setup: stage facts as the build records them (params + the step's describe())
    manifest = read_manifest(bundle)
    metrics = manifest["stages"][0]["metrics"]
    manifest["stages"] += [
        {"name": "+ prune", "metrics": metrics, "facts": {
            "params": {"pattern": "2:4"}, "sparsity": {"hidden_0": 0.0, "score": 0.5},
            "skipped": {"hidden_0": "kernel input dimension not a multiple of 4: shape (2, 16)"}}},
        {"name": "+ prune_embeddings", "metrics": metrics, "facts": {"params": {}, "sparsity": {"embedding_item_id": 0.9}}},
        {"name": "+ qat", "metrics": metrics, "facts": {"quantized_layers": ["score"], "sparsity": {"score": 0.4998}}},
    ]
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    # execute
    report.write(bundle)
    # assert: one row per layer or table, one column per step that reports sparsity
    text = (bundle / REPORT).read_text()
    assert "## Achieved sparsity" in text
    assert "| layer or table | + prune | + prune_embeddings | + qat |" in text
    assert "| hidden_0 | 0.0% | — | — |" in text
    assert "| score | 50.0% | — | 50.0% |" in text
    assert "| embedding_item_id | — | 90.0% | — |" in text
    assert "- + prune: `hidden_0` left dense: kernel input dimension not a multiple of 4: shape (2, 16)" in text


def test_report_has_no_sparsity_section_when_nothing_was_pruned(bundle):
    # setup: QAT alone reports 0 % everywhere
    manifest = read_manifest(bundle)
    manifest["stages"].append({"name": "+ qat", "metrics": manifest["stages"][0]["metrics"],
                               "facts": {"sparsity": {"score": 0.0}}})
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    # execute
    report.write(bundle)
    # assert
    assert "Achieved sparsity" not in (bundle / REPORT).read_text()


def _curve(validation, best_epoch, stopped, seconds=1.5):
    """A learning curve as `Curve.to_dict` records it, from scripted validation values (loss falls by epoch)."""
    epochs = [{"epoch": i, "loss": round(1.0 / i, 6), "validation": v, "seconds": seconds}
              for i, v in enumerate(validation, start=1)]
    return {"monitor": "ndcg@10", "best_epoch": best_epoch, "stopped": stopped, "epochs": epochs}


def test_report_plots_and_tables_each_stage_learning_curve(bundle):
    # setup: a baseline (no curve), a teacher stopped by patience at its best epoch 2, a one-epoch fine-tune
    manifest = read_manifest(bundle)
    metrics = manifest["stages"][0]["metrics"]
    manifest["stages"] = [
        {"name": "popularity (baseline)", "metrics": metrics},
        {**manifest["stages"][0], "curve": _curve([0.40, 0.46, 0.44, 0.45], 2, "patience")},
        {"name": "+ prune", "metrics": metrics, "curve": _curve([0.43], 1, "max_epochs", seconds=0.7)},
    ]
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    # execute
    written = report.write(bundle)
    # assert: the figure is written and shown, the table names what the curves scripted
    png = (bundle / LEARNING_CURVES_PNG).read_bytes()
    assert len(png) > 1000 and png.startswith(PNG_MAGIC) and bundle / LEARNING_CURVES_PNG in written.files
    section = (bundle / REPORT).read_text().split("## Learning curves", 1)[1]
    assert f"]({LEARNING_CURVES_PNG})" in section
    assert "| stage | epochs run | stopped by | best epoch | monitored | best validation | seconds |" in section
    assert "| teacher | 4 | patience | 2 | NDCG@10 | 0.4600 | 6.0 |" in section
    assert "| + prune | 1 | epoch cap | 1 | NDCG@10 | 0.4300 | 0.7 |" in section
    assert "popularity" not in section


def test_report_has_no_learning_curves_when_no_stage_recorded_one(bundle):
    # setup: a baseline, and a stage restored from a state older than curves (curve None)
    manifest = read_manifest(bundle)
    manifest["stages"] += [{"name": "popularity (baseline)", "metrics": manifest["stages"][0]["metrics"]},
                           {**manifest["stages"][0], "name": "student", "curve": None}]
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    # execute
    report.write(bundle)
    # assert
    assert "Learning curves" not in (bundle / REPORT).read_text()
    assert not (bundle / LEARNING_CURVES_PNG).exists()


def _with_choice(bundle, scores: dict[str, float], shipped: str) -> str:
    """report.md of `bundle` with a student choice of these validation NDCG@10 scores (as the build records it)."""
    manifest = read_manifest(bundle)
    manifest["student_choice"] = {"metric": "ndcg@10", "on": "validation", "candidates": [
        {"candidate": name, "settings": None if name == NO_TEACHER else {"alpha": 0.5}, "stage": name,
         "validation": {"ndcg@10": value}, "chosen": name == shipped} for name, value in scores.items()]}
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    report.write(bundle)
    return (bundle / REPORT).read_text()


def test_the_student_choice_of_two_candidates_is_one_sentence(bundle):
    text = _with_choice(bundle, {"alpha 0.5, T 2, logits": 0.41, NO_TEACHER: 0.42}, NO_TEACHER)
    assert ("`student.tflite` is the student trained alone (the teacher did not help), chosen on validation NDCG@10 "
            "(alpha 0.5, T 2, logits 0.4100; no teacher 0.4200).") in text


def test_the_student_choice_of_several_candidates_is_a_table_marking_the_shipped_one(bundle):
    scores = {"alpha 0.3, T 2, logits": 0.41, "alpha 0.7, T 2, logits": 0.43, NO_TEACHER: 0.42}
    text = _with_choice(bundle, scores, "alpha 0.7, T 2, logits")
    assert ("`student.tflite` is the student distilled at alpha 0.7, T 2, logits, chosen on validation NDCG@10 "
            "among 3 candidates:\n\n| candidate | validation NDCG@10 | shipped |\n|---|---:|---|\n"
            "| alpha 0.3, T 2, logits | 0.4100 |  |\n| alpha 0.7, T 2, logits | 0.4300 | yes |\n"
            "| no teacher | 0.4200 |  |\n") in text


def test_cells_table_aligns_text_left_and_numbers_right():
    from edgerec.report import cells

    assert cells.table(["arm", "AUC"], "lr", [["a", "0.9"], ["b", "—"]]) == "| arm | AUC |\n|---|---:|\n| a | 0.9 |\n| b | — |"


def test_every_document_labels_metrics_from_the_table():
    from edgerec.report import cells

    # assert: one label per key, the table's, wherever a metric is named
    assert [cells.label(k) for k in ("auc", "logloss", "hr@10", "ndcg@10")] == ["AUC", "LogLoss", "HR@10", "NDCG@10"]
    assert cells.labelled({"auc": 0.9, "ndcg@10": 0.48}) == "AUC 0.9000, NDCG@10 0.4800"
    assert report.stage_table([{"name": "t", "metrics": {"auc": 0.9}, "params": 3}], ("auc", "logloss")).splitlines()[:3] == [
        "| model (Keras, held-out) | params | AUC | LogLoss | HR@10 | NDCG@10 | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|",
        "| t | 3 | 0.9000 | — | n/a | n/a | 0 |",
    ]
