"""Item text in the models: the frozen-text tower of every architecture, weight transfer into an
id-only student, held-out accuracy by popularity, and the synthetic presets' texts."""

import dataclasses

import numpy as np
import pytest

from edgerec import stages, train
from edgerec.data import prepared, synthetic
from edgerec.data.schema import DataError
from edgerec.data.synthetic import text as synthetic_text
from edgerec.data.task import RankingTask
from edgerec.distill import transfer
from edgerec.models import architectures
from edgerec.models.zoo import ITEM_TEXT_VECTORS, build_ranker, text_projection
from edgerec.recipe import DataConfig, ModelConfig, RecipeError, TrainConfig
from edgerec.recipe import load as load_recipe
from tests.utils import assert_model_contract

TINY = TrainConfig(max_epochs=1, batch_size=64, learning_rate=0.01)


@pytest.fixture(scope="module")
def text_task():
    data = synthetic.generate("smoke", 0)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(data.num_items, 6)).astype(np.float32)
    data = dataclasses.replace(data, item_vectors=vectors, item_vectors_from="test vectors")
    return RankingTask(data, DataConfig(negatives_per_positive=2, eval_candidates=10), seed=0)


@pytest.mark.parametrize("architecture", list(architectures.REGISTRY))
def test_every_architecture_takes_a_frozen_text_tower(architecture, text_task, tmp_path):
    # setup
    config = ModelConfig(4, (8,), architecture=architecture, item_text=True)
    model = build_ranker(text_task.features, config, "teacher", item_vectors=text_task.item_vectors)
    # execute
    train.compile_ranker(model, TINY)
    train.fit(model, text_task, TINY, 1, architecture, log=lambda _: None)
    # assert: the inputs are still the ids and features; the text table kept its vectors through training
    assert sorted(model.input_names) == sorted(f.name for f in text_task.features)
    table = model.get_layer(ITEM_TEXT_VECTORS)
    assert not table.trainable
    np.testing.assert_array_equal(table.get_weights()[0], text_task.item_vectors)
    assert model.get_layer(text_projection("embedding_item_id")).trainable
    assert_model_contract(model, text_task.ranking_eval(), tmp_path)


def test_the_text_tower_makes_the_score_depend_on_the_text(text_task):
    # setup: two models that differ only in one item's text vector
    config = ModelConfig(4, (8,), item_text=True)
    changed = text_task.item_vectors.copy()
    changed[3] += 1.0
    a = build_ranker(text_task.features, config, "a", item_vectors=text_task.item_vectors)
    b = build_ranker(text_task.features, config, "b", item_vectors=changed)
    rows = text_task.rows(np.array([1, 1], np.int32), np.array([3, 4], np.int32))
    # execute
    left, right = train.predict_logits(a, rows), train.predict_logits(b, rows)
    # assert: item 3's score moved, item 4's did not
    assert left[0] != pytest.approx(right[0])
    assert left[1] == pytest.approx(right[1])


def test_a_text_model_without_vectors_is_refused_in_one_line(text_task):
    with pytest.raises(DataError, match=r"^teacher.item_text: true needs item text vectors .*--item-embeddings"):
        build_ranker(text_task.features, ModelConfig(4, (8,), item_text=True), "teacher")


def test_a_build_whose_teacher_ignores_the_datas_text_vectors_says_how_to_use_them(text_task, tmp_path):
    # setup: a prepared folder with text vectors, and the smoke recipe (its teacher reads no text)
    prepared.save(text_task.data, tmp_path / "prepared")
    recipe = load_recipe("smoke")
    hint = ("  the data has item text vectors (test vectors) that no model reads: "
            "`--set teacher.item_text=true` lets the teacher read them (README, 'Item text')")
    lines, synthetic_lines = [], []
    # execute
    stages.load_task(recipe, tmp_path / "prepared", lines.append)
    stages.load_task(recipe, None, synthetic_lines.append)  # its own texts, no stored vectors
    # assert: one line, for the data that was prepared with vectors
    assert lines.count(hint) == 1
    assert not [line for line in synthetic_lines if "no model reads" in line]


def test_the_student_reads_no_text(tmp_path):
    (tmp_path / "r.yaml").write_text("student: {item_text: true}\n")
    with pytest.raises(RecipeError, match="student.item_text: expected false"):
        load_recipe(str(tmp_path / "r.yaml"))


def test_an_unknown_text_encoder_is_refused_when_the_recipe_loads(tmp_path):
    (tmp_path / "r.yaml").write_text("data: {text_encoder: minilmm}\n")
    with pytest.raises(RecipeError, match=r"data.text_encoder: expected one of \['minilm', 'tfidf'\] "
                                          r"\(did you mean 'minilm'\?\)"):
        load_recipe(str(tmp_path / "r.yaml"))


def test_weight_transfer_needs_a_known_method(tmp_path):
    (tmp_path / "r.yaml").write_text("distill: {weight_transfer: svd}\n")
    with pytest.raises(RecipeError, match=r"distill.weight_transfer: expected one of \['none', 'pca'\]"):
        load_recipe(str(tmp_path / "r.yaml"))


