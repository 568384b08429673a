"""Quantization modes: int16x8, int8 embedding tables, layers kept in float, export modes in recipes."""

import numpy as np
import pytest
from click.testing import CliRunner

from converters import manifest, parity, representative, tflite
from converters.inspect import inspect, layer_ops
from device_bench.bundle import EVAL_SET
from edgerec import compress, train
from edgerec._keras import keras
from edgerec.cli import main
from edgerec.recipe import ExportConfig, ModelConfig, RecipeError


def _copy(model):
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _calibration(task):
    return representative.dataset(task.representative_rows(100))


def _layer_precision(result, layer):
    """(output dtypes, weight dtypes) of the ops computing `layer`; biases (INT32) left out."""
    ops = layer_ops(result, layer)
    assert ops, f"no op found for layer {layer}"
    return {op["output_dtype"] for op in ops}, {d for op in ops for d in op["weight_dtypes"] if d != "INT32"}


def test_int16x8_is_integer_only_with_16_bit_activations(tiny_student, tiny_task, tmp_path):
    # setup
    path = tmp_path / "s16.tflite"
    rows = tiny_task.ranking_eval()
    # execute
    path.write_bytes(tflite.convert(tiny_student, "int16x8", _calibration(tiny_task)))
    result = inspect(path)
    check = parity.compare(train.predict_logits(tiny_student, rows), parity.tflite_logits(path, rows), 10)
    # assert: no float inside, but not int8 either: the verdict says so
    assert result.integer_only and not result.all_int8
    assert result.activation_dtypes == ["INT16"]
    assert result.ops["GATHER"] == len(tiny_task.features)  # embedding lookups run in int16x8
    assert {t["dtype"] for t in result.tables} == {"INT16"}  # a GATHER's output has its table's type
    assert {c["dtype"] for c in result.constants if c["kind"] == "dense" and len(c["shape"]) == 2} == {"INT8"}
    assert manifest.tensor_facts(path)["outputs"][0]["dtype"] == "float32"
    assert check["mean_abs_logit_diff"] < 0.01 and check["top10_overlap"] > 0.9


def test_int16x8_is_reported_honestly_by_the_cli(tiny_student, tiny_task, tmp_path):
    path = tmp_path / "s16.tflite"
    path.write_bytes(tflite.convert(tiny_student, "int16x8", _calibration(tiny_task)))
    result = CliRunner().invoke(main, ["inspect", str(path)])
    assert result.exit_code == 0
    assert "integer-only but NOT all int8 (activations INT16" in result.output
    assert "every op is int8" not in result.output


@pytest.mark.parametrize("architecture", ["mlp", "neumf", "deepfm", "dcn_v2"])
def test_every_architecture_stores_every_table_int8_in_int8_and_runs_int16x8(architecture, tiny_task, tmp_path):
    # setup: an untrained ranker of each architecture (the tables' dtype does not depend on training)
    from edgerec.models.zoo import build_ranker

    cross = 1 if architecture == "dcn_v2" else 0
    model = build_ranker(tiny_task.features, ModelConfig(4, (8,), cross_layers=cross, architecture=architecture), "s")
    tables = {layer.name: layer.input_dim for layer in model.layers if isinstance(layer, keras.layers.Embedding)}
    rows = tiny_task.ranking_eval()
    for mode, dtype, itemsize in (("int8", "INT8", 1), ("int16x8", "INT16", 2)):
        path = tmp_path / f"{mode}.tflite"
        # execute
        path.write_bytes(tflite.convert(model, mode, _calibration(tiny_task)))
        result = inspect(path)
        # assert: one table per Embedding layer, each in the mode's integer type, bytes = vocab x dim x itemsize
        assert result.integer_only and result.all_int8 is (mode == "int8")
        by_table = {t["table"]: t for t in result.tables}
        assert set(by_table) == set(tables)
        for name, vocab in tables.items():
            dim = model.get_layer(name).output_dim
            assert by_table[name]["dtype"] == dtype and by_table[name]["bytes"] == vocab * dim * itemsize, name
        check = parity.compare(train.predict_logits(model, rows), parity.tflite_logits(path, rows), 10)
        assert check["mean_abs_logit_diff"] < 0.05, mode


def test_compressed_student_keeps_int8_tables_and_cli_lists_bytes_per_table(tiny_student, tiny_task, tmp_path):
    # setup: the default chain low_rank -> prune -> qat (no fine-tuning: dtypes do not depend on it)
    model, done = _copy(tiny_student), []
    for name, given in (("low_rank", {"rank": 2}), ("prune", {}), ("qat", {})):
        step = compress.get(name)
        params = step.resolve(given)
        model = step.finalize(step.apply(model, params, compress.StepContext(1, 0, tuple(done))), params)
        done.append(name)
    path = tmp_path / "student_int8.tflite"
    # execute
    path.write_bytes(tflite.convert(model, "int8", _calibration(tiny_task)))
    result = inspect(path)
    output = CliRunner().invoke(main, ["inspect", str(path), "--top", "1"]).output
    # assert
    assert result.all_int8
    assert {t["table"] for t in result.tables} == {f"embedding_{f.name}" for f in tiny_task.features}
    assert all(t["dtype"] == "INT8" for t in result.tables)
    for feature in tiny_task.features:  # every table listed with its bytes, even with --top 1
        assert f"| embedding_{feature.name} | INT8 | [{feature.vocab_size}, 4] | {feature.vocab_size * 4:,} |" in output


