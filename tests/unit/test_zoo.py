"""The teacher zoo: every architecture passes the same model contract and converts to int8."""

import numpy as np
import pytest

from converters import parity, representative, tflite
from edgerec import train
from edgerec._keras import keras
from edgerec.models import architectures
from edgerec.models.zoo import BUILDERS, build_ranker
from edgerec.recipe import ModelConfig, RecipeError, TrainConfig
from tests.utils import assert_model_contract

TINY = TrainConfig(max_epochs=1, batch_size=64, learning_rate=0.01)


def _trained(task, architecture, **kwargs):
    model = build_ranker(task.features, ModelConfig(4, (8,), architecture=architecture, **kwargs), architecture)
    train.compile_ranker(model, TINY)
    train.fit(model, task, TINY, 1, architecture, log=lambda _: None)
    return model


def test_every_registered_architecture_has_one_builder():
    assert set(BUILDERS) == set(architectures.REGISTRY)


def test_registering_an_architecture_twice_is_refused():
    with pytest.raises(ValueError, match="'mlp' is registered twice"):
        architectures.register(architectures.Architecture("mlp"))


@pytest.mark.parametrize("architecture", list(architectures.REGISTRY))
def test_architecture_model_contract(architecture, tiny_task, tmp_path):
    # setup
    extra = {"cross_layers": 1, "cross_projection_dim": 2} if architecture == "dcn_v2" else {}
    model = _trained(tiny_task, architecture, **extra)
    # execute / assert: from_config, clone, .keras save/load, fp32 TFLite give the same logits
    assert model.output.shape.as_list() == [None, 1]
    assert model.layers[-1].name == "score"
    assert_model_contract(model, tiny_task.ranking_eval(), tmp_path)


@pytest.mark.parametrize("architecture", list(architectures.REGISTRY))
def test_architecture_converts_to_full_integer_int8(architecture, tiny_task, tmp_path):
    # setup
    model = _trained(tiny_task, architecture)
    rows = tiny_task.ranking_eval()
    path = tmp_path / f"{architecture}_int8.tflite"
    # execute
    path.write_bytes(tflite.convert(model, "int8", representative.dataset(tiny_task.representative_rows(200))))
    result = parity.compare(train.predict_logits(model, rows), parity.tflite_logits(path, rows), 10)
    # assert: full-integer (the float logit output is the only float tensor) and tracks Keras
    from device_bench import runtime

    interpreter, _ = runtime.load(path)
    interpreter.allocate_tensors()
    floats = [t["name"] for t in interpreter.get_tensor_details() if t["dtype"] == np.float32]
    assert len(floats) == 1
    assert result["mean_abs_logit_diff"] < 0.1
    assert result["top10_overlap"] > 0.7


def test_dcn_v2_without_cross_layers_is_the_mlp(tiny_task):
    # setup: the default architecture with no cross layers is what recipes always built
    a = build_ranker(tiny_task.features, ModelConfig(4, (8,)), "m", seed=3)
    b = build_ranker(tiny_task.features, ModelConfig(4, (8,), architecture="mlp"), "m", seed=3)
    # assert
    assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers]
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def _outputs(model, names, rows):
    extractor = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    return [np.asarray(v) for v in extractor.predict(rows, verbose=0)]


def test_neumf_gmf_is_the_product_of_its_id_embeddings(tiny_task):
    # setup
    model = build_ranker(tiny_task.features, ModelConfig(4, (8,), architecture="neumf"), "m")
    rows = tiny_task.representative_rows(20)
    # execute
    user, item, gmf = _outputs(model, ["gmf_embedding_user_id", "gmf_embedding_item_id", "gmf"], rows)
    # assert
    np.testing.assert_allclose(gmf, user * item, rtol=1e-6)


