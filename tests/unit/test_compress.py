"""Every registered step goes through apply -> finalize -> int8 convert -> interpreter.

The matrix comes from the registry itself, so a newly registered step is tested automatically.
"""

import numpy as np
import pytest

from converters import parity, representative, tflite
from edgerec import compress, train
from edgerec._keras import keras
from edgerec.compress.base import CompressionStep, StepError, register
from edgerec.compress import prune_units
from edgerec.compress.prune import layer_sparsity
from edgerec.models.zoo import build_ranker
from edgerec.recipe import ModelConfig, TrainConfig
from tests.utils import fully_connected_without_bias


def _copy(model):
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _finetune(model, step, params, ctx, task):
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    features, labels = task.train_epoch(0)
    model.fit(features, labels, batch_size=64, epochs=ctx.finetune_epochs, verbose=0,
              callbacks=step.callbacks(params, ctx))


@pytest.fixture(scope="module")
def gmf_dropout_student(tiny_task):
    """A student with the GMF branch and Dropout layers (the default recipe's student has the first)."""
    model = build_ranker(tiny_task.features, ModelConfig(embedding_dim=4, hidden=(16, 8), gmf=True, dropout=0.2),
                         "student", seed=0)
    config = TrainConfig(max_epochs=1, batch_size=64, learning_rate=0.01)
    train.compile_ranker(model, config)
    train.fit(model, tiny_task, config, 1, "tiny", log=lambda _: None)
    return model


@pytest.mark.parametrize("student", ["tiny_student", "gmf_dropout_student"])
@pytest.mark.parametrize("name", sorted(compress.REGISTRY))
def test_every_step_applies_finalizes_converts_and_runs(name, student, tiny_task, tmp_path, request):
    # setup
    tiny_student = request.getfixturevalue(student)
    step = compress.get(name)
    params = step.resolve({})
    features, labels = tiny_task.train_epoch(0)
    ctx = compress.StepContext(steps_per_epoch=int(np.ceil(len(labels) / 64)), finetune_epochs=1,
                               id_counts=tiny_task.id_counts)
    # execute
    trainable = step.apply(_copy(tiny_student), params, ctx)
    _finetune(trainable, step, params, ctx, tiny_task)
    final = step.finalize(trainable, params)
    rows = tiny_task.ranking_eval()
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(tflite.convert(final, "int8", representative.dataset(tiny_task.representative_rows(200))))
    result = parity.compare(train.predict_logits(final, rows), parity.tflite_logits(path, rows), 10)
    # assert: the int8 artifact runs and tracks its Keras model, and every FULLY_CONNECTED has a bias (see converters.fc_bias)
    assert result["rows"] == len(rows["user_id"])
    assert result["mean_abs_logit_diff"] < 0.1
    assert result["top10_overlap"] > 0.7
    assert fully_connected_without_bias(path.read_bytes()) == []


def test_low_rank_replaces_only_layers_it_shrinks(tiny_student):
    from edgerec.models.layers import LowRankDense

    step = compress.get("low_rank")
    model = step.apply(_copy(tiny_student), step.resolve({"rank": 2}), compress.StepContext(1, 0))
    kinds = {layer.name: type(layer).__name__ for layer in model.layers}
    assert kinds["hidden_0"] == "LowRankDense"  # 16 inputs x 16: 2 * 32 < 256
    assert kinds["score"] == "Dense"  # 8 x 1: factorising would add weights
    assert isinstance(model.get_layer("hidden_1"), LowRankDense)  # 16 x 8: 2 * 24 < 128
    # embeddings carried over unchanged
    np.testing.assert_array_equal(
        model.get_layer("embedding_item_id").get_weights()[0],
        tiny_student.get_layer("embedding_item_id").get_weights()[0],
    )


@pytest.mark.parametrize("schedule", ["polynomial", "constant"])
def test_prune_reaches_target_sparsity(schedule, tiny_student, tiny_task):
    # setup
    step = compress.get("prune")
    params = step.resolve({"target_sparsity": 0.6, "schedule": schedule})
    _, labels = tiny_task.train_epoch(0)
    ctx = compress.StepContext(steps_per_epoch=int(np.ceil(len(labels) / 64)), finetune_epochs=2)
    # execute
    trainable = step.apply(_copy(tiny_student), params, ctx)
    _finetune(trainable, step, params, ctx, tiny_task)
    final = step.finalize(trainable, params)
    # assert
    sparsity = layer_sparsity(final)
    assert set(sparsity) == {"hidden_0", "hidden_1", "score"}
    assert sparsity["hidden_0"] == pytest.approx(0.6, abs=0.05) and sparsity["hidden_1"] == pytest.approx(0.6, abs=0.05)
    assert sparsity["score"] == 0.0  # the logit layer is pruned only when named
    assert not any("prune_low_magnitude" in layer.name for layer in final.layers)