def test_keep_float_layers_run_in_float_and_the_rest_in_int8(tiny_student, tiny_task, tmp_path):
    # setup
    keep = ["hidden_0", "embedding_user_id"]
    path = tmp_path / "kf.tflite"
    rows = tiny_task.ranking_eval()
    # execute
    path.write_bytes(tflite.convert(tiny_student, "int8", _calibration(tiny_task), keep_float=keep))
    result = inspect(path)
    check = parity.compare(train.predict_logits(tiny_student, rows), parity.tflite_logits(path, rows), 10)
    # assert
    for layer in keep:
        assert _layer_precision(result, layer) == ({"FLOAT32"}, {"FLOAT32"}), layer
    for layer in ["hidden_1", "score", "embedding_item_id", "embedding_user_age", "embedding_item_category"]:
        assert _layer_precision(result, layer) == ({"INT8"}, {"INT8"}), layer
    assert not result.integer_only
    assert manifest.tensor_facts(path)["outputs"][0]["dtype"] == "float32"  # the app still reads a float logit
    assert check["mean_abs_logit_diff"] < 0.05


def test_qat_leaves_keep_float_layers_unannotated_and_they_convert_to_float(tiny_student, tiny_task, tmp_path):
    # setup
    step = compress.get("qat")
    params = step.resolve({})
    # execute
    model = step.apply(_copy(tiny_student), params, compress.StepContext(1, 0, (), keep_float=("hidden_0",)))
    path = tmp_path / "q.tflite"
    path.write_bytes(tflite.convert(model, "int8", _calibration(tiny_task), keep_float=["hidden_0"]))
    result = inspect(path)
    # assert: no weight fake-quant on hidden_0 (TFMOT still wraps it to range its output, which
    # feeds the annotated hidden_1); found by the name the user knows, and kept in float
    kernel_quantizers = {layer.name: any("kernel_min" in w.name for w in layer.weights) for layer in model.layers}
    assert kernel_quantizers["quant_hidden_0"] is False and kernel_quantizers["quant_hidden_1"] is True
    assert _layer_precision(result, "quant_hidden_0") == ({"FLOAT32"}, {"FLOAT32"})
    assert _layer_precision(result, "quant_hidden_1") == ({"INT8"}, {"INT8"})
    assert _layer_precision(result, "quant_score") == ({"INT8"}, {"INT8"})
    # a layer whose weights QAT fake-quantized cannot be kept in float: said, not silently ignored
    with pytest.raises(tflite.ConversionError, match="keep_float: layer.s. hidden_1 still run in integer"):
        tflite.convert(model, "int8", _calibration(tiny_task), keep_float=["hidden_1"])


def test_bad_modes_and_keep_float_are_refused_by_name(tiny_student, tiny_task):
    with pytest.raises(ValueError, match="mode 'int16x8' needs representative data"):
        tflite.convert(tiny_student, "int16x8")
    with pytest.raises(ValueError, match="keep_float applies to mode 'int8' only"):
        tflite.convert(tiny_student, "fp16", keep_float=["hidden_0"])
    with pytest.raises(ValueError, match="keep_float: 'hiden_0' is not a layer of model 'student'"):
        tflite.convert(tiny_student, "int8", _calibration(tiny_task), keep_float=["hiden_0"])


def test_int16x8_artifact_is_benched_with_accuracy(tiny_student, tiny_task, tmp_path):
    # setup: an int16x8 artifact beside the task's eval set, as in a bundle
    from device_bench import run

    path = tmp_path / "student_int16x8.tflite"
    path.write_bytes(tflite.convert(tiny_student, "int16x8", _calibration(tiny_task)))
    tiny_task.save_eval(tmp_path / EVAL_SET)
    keras_auc = train.evaluate(tiny_student, tiny_task)["auc"]
    # execute
    [row] = run.bench([path], runs=5, warmup=1, min_seconds=0.0)
    # assert
    assert row["status"] == "ok", row["status"]
    assert row["latency_us"]["p50"] > 0
    assert row["metrics"]["auc"] == pytest.approx(keras_auc, abs=0.02)
    assert np.isfinite(row["metrics"]["ndcg@10"])


@pytest.mark.parametrize(
    "given, needle",
    [
        ({"modes": ["int8", "int4"]}, "modes: expected a list of modes among"),
        ({"modes": ["fp16"]}, "modes: expected a list that includes 'int8'"),
        ({"modes": ["int8", "int8"]}, "modes: expected each name once"),
        ({"keep_float": ["hidden_0", "hidden_0"]}, "keep_float: expected each name once"),
    ],
)
def test_export_section_is_validated(given, needle):
    with pytest.raises(RecipeError, match=needle):
        ExportConfig(**{k: tuple(v) for k, v in given.items()})


def test_unknown_keep_float_layer_fails_before_any_training(tmp_path):
    # setup: the smoke recipe keeping a misspelt layer in float
    import yaml

    from edgerec import recipe

    plain = recipe.load("smoke").to_dict()
    plain["export"] = {"modes": ["int8", "fp16"], "keep_float": ["hiden_0"]}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(plain))
    # execute
    result = CliRunner().invoke(main, ["build", "--recipe", str(path), "--out", str(tmp_path / "o")])
    # assert
    assert result.exit_code == 2
    assert "export.keep_float: 'hiden_0' is not a layer of the student. Did you mean 'hidden_0'?" in result.output
    assert "[teacher]" not in result.output