def test_weight_transfer_writes_the_pca_of_the_teachers_same_table(text_task):
    # setup
    teacher = build_ranker(text_task.features, ModelConfig(8, (8,), gmf=True, item_text=True), "teacher",
                           item_vectors=text_task.item_vectors)
    student = build_ranker(text_task.features, ModelConfig(3, (4,), gmf=True), "student")
    initial = {name: student.get_layer(name).get_weights()[0] for name in transfer.ITEM_TABLES}
    # execute
    done = transfer.transfer(teacher, student)
    # assert: each item table holds the top-3 principal components' scores (up to each component's
    # sign) of the teacher's table of its name with the text projection added, scaled to the root
    # mean square of the table it replaced
    assert set(done) == {"embedding_item_id", "gmf_embedding_item_id"}
    texts = teacher.get_layer("item_text_vectors").get_weights()[0]
    for name, before in initial.items():
        kernel, bias = teacher.get_layer(text_projection(name)).get_weights()
        representations = teacher.get_layer(name).get_weights()[0] + texts @ kernel + bias
        np.testing.assert_allclose(transfer.item_representations(teacher, name), representations, rtol=1e-5)
        centred = representations - representations.mean(axis=0)
        _, _, directions = np.linalg.svd(centred, full_matrices=False)
        expected = centred @ directions[:3].T
        table = student.get_layer(name).get_weights()[0]
        scale = np.sqrt(np.mean(before**2) / np.mean(expected**2))
        np.testing.assert_allclose(np.abs(table), np.abs(expected * scale), rtol=1e-4, atol=1e-6)
        assert 0 < done[name]["variance_kept"] <= 1


def test_a_student_table_the_teacher_lacks_starts_from_all_its_item_tables(text_task):
    # setup: a teacher with the GMF branch and one without
    both = build_ranker(text_task.features, ModelConfig(8, (8,), gmf=True, item_text=True), "both",
                        item_vectors=text_task.item_vectors)
    towers = build_ranker(text_task.features, ModelConfig(6, (8,), gmf=False, item_text=True), "towers",
                          item_vectors=text_task.item_vectors)
    items = text_task.data.num_items
    # execute / assert: a named table the teacher has is taken alone; else every item table, side by side
    assert transfer.item_representations(both, "gmf_embedding_item_id").shape == (items, 8)
    assert transfer.item_representations(both).shape == (items, 8 + 8)
    np.testing.assert_allclose(transfer.item_representations(towers, "gmf_embedding_item_id"),
                               transfer.item_representations(towers, "embedding_item_id"))


def test_synthetic_texts_follow_the_items_and_leave_the_interactions_as_they_were():
    # setup
    data = synthetic.generate("smoke", 3)
    again = synthetic.generate("smoke", 3)
    # assert: one text per item, deterministic, made of the topic vocabulary and the fillers
    assert len(data.item_text) == data.num_items
    assert data.item_text == again.item_text
    known = {w for topic in synthetic_text.vocabulary() for w in topic} | set(synthetic_text.FILLERS)
    assert all(word.lower() in known for text in data.item_text for word in text.split())


def test_synthetic_texts_are_closer_for_items_closer_in_taste():
    # setup: items with near-identical latent factors against items with unrelated ones
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1.0, (200, 24))
    texts = synthetic_text.item_texts(np.vstack([base, base + rng.normal(0, 0.1, base.shape), rng.normal(0, 1.0, base.shape)]), 0)
    bags = [set(t.lower().split()) - set(synthetic_text.FILLERS) for t in texts]
    jaccard = lambda a, b: len(a & b) / max(len(a | b), 1)  # noqa: E731
    # execute
    near = np.mean([jaccard(bags[i], bags[200 + i]) for i in range(200)])
    far = np.mean([jaccard(bags[i], bags[400 + i]) for i in range(200)])
    # assert
    assert near > 2 * far


def test_the_report_tables_each_model_by_popularity():
    # setup: two stages that report groups and one (a CTR-like stage) that does not; bench rows of one
    # artifact at two thread counts, and one from a bench that predates the groups
    groups = {"head": {"lists": 9, "ndcg@10": 0.5}, "torso": {"lists": 3, "ndcg@10": 0.25}, "tail": {"lists": 0}}
    on_device = {**groups, "tail": {"lists": 0}, "head": {"lists": 9, "ndcg@10": 0.125}}
    stages = [{"name": "teacher", "facts": {"by_popularity": groups}}, {"name": "no groups", "facts": {}},
              {"name": "student", "facts": {"by_popularity": groups}}]
    rows = [{"artifact": "student_int8.tflite", "by_popularity": on_device},
            {"artifact": "student_int8.tflite", "by_popularity": groups}, {"artifact": "old.tflite"}]
    # execute
    from edgerec import report

    table = report.popularity_table(stages, rows)
    # assert: one row per reporting stage, then one per benched artifact (its first row), the list
    # counts in the header, an empty group marked missing
    lines = table.splitlines()
    assert "head NDCG@10 (9 lists)" in lines[0] and "tail NDCG@10 (0 lists)" in lines[0]
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["teacher", "student", "student_int8.tflite (bench)"]
    assert "0.2500" in lines[2] and "0.1250" in lines[4]
    assert report.popularity_table([{"name": "x", "facts": {}}]) == ""


def test_the_item_id_row_is_dropped_whole_in_training_only(text_task):
    # setup
    config = ModelConfig(4, (8,), item_text=True, item_id_dropout=0.5)
    model = build_ranker(text_task.features, config, "teacher", item_vectors=text_task.item_vectors)
    without = build_ranker(text_task.features, dataclasses.replace(config, item_id_dropout=0.0), "teacher",
                           item_vectors=text_task.item_vectors)
    dropout = model.get_layer("embedding_item_id_dropout")
    rows = np.random.default_rng(0).normal(size=(400, 4)).astype(np.float32)
    # execute
    trained = dropout(rows, training=True).numpy()
    # assert: each row is kept whole (scaled) or zeroed whole; inference is the identity; rate 0 builds no layer
    zeroed = np.all(trained == 0, axis=1)
    np.testing.assert_allclose(trained[~zeroed], rows[~zeroed] * 2, rtol=1e-6)
    assert 0.35 < zeroed.mean() < 0.65
    np.testing.assert_array_equal(dropout(rows, training=False).numpy(), rows)
    assert "embedding_item_id_dropout" not in [layer.name for layer in without.layers]