def _pruned(name, given, model, task, epochs=1):
    """`model` through step `name` with `given` params: apply, fine-tune, finalize; and the step."""
    step = compress.get(name)
    params = step.resolve(given)
    _, labels = task.train_epoch(0)
    ctx = compress.StepContext(steps_per_epoch=int(np.ceil(len(labels) / 64)), finetune_epochs=epochs)
    trainable = step.apply(_copy(model), params, ctx)
    _finetune(trainable, step, params, ctx, task)
    return step.finalize(trainable, params), step


def _groups_of_four(kernel):
    """A Keras [in, out] kernel as groups of 4 consecutive weights along the input axis: [out, in/4, 4]."""
    return kernel.T.reshape(kernel.shape[1], -1, 4)


def test_two_four_pattern_zeros_two_of_every_four_input_weights(tiny_student, tiny_task, tmp_path):
    # execute
    final, step = _pruned("prune", {"pattern": "2:4", "layers": ["hidden_0", "hidden_1", "score"]}, tiny_student, tiny_task)
    # assert: every group of 4 consecutive weights along each kernel's input axis has >= 2 zeros
    for name in ("hidden_0", "hidden_1", "score"):
        zeros = (_groups_of_four(final.get_layer(name).kernel.numpy()) == 0).sum(axis=-1)
        assert zeros.min() >= 2, name
    assert step.describe(final)["sparsity"] == {"hidden_0": 0.5, "hidden_1": 0.5, "score": 0.5}
    # ... and these are the groups TFLite reads: the last axis of the FULLY_CONNECTED weight [out, in]
    from converters.inspect import inspect
    from edgerec._keras import tf

    path = tmp_path / "two_four.tflite"
    path.write_bytes(tflite.convert(final, "fp32"))
    kernels = {c["name"] for c in inspect(path).constants if c["kind"] == "dense" and len(c["shape"]) == 2}
    interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    weights = [interpreter.get_tensor(d["index"]) for d in interpreter.get_tensor_details() if d["name"] in kernels]
    assert len(weights) == 3
    for weight in weights:
        assert (weight.reshape(weight.shape[0], -1, 4) == 0).sum(axis=-1).min() >= 2


def test_two_four_pattern_prunes_both_low_rank_factors(tiny_student, tiny_task):
    # setup: rank 4, so both factors' input dimensions (16 and 4) are multiples of 4
    low_rank = compress.get("low_rank")
    factored = low_rank.apply(_copy(tiny_student), low_rank.resolve({"rank": 4}), compress.StepContext(1, 0))
    # execute
    final, _ = _pruned("prune", {"pattern": "2:4"}, factored, tiny_task)
    # assert
    layer = final.get_layer("hidden_0")
    for kernel in (layer.kernel_u.numpy(), layer.kernel_v.numpy()):
        assert (_groups_of_four(kernel) == 0).sum(axis=-1).min() >= 2


def test_pattern_skips_a_layer_whose_input_is_not_a_multiple_of_n(tiny_student, tiny_task):
    # setup: rank 2, so kernel_v of each LowRankDense has input dimension 2
    low_rank = compress.get("low_rank")
    factored = low_rank.apply(_copy(tiny_student), low_rank.resolve({"rank": 2}), compress.StepContext(1, 0))
    # execute
    final, step = _pruned("prune", {"pattern": "2:4"}, factored, tiny_task)
    facts = step.describe(final)
    # assert: skipped with the reason, left dense (the score layer is not pruned by default)
    assert set(facts["skipped"]) == {"hidden_0", "hidden_1"}
    assert "kernel input dimension not a multiple of 4: shape (2, 16)" in facts["skipped"]["hidden_0"]
    assert facts["sparsity"]["hidden_0"] == 0.0 and facts["sparsity"]["score"] == 0.0
    # ... and refused when named
    with pytest.raises(StepError, match=r"layers: 'hidden_1' cannot take pattern '2:4': kernel input dimension"):
        step.apply(factored, step.resolve({"pattern": "2:4", "layers": ["hidden_1"]}), compress.StepContext(1, 1))


