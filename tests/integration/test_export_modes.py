"""A build with extra export modes and a layer kept in float: the artifacts, their manifest entries and bench rows."""

import json

import pytest
import yaml
from click.testing import CliRunner

from converters.inspect import inspect, layer_ops
from device_bench.bundle import BENCH, read_manifest
from edgerec import recipe
from edgerec.cli import main

pytestmark = pytest.mark.slow


def test_extra_modes_and_keep_float_are_built_checked_and_benched(tmp_path):
    # setup: the smoke recipe with int16x8 and fp16 students and hidden_0 kept in float
    plain = recipe.load("smoke").to_dict()
    plain["export"] = {"modes": ["int8", "int16x8", "fp16"], "keep_float": ["hidden_0"]}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(plain))
    out = tmp_path / "bundle"
    # execute
    result = CliRunner().invoke(main, ["build", "--recipe", str(path), "--out", str(out)])
    # assert
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    entries = {a["file"]: a for a in manifest["artifacts"]}
    assert list(entries)[-4:] == ["student_int8.tflite", "student_int16x8.tflite", "student_fp16.tflite",
                                  "retrieval_int8.tflite"]  # the retrieval artifact has no modes of its own
    int8, int16x8 = entries["student_int8.tflite"], entries["student_int16x8.tflite"]
    assert [s["step"] for s in int8["produced_by"]["steps"]] == ["low_rank", "prune", "int4_tables", "qat"]
    assert int8["produced_by"]["keep_float"] == ["hidden_0"]
    # QAT's 8-bit ranges only serve int8: the other modes convert the chain before it
    assert [s["step"] for s in int16x8["produced_by"]["steps"]] == ["low_rank", "prune"]
    assert int16x8["produced_by"]["stage"] == "+ prune" and int16x8["mode"] == "int16x8"
    for name, entry in entries.items():
        assert entry["parity"]["top10_overlap"] > 0.8
        assert name == "retrieval_int8.tflite" or entry["outputs"][0]["dtype"] == "float32"
    kept = inspect(out / "student_int8.tflite")
    hidden_0 = layer_ops(kept, "hidden_0") + layer_ops(kept, "quant_hidden_0")
    assert hidden_0 and {op["output_dtype"] for op in hidden_0} == {"FLOAT32"}
    assert {op["output_dtype"] for op in layer_ops(kept, "quant_score")} == {"INT8"}
    assert inspect(out / "student_int16x8.tflite").activation_dtypes == ["INT16"]
    rows = json.loads((out / BENCH).read_text())["rows"]
    assert [r["artifact"] for r in rows] == list(entries) and all(r["status"] == "ok" for r in rows)