def test_deepfm_logit_is_first_order_plus_fm_plus_deep(tiny_task):
    # setup
    model = build_ranker(tiny_task.features, ModelConfig(4, (8,), architecture="deepfm"), "m")
    rows = tiny_task.representative_rows(20)
    # execute
    first, fm, deep, score, fields = _outputs(model, ["first_order", "fm", "deep", "score", "fields"], rows)
    # assert: each part is what it claims (FM checked against the explicit pairwise sum)
    pairwise = sum((fields[:, i] * fields[:, j]).sum(1) for i in range(4) for j in range(i + 1, 4))
    np.testing.assert_allclose(fm[:, 0], pairwise, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(score, first + fm + deep, rtol=1e-5, atol=1e-6)
    assert len(model.get_layer("fields").output.shape) == 3 and model.get_layer("fields").output.shape[1] == 4


def test_cross_layers_are_refused_outside_dcn_v2():
    with pytest.raises(RecipeError, match=r"cross_layers: expected 0 for architecture 'deepfm' \(dcn_v2 only\). Received: 2"):
        ModelConfig(4, (4,), cross_layers=2, architecture="deepfm")


def test_neumf_on_data_without_user_and_item_ids_is_refused_by_name():
    # setup: CTR-like features, no user_id / item_id
    from edgerec.data.schema import DataError, FeatureSpec
    from edgerec.models.zoo import check_architecture

    features = [FeatureSpec("C1", 10, "row"), FeatureSpec("I1", 5, "row")]
    # execute / assert
    with pytest.raises(DataError, match=r"student.architecture: 'neumf' needs user_id and item_id inputs .* C1, I1\. Use mlp"):
        check_architecture(ModelConfig(embedding_dim=4, hidden=(8,), architecture="neumf"), features, "student")
    check_architecture(ModelConfig(embedding_dim=4, hidden=(8,), architecture="deepfm"), features, "student")


def test_dcn_v2_with_gmf_adds_the_id_product_to_its_towers(tiny_task):
    # setup
    model = build_ranker(tiny_task.features, ModelConfig(4, (8,), cross_layers=1, gmf=True), "m")
    rows = tiny_task.representative_rows(20)
    # execute
    user, item, gmf, towers = _outputs(model, ["gmf_embedding_user_id", "gmf_embedding_item_id", "gmf", "towers"], rows)
    # assert: the product leads the towers, before the cross and MLP outputs (4 + 4 * features + 8 wide)
    np.testing.assert_allclose(gmf, user * item, rtol=1e-6)
    np.testing.assert_allclose(towers[:, :4], gmf, rtol=1e-6)
    assert towers.shape[1] == 4 + 4 * len(tiny_task.features) + 8


def test_gmf_is_left_out_on_data_without_ids_and_refused_outside_dcn_v2():
    from edgerec.data.schema import FeatureSpec

    features = [FeatureSpec("C1", 10, "row"), FeatureSpec("I1", 5, "row")]
    model = build_ranker(features, ModelConfig(4, (8,), gmf=True), "m")
    assert not any(layer.name.startswith("gmf") for layer in model.layers)
    with pytest.raises(RecipeError, match=r"gmf: expected false for architecture 'deepfm' \(dcn_v2 only"):
        ModelConfig(4, (4,), gmf=True, architecture="deepfm")


def test_dropout_trains_noisy_but_predicts_and_converts_deterministically(tiny_task, tmp_path):
    # setup
    model = _trained(tiny_task, "dcn_v2", gmf=True, dropout=0.5)
    rows = tiny_task.ranking_eval()
    # execute
    noisy = [np.asarray(model(rows, training=True)) for _ in range(2)]
    path = tmp_path / "dropout_int8.tflite"
    path.write_bytes(tflite.convert(model, "int8", representative.dataset(tiny_task.representative_rows(200))))
    # assert: Dropout before each hidden layer; inference ignores it, and so does the int8 artifact
    assert [layer.name for layer in model.layers if layer.name.startswith("dropout")] == ["dropout_0"]
    assert not np.allclose(noisy[0], noisy[1])
    np.testing.assert_array_equal(train.predict_logits(model, rows), train.predict_logits(model, rows))
    assert parity.compare(train.predict_logits(model, rows), parity.tflite_logits(path, rows), 10)["top10_overlap"] > 0.7
    assert not any(layer.name.startswith("dropout") for layer in _trained(tiny_task, "dcn_v2").layers)