@pytest.mark.parametrize("given, message", [
    ({"pattern": "2:4", "target_sparsity": 0.75},
     r"target_sparsity 0.75 contradicts pattern '2:4', which sets the sparsity to 2/4 = 0.5; leave target_sparsity out"),
    ({"pattern": "2:4", "schedule": "constant"}, r"schedule does not apply with pattern '2:4'"),
    ({"pattern": "2:4", "ramp_fraction": 0.5}, r"ramp_fraction does not apply with pattern '2:4'"),
    ({"pattern": "4:2"}, r"pattern must be null or a string 'm:n' with integers 1 <= m < n, e.g. '2:4'. Received: '4:2'"),
    ({"pattern": "2-4"}, r"pattern must be .* Received: '2-4'"),
    ({"schedule": "cubic"}, r"schedule must be 'polynomial' or 'constant'. Received: 'cubic'"),
    ({"schedule": "constant", "ramp_fraction": 0.5}, r"ramp_fraction applies to schedule 'polynomial' only"),
])
def test_prune_refuses_contradictory_or_bad_parameters(given, message):
    with pytest.raises(StepError, match=r"compress step 'prune': " + message):
        compress.get("prune").resolve(given)


def test_pattern_with_its_own_sparsity_is_accepted():
    params = compress.get("prune").resolve({"pattern": "1:4", "target_sparsity": 0.25})
    assert params["target_sparsity"] == 0.25 and params["pattern"] == "1:4"


def test_prune_embeddings_prunes_each_table_and_nothing_else(tiny_student, tiny_task):
    # execute
    final, step = _pruned("prune_embeddings", {"target_sparsity": 0.75, "schedule": "constant"}, tiny_student, tiny_task)
    # assert: every table at the target, element-wise; dense kernels untouched
    facts = step.describe(final)
    assert set(facts["sparsity"]) == {f"embedding_{f.name}" for f in tiny_task.features}
    assert all(value == pytest.approx(0.75, abs=0.03) for value in facts["sparsity"].values())
    assert all(value == 0.0 for value in layer_sparsity(final).values())


@pytest.mark.parametrize("name", ["prune", "prune_embeddings"])
def test_candidates_resolve_and_go_from_mild_to_aggressive(name):
    step = compress.get(name)
    sparsities = [step.resolve(given)["target_sparsity"] for given in step.candidates()]
    assert sparsities == sorted(sparsities) and len(sparsities) >= 3


def test_qat_after_prune_keeps_zeros(tiny_student, tiny_task):
    # setup: prune, then sparsity-preserving QAT
    _, labels = tiny_task.train_epoch(0)
    steps = int(np.ceil(len(labels) / 64))
    prune = compress.get("prune")
    p_params = prune.resolve({"target_sparsity": 0.5})
    pruned = prune.apply(_copy(tiny_student), p_params, compress.StepContext(steps, 1))
    _finetune(pruned, prune, p_params, compress.StepContext(steps, 1), tiny_task)
    pruned = prune.finalize(pruned, p_params)
    qat = compress.get("qat")
    ctx = compress.StepContext(steps, 1, previous_steps=("prune",))
    # execute
    params = qat.resolve({})
    model = qat.apply(pruned, params, ctx)
    _finetune(model, qat, params, ctx, tiny_task)
    # assert: the pruned layers stay sparse (the logit layer was left dense by prune)
    sparsity = qat.describe(model)["sparsity"]
    assert sparsity["hidden_0"] >= 0.45 and sparsity["hidden_1"] >= 0.45


@pytest.mark.parametrize("name", ["low_rank", "prune", "qat"])
def test_layers_parameter_compresses_only_the_named_layer(name, tiny_student):
    # setup
    step = compress.get(name)
    params = step.resolve({"rank": 2, "layers": ["hidden_1"]} if name == "low_rank" else {"layers": ["hidden_1"]})
    # execute
    model = step.apply(_copy(tiny_student), params, compress.StepContext(1, 1))
    # assert: only hidden_1's weights are factorised, pruned or fake-quantized
    assert _layers_with_compressed_weights(model) == {"hidden_1"}


