import numpy as np
import pytest

from converters import manifest, parity, representative, tflite
from edgerec import train
from edgerec._keras import keras


def _interpreter(path):
    from device_bench import runtime

    interpreter, _ = runtime.load(path)
    interpreter.allocate_tensors()
    return interpreter


def test_fp32_matches_keras_to_float_precision(tiny_student, tiny_task, tmp_path):
    # setup
    rows = tiny_task.ranking_eval()
    path = tmp_path / "s.tflite"
    # execute
    path.write_bytes(tflite.convert(tiny_student, "fp32"))
    result = parity.compare(train.predict_logits(tiny_student, rows), parity.tflite_logits(path, rows), 10)
    # assert
    assert result["max_abs_logit_diff"] < 1e-4
    assert result["top10_overlap"] == 1.0


def test_int8_is_full_integer_including_embedding_tables(tiny_student, tiny_task, tmp_path):
    # setup
    path = tmp_path / "s8.tflite"
    # execute
    path.write_bytes(tflite.convert(tiny_student, "int8", representative.dataset(tiny_task.representative_rows(100))))
    interpreter = _interpreter(path)
    # assert: ids stay int32 inputs, the logit is dequantised once at the end, all else is int8
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert {"GATHER", "FULLY_CONNECTED"} <= ops
    assert ops - {"DELEGATE"} <= {"GATHER", "FULLY_CONNECTED", "CONCATENATION", "DEQUANTIZE"}
    floats = [t["name"] for t in interpreter.get_tensor_details() if t["dtype"] == np.float32]
    assert len(floats) == 1  # the float logit output
    tables = [t for t in interpreter.get_tensor_details() if "embedding_item_id" in t["name"] and len(t["shape"]) == 2 and t["shape"][0] > 1]
    assert tables and all(t["dtype"] == np.int8 for t in tables)


def test_representative_data_is_fed_by_input_name(tmp_path):
    # setup: Keras input order (zeta, alpha) differs from the converter's sorted order, and
    # the vocabularies differ, so samples fed by position would index out of bounds.
    keras.utils.set_random_seed(0)
    zeta = keras.Input(shape=(), dtype="int32", name="zeta")
    alpha = keras.Input(shape=(), dtype="int32", name="alpha")
    x = keras.layers.Concatenate()([keras.layers.Embedding(100, 4)(zeta), keras.layers.Embedding(3, 4)(alpha)])
    model = keras.Model([zeta, alpha], keras.layers.Dense(1)(x))
    rows = {"zeta": np.arange(50, 100, dtype=np.int32), "alpha": np.arange(50, dtype=np.int32) % 3}
    path = tmp_path / "m.tflite"
    # execute
    path.write_bytes(tflite.convert(model, "int8", representative.dataset(rows)))
    result = parity.compare(train.predict_logits(model, rows), parity.tflite_logits(path, rows))
    # assert
    assert result["max_abs_logit_diff"] < 0.05


@pytest.mark.parametrize("mode", ["fp16", "dynamic"])
def test_other_float_modes_convert_and_run(tiny_student, tiny_task, tmp_path, mode):
    rows = tiny_task.ranking_eval()
    path = tmp_path / f"{mode}.tflite"
    path.write_bytes(tflite.convert(tiny_student, mode))
    result = parity.compare(train.predict_logits(tiny_student, rows), parity.tflite_logits(path, rows), 10)
    assert result["mean_abs_logit_diff"] < 0.05


def test_int8_without_representative_data_and_unknown_mode_are_refused(tiny_student):
    with pytest.raises(ValueError, match="needs representative data"):
        tflite.convert(tiny_student, "int8")
    with pytest.raises(ValueError, match=r"mode must be one of fp32, fp16, dynamic, int8, int16x8. Received: mode='int4'"):
        tflite.convert(tiny_student, "int4")


def test_manifest_entry_describes_the_file(tiny_student, tmp_path):
    # setup
    import hashlib

    path = tmp_path / "s.tflite"
    path.write_bytes(tflite.convert(tiny_student, "fp32"))
    # execute
    entry = manifest.artifact_entry(path, "fp32", "student", {"stage": "x"}, {"auc": 0.5}, {"rows": 1})
    # assert
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert entry["bytes"] == path.stat().st_size
    assert {i["name"] for i in entry["inputs"]} == {"user_id", "item_id", "user_age", "item_category"}
    assert all(i["dtype"] == "int32" for i in entry["inputs"])
    assert entry["outputs"][0]["dtype"] == "float32"


def test_int8_fully_connected_without_a_bias_gets_a_zero_one_that_changes_no_output(tmp_path):
    from converters import fc_bias
    from edgerec._keras import tf
    from tests.utils import fully_connected_without_bias

    # setup: a bias-less Dense (as LowRankDense's first factor) and an untrained Dense, whose zero bias the
    # converter drops: tflite-runtime 2.14 on ARM segfaults on both at batch > 1 (docs/arm_emulation.md)
    inputs = keras.Input(shape=(8,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Dense(4, use_bias=False)(inputs)))
    rows = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([row[None]] for row in rows[:20])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    raw = converter.convert()
    # execute
    fixed = fc_bias.add_missing_biases(raw)
    # assert: both ops had none and have one now; every output at batch 64 is the same to the bit
    assert len(fully_connected_without_bias(raw)) == 2 and fully_connected_without_bias(fixed) == []
    outputs = []
    for data in (raw, fixed):
        (tmp_path / "m.tflite").write_bytes(data)
        interpreter = _interpreter(tmp_path / "m.tflite")
        index = interpreter.get_input_details()[0]["index"]
        interpreter.resize_tensor_input(index, [64, 8])
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, rows)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert fc_bias.add_missing_biases(fixed) == fixed
