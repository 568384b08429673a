"""Interpreter choice, tensor naming and input pools, in-process."""

import importlib.metadata

import numpy as np
import pytest

from device_bench import evalset, inputs, runtime


def test_auto_prefers_ai_edge_litert():
    _, info = runtime.resolve(None)

    assert info == runtime.RuntimeInfo("ai_edge_litert", importlib.metadata.version("ai-edge-litert"))


def test_tensorflow_fallback_is_tf_lite_interpreter(bundle):
    # `import tensorflow.lite` is the source package, not the public tf.lite API
    interpreter_class, info = runtime.resolve("tensorflow")

    assert interpreter_class.__name__ == "Interpreter"
    assert info.version == importlib.metadata.version("tensorflow")


def test_unknown_runtime_lists_choices_and_installed():
    with pytest.raises(runtime.RuntimeUnavailableError, match=r"Unknown runtime 'tflite'.*Installed: ai_edge_litert"):
        runtime.resolve("tflite")


def test_inputs_are_named_like_the_keras_inputs_and_resize(bundle):
    interpreter, _ = runtime.load(bundle.model)

    specs = runtime.input_specs(interpreter)
    runtime.resize(interpreter, specs, 32)

    assert sorted(spec.name for spec in specs) == ["item_id", "user_id"]
    assert all(spec.dtype == np.int32 and spec.shape_signature == (-1,) for spec in specs)
    assert [tuple(d["shape"]) for d in interpreter.get_input_details()] == [(32,), (32,)]
    assert runtime.output_spec(interpreter).scale == 0.0


def test_latency_pool_holds_distinct_real_batches(bundle):
    interpreter, _ = runtime.load(bundle.model)
    specs = runtime.input_specs(interpreter)
    eval_set = evalset.load(bundle.eval_path)

    pool = inputs.latency_pool(specs, 32, eval_set)

    assert len(pool) == 6  # 200 rows // 32
    user_index = next(spec.index for spec in specs if spec.name == "user_id")
    np.testing.assert_array_equal(pool[1][user_index], eval_set.pointwise["user_id"][32:64])


def test_latency_pool_without_eval_set_is_zero_ids(bundle):
    interpreter, _ = runtime.load(bundle.model)
    specs = runtime.input_specs(interpreter)

    pool = inputs.latency_pool(specs, 4, None)

    assert all(np.array_equal(value, np.zeros(4, np.int32)) for feed in pool for value in feed.values())


@pytest.mark.parametrize("xnnpack, delegated", [(True, True), (False, False)])
def test_xnnpack_off_leaves_no_delegate_node(bundle, xnnpack, delegated):
    # XNNPACK replaces the ops it takes with one DELEGATE node once the model has run
    interpreter, _ = runtime.load(bundle.model, xnnpack=xnnpack)
    runtime.resize(interpreter, runtime.input_specs(interpreter), 1)
    for spec in runtime.input_specs(interpreter):
        interpreter.set_tensor(spec.index, np.zeros(1, spec.dtype))
    interpreter.invoke()

    ops = {op["op_name"] for op in interpreter._get_ops_details()}

    assert ("DELEGATE" in ops) is delegated