def _layers_with_compressed_weights(model) -> set[str]:
    from edgerec.models.layers import LowRankDense

    names = {layer.name for layer in model.layers if isinstance(layer, LowRankDense)}
    for layer in model.layers:
        inner = getattr(layer, "layer", None)
        if inner is None:
            continue
        # a QAT wrapper with weight quantizers, or a pruning wrapper; QAT's output-only
        # wrappers (which quantize what feeds a quantized layer) hold no weight quantizer
        if getattr(layer, "_weight_vars", None) or "prune_low_magnitude" in layer.name:
            names.add(inner.name)
    return names


def test_layers_parameter_names_a_layer_the_step_cannot_compress(tiny_student):
    step = compress.get("prune")
    with pytest.raises(StepError, match=r"layers: 'hiden_1' is not a layer this step can compress .*Did you mean 'hidden_1'\?"):
        step.apply(_copy(tiny_student), step.resolve({"layers": ["hiden_1"]}), compress.StepContext(1, 1))
    with pytest.raises(StepError, match="layers must be a non-empty list of layer names"):
        step.resolve({"layers": "hidden_1"})


def test_unknown_step_and_parameter_suggest_names():
    with pytest.raises(StepError, match=r"unknown compression step 'prun'. Did you mean 'prune'\?"):
        compress.get("prun")
    with pytest.raises(StepError, match=r"unknown parameter 'target_sparsty'. Did you mean 'target_sparsity'\?"):
        compress.get("prune").resolve({"target_sparsty": 0.5})
    with pytest.raises(StepError, match=r"target_sparsity must be a float in \[0, 1\). Received: 1.0"):
        compress.get("prune").resolve({"target_sparsity": 1.0})
    with pytest.raises(StepError, match=r"rank must be an int >= 1. Received: 0"):
        compress.get("low_rank").resolve({"rank": 0})


def test_registering_a_name_twice_is_refused():
    class Again(CompressionStep):
        name = "prune"

    with pytest.raises(StepError, match="registered twice"):
        register(Again)


@pytest.mark.parametrize("architecture", ["neumf", "deepfm", "dcn_v2"])  # mlp: the tests above
def test_every_architecture_goes_through_the_whole_chain_to_int8(architecture, tiny_task, tmp_path):
    # setup: any zoo architecture may be the student, so the step chain must accept each
    from edgerec.models.zoo import build_ranker
    from edgerec.recipe import ModelConfig

    extra = {"cross_layers": 1} if architecture == "dcn_v2" else {}
    model = build_ranker(tiny_task.features, ModelConfig(4, (16, 8), architecture=architecture, **extra), "s")
    _, labels = tiny_task.train_epoch(0)
    steps = int(np.ceil(len(labels) / 64))
    done = ()
    # execute
    for name, given in (("low_rank", {"rank": 2}), ("prune", {}), ("qat", {})):
        step = compress.get(name)
        params = step.resolve(given)
        ctx = compress.StepContext(steps, 1, previous_steps=done)
        trainable = step.apply(model, params, ctx)
        _finetune(trainable, step, params, ctx, tiny_task)
        model, done = step.finalize(trainable, params), done + (name,)
    rows = tiny_task.ranking_eval()
    path = tmp_path / f"{architecture}.tflite"
    path.write_bytes(tflite.convert(model, "int8", representative.dataset(tiny_task.representative_rows(200))))
    result = parity.compare(train.predict_logits(model, rows), parity.tflite_logits(path, rows), 10)
    # assert
    assert result["mean_abs_logit_diff"] < 0.1
    assert result["top10_overlap"] > 0.7


def test_prune_leaves_the_logit_layer_dense_unless_named(tiny_student, tiny_task):
    # execute
    default, _ = _pruned("prune", {"target_sparsity": 0.5}, tiny_student, tiny_task)
    named, _ = _pruned("prune", {"target_sparsity": 0.5, "layers": ["score"]}, tiny_student, tiny_task)
    # assert
    assert layer_sparsity(default)["score"] == 0.0 and layer_sparsity(default)["hidden_0"] == pytest.approx(0.5, abs=0.05)
    assert layer_sparsity(named)["score"] == pytest.approx(0.5, abs=0.15) and layer_sparsity(named)["hidden_0"] == 0.0


def test_a_step_fine_tunes_at_its_fraction_of_the_student_learning_rate(tiny_student, tiny_task, monkeypatch):
    from edgerec import stages
    from edgerec.recipe import Recipe, StepConfig

    # setup: record the learning rate each fine-tune is given
    rates = []
    monkeypatch.setattr(stages, "distill", lambda teacher, model, task, recipe, *args, **kwargs:
                        rates.append(recipe.student_training.learning_rate))
    recipe = Recipe(name="t", student_training=TrainConfig(learning_rate=0.002, batch_size=64))
    steps = (StepConfig("low_rank", {"rank": 2}), StepConfig("prune", finetune_lr_scale=0.1))
    # execute
    stages.compress(tiny_student, tiny_student, tiny_task, recipe, steps, lambda _: None, stages.seeded_runner(0))
    # assert
    assert rates == [0.002, pytest.approx(0.0002)]


@pytest.fixture(scope="module")
def validated_task():
    from edgerec.data.task import RankingTask
    from edgerec.recipe import DataConfig
    from tests.utils import tiny_interactions

    return RankingTask(tiny_interactions(), DataConfig(negatives_per_positive=2, eval_candidates=10), seed=0,
                       validation=True)


def test_a_step_that_costs_more_than_its_validation_budget_is_dropped(tiny_student, validated_task, monkeypatch):
    from edgerec import stages
    from edgerec.models.layers import LowRankDense
    from edgerec.recipe import Recipe, StepConfig

    # setup: scripted validation scores, (before, after) per step: low_rank loses 0.05 of 0.80 (budget 0.01),
    # prune loses 0.004 of 0.80 (budget 0.01); qat has no budget and is never scored
    scores = iter([0.80, 0.75, 0.80, 0.796])
    monkeypatch.setattr(stages.train, "evaluate_on", lambda model, data: {"ndcg@10": next(scores)})
    monkeypatch.setattr(stages, "distill", lambda *args, **kwargs: None)
    monkeypatch.setattr(stages, "_untuned", lambda *args, **kwargs: None)
    recipe = Recipe(name="t", student_training=TrainConfig(batch_size=64))
    steps = (StepConfig("low_rank", {"rank": 2}, max_validation_drop=0.01),
             StepConfig("prune", max_validation_drop=0.01), StepConfig("qat"))
    logged = []
    # execute
    result = stages.compress(tiny_student, tiny_student, validated_task, recipe, steps, logged.append,
                             stages.seeded_runner(0))
    # assert
    assert next(scores, None) is None
    low_rank, prune, qat = result.facts
    assert low_rank["validation"] == {"metric": "ndcg@10", "before": 0.8, "after": 0.75, "dropped": True}
    assert "0.8000 -> 0.7500" in low_rank["dropped"]
    assert "dropped" not in prune and prune["validation"]["dropped"] is False
    assert "validation" not in qat
    assert not any(isinstance(layer, LowRankDense) for layer in result.float_model.layers)
    assert any("low_rank dropped" in line for line in logged)


def test_a_fake_quantizing_step_takes_no_validation_budget(validated_task):
    from edgerec.recipe import Recipe, StepConfig
    from edgerec.stages import check_steps

    recipe = Recipe(name="t", compress=(StepConfig("prune"), StepConfig("qat", max_validation_drop=0.01)))
    with pytest.raises(StepError, match=r"compress\[1\]\.max_validation_drop: 'qat' fake-quantizes"):
        check_steps(recipe, validated_task)


@pytest.mark.parametrize("fine_tuned_validation, kept", [(-1.0, "untuned"), (2.0, "fine-tuned")])
def test_a_fine_tune_that_does_not_beat_the_untuned_step_is_undone(fine_tuned_validation, kept, tiny_student,
                                                                    validated_task, monkeypatch):
    from edgerec import stages
    from edgerec.early_stopping import Curve
    from edgerec.recipe import Recipe, StepConfig

    # setup: a "fine-tune" that zeroes every weight and reports a scripted validation score
    def zeroing_distill(teacher, model, *args, **kwargs):
        model.set_weights([np.zeros_like(w) for w in model.get_weights()])
        return Curve("ndcg@10", [{"epoch": 1, "loss": 0.5, "validation": fine_tuned_validation, "seconds": 0.1}], 1)

    monkeypatch.setattr(stages, "distill", zeroing_distill)
    curves = []
    runner = stages.seeded_runner(0)

    def recording_runner(key, label, build, train_fn, restore=None):
        return runner(key, label, build, lambda model: _record(train_fn(model), curves), restore)

    recipe = Recipe(name="t", student_training=TrainConfig(batch_size=64))
    logged = []
    # execute
    result = stages.compress(tiny_student, tiny_student, validated_task, recipe, (StepConfig("low_rank", {"rank": 2}),),
                             logged.append, recording_runner)
    # assert: epoch 0 is on the curve either way; the zeroed weights ship only when their score was higher
    (curve,) = curves
    assert [e["epoch"] for e in curve.epochs] == [0, 1] and curve.epochs[0]["loss"] is None
    zeroed = all(not np.any(w) for w in result.model.get_weights())
    assert zeroed == (kept == "fine-tuned")
    assert curve.best_epoch == (0 if kept == "untuned" else 1)
    assert any("kept epoch 0" in line for line in logged) == (kept == "untuned")


def _record(result, curves):
    curves.append(result[1])
    return result


@pytest.mark.parametrize("config", [
    ModelConfig(embedding_dim=4, hidden=(16, 8), gmf=True, dropout=0.2),  # towers: GMF + MLP, Dropout between
    ModelConfig(embedding_dim=4, hidden=(16, 8), cross_layers=1),  # towers: cross stack + MLP
    ModelConfig(embedding_dim=4, hidden=(16,), architecture="two_tower"),  # user_/item_hidden_0 -> *_vector
], ids=["gmf_dropout", "cross", "two_tower"])
def test_prune_units_computes_what_the_model_computes_with_those_units_silenced(config, tiny_task):
    # setup: a model with random weights; its twin with the removed units' incoming weights and bias zeroed
    # (a silenced ReLU unit outputs 0, so it adds nothing downstream)
    model = build_ranker(tiny_task.features, config, "student", seed=3)
    step = compress.get("prune_units")
    # execute
    narrow = step.apply(_copy(model), step.resolve({"fraction": 0.5}), compress.StepContext(1, 0))
    # assert: every ReLU hidden layer halved, and the same logits as the silenced twin
    facts = step.describe(narrow)
    assert facts and all(f["units_after"] == f["units_before"] // 2 for f in facts.values())
    silenced = _copy(model)
    for name in facts:
        layer, kept = silenced.get_layer(name), narrow.get_layer(name).units
        kernel, bias = layer.get_weights()
        removed = np.ones(layer.units, bool)
        removed[np.argsort(-prune_units.importance(model, name))[:kept]] = False
        kernel[:, removed], bias[removed] = 0.0, 0.0
        layer.set_weights([kernel, bias])
    rows = {k: v[:200] for k, v in tiny_task.ranking_eval().items()}
    np.testing.assert_allclose(train.predict_logits(narrow, rows), train.predict_logits(silenced, rows), atol=1e-5)
    assert narrow.count_params() < model.count_params()


def test_prune_units_removes_the_units_that_carry_nothing(tiny_task):
    # setup: hidden_0's units 0-7 receive nothing (zero kernel columns and bias)
    model = build_ranker(tiny_task.features, ModelConfig(embedding_dim=4, hidden=(16, 8)), "student", seed=0)
    kernel, bias = model.get_layer("hidden_0").get_weights()
    kernel[:, :8], bias[:8] = 0.0, 0.0
    model.get_layer("hidden_0").set_weights([kernel, bias])
    step = compress.get("prune_units")
    # execute
    narrow = step.apply(model, step.resolve({"fraction": 0.5, "layers": ["hidden_0"]}), compress.StepContext(1, 0))
    # assert: exactly the silent units went, so the logits do not move
    np.testing.assert_array_equal(narrow.get_layer("hidden_0").get_weights()[0], kernel[:, 8:])
    rows = {k: v[:100] for k, v in tiny_task.ranking_eval().items()}
    np.testing.assert_allclose(train.predict_logits(narrow, rows), train.predict_logits(model, rows), atol=1e-5)


def test_prune_units_leaves_a_layer_whose_units_feed_more_than_dense_layers(tiny_task):
    # setup: a ReLU layer whose output is multiplied, not read by a Dense layer
    x = keras.Input(shape=(4,), name="x")
    hidden = keras.layers.Dense(4, activation="relu", name="hidden_0")(x)
    product = keras.layers.Multiply(name="product")([hidden, x])
    model = keras.Model(x, keras.layers.Dense(1, name="score")(product))
    step = compress.get("prune_units")
    # execute / assert: left whole by default, named in the facts; refused when asked for by name
    assert step.apply(model, step.resolve({}), compress.StepContext(1, 0)) is model
    assert "feeds Multiply 'product'" in step.describe(model)["hidden_0"]["kept_whole"]
    with pytest.raises(StepError, match="layers: 'hidden_0' feeds Multiply 'product'"):
        step.apply(model, step.resolve({"layers": ["hidden_0"]}), compress.StepContext(1, 0))
