import numpy as np
import pytest

from edgerec import recipe, train
from edgerec._keras import keras, tf
from edgerec.distill import losses, methods
from edgerec.distill.distiller import Distiller
from edgerec.distill.losses import (
    CANDIDATES,
    EmbeddingDistillation,
    HintDistillation,
    ListwiseDistillation,
    LogitsDistillation,
    RankingDistillation,
    UnlabelledDistillation,
    WeightedSum,
)
from edgerec.distill.teachers import ensemble_teacher
from edgerec.models.zoo import build_ranker
from edgerec.recipe import DistillConfig, DistillMethod, ModelConfig


def _numpy_soft_bce(teacher, student, t):
    p = 1 / (1 + np.exp(-teacher / t))
    q = 1 / (1 + np.exp(-student / t))
    return t * t * np.mean(-(p * np.log(q) + (1 - p) * np.log(1 - q)))


def _copy(model):
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
def test_logits_distillation_matches_numpy_formula(temperature):
    # setup
    rng = np.random.default_rng(0)
    teacher, student = rng.normal(size=(8, 1)) * 3, rng.normal(size=(8, 1)) * 3
    # execute
    loss = LogitsDistillation(temperature).compute_loss(tf.constant(teacher), tf.constant(student))
    # assert
    assert float(loss) == pytest.approx(_numpy_soft_bce(teacher, student, temperature), rel=1e-6)


def test_single_logit_is_not_softmaxed():
    # A softmax over one logit is always 1, which would make the loss constant; ours is not.
    loss = LogitsDistillation(2.0)
    a = float(loss.compute_loss(tf.constant([[3.0]]), tf.constant([[3.0]])))
    b = float(loss.compute_loss(tf.constant([[3.0]]), tf.constant([[-3.0]])))
    assert b > a


def test_temperature_must_be_positive():
    with pytest.raises(ValueError, match=r"temperature must be > 0. Received: temperature=0"):
        LogitsDistillation(0)


def test_ranking_distillation_hand_computed():
    # setup: one group of 4; the teacher ranks items 2, 0 first; top_k 2 with uniform weights
    teacher = np.array([[1.0, -1.0, 3.0, 0.0]])
    student = np.array([[0.5, 2.0, -1.0, 1.0]])
    # execute
    loss = RankingDistillation(top_k=2, candidates=4, position_weights="uniform").compute_loss(
        tf.constant(teacher), tf.constant(student)
    )
    # assert: -(log sigmoid(-1) + log sigmoid(0.5)) / 2
    assert float(loss) == pytest.approx((np.log1p(np.exp(1.0)) + np.log1p(np.exp(-0.5))) / 2, rel=1e-6)


@pytest.mark.parametrize("position_weights", ["exponential", "uniform"])
def test_ranking_distillation_matches_numpy_formula(position_weights):
    # setup
    rng = np.random.default_rng(1)
    teacher, student = rng.normal(size=(6, 10)), rng.normal(size=(6, 10)) * 2
    k, decay = 3, 2.0
    w = np.exp(-np.arange(1, k + 1) / decay) if position_weights == "exponential" else np.ones(k)
    w = w / w.sum()
    top = np.argsort(-teacher, axis=1)[:, :k]
    picked = np.take_along_axis(student, top, axis=1)
    expected = np.mean(np.sum(w * -np.log(1 / (1 + np.exp(-picked))), axis=1))
    # execute
    loss = RankingDistillation(k, 10, position_weights, decay).compute_loss(tf.constant(teacher), tf.constant(student))
    # assert
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_exponential_position_weights_hand_computed():
    w = RankingDistillation(top_k=3, decay=1.0).weights()
    e = np.exp([-1.0, -2.0, -3.0])
    np.testing.assert_allclose(w, e / e.sum())
    assert w[0] > w[1] > w[2]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"top_k": 0}, r"top_k must be >= 1. Received: top_k=0"),
        ({"top_k": 5, "candidates": 5}, r"candidates must be > top_k \(5\). Received: candidates=5"),
        ({"position_weights": "linear"}, r"position_weights must be one of .*Received: 'linear'"),
        ({"decay": 0}, r"decay must be > 0. Received: decay=0"),
    ],
)
def test_ranking_distillation_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RankingDistillation(**kwargs)


def _numpy_log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_listwise_distillation_matches_numpy_formula(temperature):
    # setup: 6 groups of 10 candidates
    rng = np.random.default_rng(2)
    teacher, student = rng.normal(size=(6, 10)) * 3, rng.normal(size=(6, 10)) * 3
    log_p, log_q = _numpy_log_softmax(teacher / temperature), _numpy_log_softmax(student / temperature)
    expected = temperature**2 * np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=1))
    # execute
    loss = ListwiseDistillation(temperature, 10).compute_loss(tf.constant(teacher), tf.constant(student))
    # assert
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_listwise_distillation_is_zero_for_the_same_order_and_gaps_at_any_level():
    # A softmax is shift-invariant: the loss judges the ranking, not the logit level.
    teacher = tf.constant([[2.0, 0.0, -1.0]])
    loss = ListwiseDistillation(2.0, 3)
    assert float(loss.compute_loss(teacher, teacher + 5.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(loss.compute_loss(teacher, tf.constant([[-1.0, 0.0, 2.0]]))) > 0.1


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": 0}, r"temperature must be > 0. Received: temperature=0"),
    ({"candidates": 1}, r"candidates must be >= 2 \(a list to rank\). Received: candidates=1"),
])
def test_listwise_distillation_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ListwiseDistillation(**kwargs)


def test_listwise_distillation_trains_on_candidate_groups(tiny_task, tiny_teacher, tiny_student):
    # setup
    loss = WeightedSum([(1.0, LogitsDistillation(2.0)), (1.0, ListwiseDistillation(2.0, candidates=6))])
    # execute / assert
    distiller = _fit_and_check(tiny_teacher, _copy(tiny_student), loss, tiny_task)
    assert distiller.candidates == 6


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_unlabelled_distillation_is_the_soft_bce_over_every_group_pair(temperature):
    rng = np.random.default_rng(3)
    teacher, student = rng.normal(size=(4, 7)) * 3, rng.normal(size=(4, 7)) * 3
    p, q = 1 / (1 + np.exp(-teacher / temperature)), 1 / (1 + np.exp(-student / temperature))
    expected = temperature**2 * np.mean(-(p * np.log(q) + (1 - p) * np.log(1 - q)))

    loss = UnlabelledDistillation(temperature, 7).compute_loss(tf.constant(teacher), tf.constant(student))

    assert float(loss) == pytest.approx(expected, rel=1e-6)
    # a student that agrees with the teacher on every pair pays only the targets' entropy: the minimum
    at_teacher = UnlabelledDistillation(temperature, 7).compute_loss(tf.constant(teacher), tf.constant(teacher))
    assert float(at_teacher) < float(loss)


def test_unlabelled_distillation_trains_on_candidate_groups(tiny_task, tiny_teacher, tiny_student):
    loss = WeightedSum([(1.0, LogitsDistillation(2.0)), (1.0, UnlabelledDistillation(2.0, candidates=5))])
    distiller = _fit_and_check(tiny_teacher, _copy(tiny_student), loss, tiny_task)
    assert distiller.candidates == 5


def _pair(teacher_dim, student_dim, layer):
    """Two one-layer models whose layer `layer` has the given widths, same inputs."""
    models = []
    for dim, name in ((teacher_dim, "t"), (student_dim, "s")):
        x = keras.Input(shape=(2,), name="x")
        h = keras.layers.Dense(dim, name=layer)(x)
        models.append(keras.Model(x, keras.layers.Dense(1, name="score")(h), name=name))
    return models


def test_hint_distillation_matches_numpy_formula():
    # setup: teacher layer width 3, student width 2, projection W (2, 3), b (3,)
    teacher, student = _pair(3, 2, "h")
    loss = HintDistillation(student_layer="h", teacher_layer="h")
    loss.build(teacher, student)
    rng = np.random.default_rng(2)
    w, b = rng.normal(size=(2, 3)), rng.normal(size=3)
    loss.projection.set_weights([w.astype("float32"), b.astype("float32")])
    hs, ht = rng.normal(size=(5, 2)).astype("float32"), rng.normal(size=(5, 3)).astype("float32")
    # execute
    value = loss.compute_loss(tf.constant(ht), tf.constant(hs))
    # assert
    assert float(value) == pytest.approx(np.mean((hs @ w + b - ht) ** 2), rel=1e-5)


def test_embedding_distillation_matches_numpy_formula(tiny_task):
    # setup: 4 features, teacher 8-d and student 4-d embeddings, one (4 -> 8) projection each
    teacher = build_ranker(tiny_task.features, ModelConfig(8, (4,)), "t")
    student = build_ranker(tiny_task.features, ModelConfig(4, (4,)), "s")
    loss = EmbeddingDistillation()
    loss.build(teacher, student)
    rng = np.random.default_rng(3)
    kernel, bias = rng.normal(size=(4, 4, 8)), rng.normal(size=(4, 8))
    loss.projection.set_weights([kernel.astype("float32"), bias.astype("float32")])
    es, et = rng.normal(size=(5, 16)).astype("float32"), rng.normal(size=(5, 32)).astype("float32")
    expected = np.mean(
        [np.mean((es[:, 4 * f : 4 * f + 4] @ kernel[f] + bias[f] - et[:, 8 * f : 8 * f + 8]) ** 2) for f in range(4)]
    )
    # execute
    value = loss.compute_loss(tf.constant(et), tf.constant(es))
    # assert
    assert float(value) == pytest.approx(expected, rel=1e-5)


def test_weighted_sum_gives_each_term_the_outputs_it_reads():
    # setup
    rng = np.random.default_rng(4)
    t, s = rng.normal(size=(8, 1)), rng.normal(size=(8, 1))
    tg, sg = rng.normal(size=(3, 6)), rng.normal(size=(3, 6))
    logits, ranking = LogitsDistillation(2.0), RankingDistillation(2, 6)
    combined = WeightedSum([(0.7, logits), (0.3, ranking)])
    # execute
    value = combined.compute_loss(
        {"score": tf.constant(t), CANDIDATES: tf.constant(tg)}, {"score": tf.constant(s), CANDIDATES: tf.constant(sg)}
    )
    # assert
    # the group term is scaled by group items per row, 3 * 6 / 8: a group item weighs what a row does
    group = float(ranking.compute_loss(tf.constant(tg), tf.constant(sg)))
    expected = 0.7 * _numpy_soft_bce(t, s, 2.0) + 0.3 * (18 / 8) * group
    assert float(value) == pytest.approx(expected, rel=1e-6)
    assert combined.candidates == 6


def test_weighted_sum_refuses_zero_weight_and_nesting():
    with pytest.raises(ValueError, match=r"weight > 0"):
        WeightedSum([(0.0, LogitsDistillation())])
    with pytest.raises(ValueError, match=r"single loss"):
        WeightedSum([(1.0, WeightedSum([(1.0, LogitsDistillation())]))])


@pytest.mark.parametrize("name", list(methods.REGISTRY))
def test_every_registered_method_builds_its_loss_with_the_registry_defaults(name):
    # setup: only the parameters without a default (hint's layers) are given
    method = methods.REGISTRY[name]
    required = {key: "hidden_0" for key, param in method.params.items() if param.required}
    # execute
    resolved = DistillMethod(name, **required).params()
    ((_, loss),) = losses.from_config(DistillConfig(temperature=3.0), [DistillMethod(name, **required)]).terms
    # assert: every parameter resolved, the defaults and the temperature reach the loss, a group
    # method (and only one) asks for candidate groups
    assert resolved == {key: required.get(key, param.default) for key, param in method.params.items()}
    config = loss.get_config()
    assert {key: value for key, value in config.items() if key != "temperature"} == resolved
    assert config.get("temperature", 3.0) == 3.0
    assert (loss.candidates > 0) == method.group


def test_registering_a_method_twice_is_refused():
    with pytest.raises(ValueError, match="'logits' is registered twice"):
        methods.register(methods.Logits)


def test_default_recipe_is_logits_only():
    # The default must stay today's loss: one soft-label term, weight 1, the recipe temperature.
    loss = losses.from_config(DistillConfig(temperature=3.0))
    assert [(w, type(term), term.get_config()) for w, term in loss.terms] == [
        (1.0, LogitsDistillation, {"temperature": 3.0})
    ]


def test_from_config_builds_each_method_with_its_parameters():
    methods = (
        DistillMethod("logits", 1.0),
        DistillMethod("ranking", 0.5, top_k=2, candidates=8),
        DistillMethod("hint", 0.1, student_layer="hidden_0", teacher_layer="hidden_1"),
        DistillMethod("embedding", 0.2),
        DistillMethod("listwise", 0.3, candidates=6),
    )
    loss = losses.from_config(DistillConfig(), methods)
    assert [w for w, _ in loss.terms] == [1.0, 0.5, 0.1, 0.2, 0.3]
    assert loss.terms[4][1].get_config() == {"temperature": 2.0, "candidates": 6}
    assert loss.terms[1][1].get_config() == {"top_k": 2, "candidates": 8, "position_weights": "exponential", "decay": 2.0}
    assert loss.terms[2][1].reads == ("hidden_1", "hidden_0")
    assert loss.candidates == 8
    assert loss.reads_layers and not losses.from_config(DistillConfig()).reads_layers


def _fit_and_check(teacher, student, loss, task, callbacks=None):
    """One epoch of distillation; teacher unchanged, student and projections changed, not enlarged."""
    teacher_before = [w.copy() for w in teacher.get_weights()]
    student_before = [w.copy() for w in student.get_weights()]
    params = student.count_params()
    distiller = Distiller(teacher, student, loss, alpha=0.5)
    projections_before = [w.copy() for p in distiller.projections for w in p.get_weights()]
    distiller.compile(optimizer=keras.optimizers.Adam(0.01))
    config = recipe.TrainConfig(max_epochs=1, batch_size=64, learning_rate=0.01)
    train.fit(distiller, task, config, 1, "t", lambda _: None, callbacks, lambda e: distiller.epoch_data(task, e, 64))
    for before, after in zip(teacher_before, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert all(not np.array_equal(b, a) for b, a in zip(student_before, student.get_weights()) if b.ndim == 2)
    projections_after = [w for p in distiller.projections for w in p.get_weights()]
    assert all(not np.array_equal(b, a) for b, a in zip(projections_before, projections_after))
    assert student.count_params() == params  # projections live in the distiller, not the student
    return distiller


def test_distiller_trains_student_and_leaves_teacher_frozen(tiny_task, tiny_teacher, tiny_student):
    # setup
    student = _copy(tiny_student)
    teacher_before = [w.copy() for w in tiny_teacher.get_weights()]
    student_before = [w.copy() for w in student.get_weights()]
    distiller = Distiller(tiny_teacher, student, LogitsDistillation(2.0), alpha=0.5)
    distiller.compile(optimizer=keras.optimizers.Adam(0.01))
    features, labels = tiny_task.train_epoch(0)
    # execute
    history = distiller.fit(features, labels, batch_size=64, epochs=3, verbose=0)
    # assert
    losses_seen = history.history["loss"]
    assert losses_seen[-1] < losses_seen[0]
    for before, after in zip(teacher_before, tiny_teacher.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert any(not np.array_equal(b, a) for b, a in zip(student_before, student.get_weights()))


def test_hint_and_embedding_train_student_and_projections_only(tiny_task, tiny_teacher, tiny_student):
    # setup: tiny_teacher has hidden_0 (16), tiny_student hidden_1 (8); embeddings 8-d vs 4-d
    loss = WeightedSum([
        (1.0, LogitsDistillation(2.0)),
        (0.1, HintDistillation(student_layer="hidden_1", teacher_layer="hidden_0")),
        (0.1, EmbeddingDistillation()),
    ])
    # execute / assert
    distiller = _fit_and_check(tiny_teacher, _copy(tiny_student), loss, tiny_task)
    assert [p.name for p in distiller.projections] == ["hint_hidden_1_to_hidden_0", "embedding_projection"]


def test_the_hint_gradient_reaches_the_student_layer_only_through_the_projection(tiny_task, tiny_teacher, tiny_student):
    # setup: a hint loss alone (alpha 0) must move the student below its hint layer, not above it
    student = _copy(tiny_student)
    distiller = Distiller(tiny_teacher, student, HintDistillation("hidden_0", "hidden_0"), alpha=0.0)
    features, labels = tiny_task.train_epoch(0)
    batch = ({k: tf.constant(v[:32]) for k, v in features.items()}, tf.constant(labels[:32]))
    # execute
    with tf.GradientTape() as tape:
        teacher_out = distiller._teacher_outputs(batch[0], training=False)
        student_out = distiller._student_outputs(batch[0], training=True)
        value = distiller.distillation_loss.compute_loss(teacher_out, student_out)
    grads = dict(zip(
        [v.name for v in student.trainable_variables + tiny_teacher.variables],
        tape.gradient(value, student.trainable_variables + tiny_teacher.variables),
    ))
    # assert: student layers up to hidden_0 get gradient, later ones and the teacher none
    assert grads["hidden_0/kernel:0"] is not None and grads["embedding_item_id/embeddings:0"] is not None
    assert grads["hidden_1/kernel:0"] is None and grads["score/kernel:0"] is None
    assert all(g is None for name, g in grads.items() if name not in {v.name for v in student.trainable_variables})


def test_ranking_distillation_trains_on_candidate_groups(tiny_task, tiny_teacher, tiny_student):
    # setup
    loss = WeightedSum([(1.0, LogitsDistillation(2.0)), (1.0, RankingDistillation(top_k=2, candidates=5))])
    # execute / assert
    distiller = _fit_and_check(tiny_teacher, _copy(tiny_student), loss, tiny_task)
    assert distiller.candidates == 5


def test_ranking_distillation_moves_the_students_top_k_toward_the_teachers(tiny_task, tiny_teacher):
    # setup: an untrained student, ranking loss only (alpha 0), a few epochs; measured on fresh groups
    student = build_ranker(tiny_task.features, ModelConfig(4, (8,)), "student", seed=5)
    groups = tiny_task.candidate_groups(epoch=99, size=10)
    flat = {k: v.reshape(-1) for k, v in groups.items()}

    def overlap():
        t = train.predict_logits(tiny_teacher, flat).reshape(-1, 10)
        s = train.predict_logits(student, flat).reshape(-1, 10)
        top_t, top_s = np.argsort(-t, 1)[:, :3], np.argsort(-s, 1)[:, :3]
        return np.mean([len(np.intersect1d(a, b)) / 3 for a, b in zip(top_t, top_s)])

    before = overlap()
    distiller = Distiller(tiny_teacher, student, RankingDistillation(top_k=3, candidates=10), alpha=0.0)
    distiller.compile(optimizer=keras.optimizers.Adam(0.01))
    # execute
    train.fit(distiller, tiny_task, recipe.TrainConfig(batch_size=64), 5, "t", lambda _: None,
              epoch_data=lambda e: distiller.epoch_data(tiny_task, e, 64))
    after = overlap()
    # assert
    assert after > before + 0.1, (before, after)


@pytest.mark.parametrize("terms", [
    [(1.0, "logits")],
    [(1.0, "logits"), (0.5, "ranking")],
    [(1.0, "logits"), (0.1, "hint")],
], ids=["logits", "logits+ranking", "logits+hint"])
def test_cached_teacher_logits_train_the_same_student(terms, tiny_task, tiny_teacher, tiny_student):
    # setup: the same student trained twice from the same weights and seed, teacher run in the
    # step vs. teacher logits read from the per-epoch cache
    from edgerec.distill.teacher_logits import TeacherLogits

    make = {
        "logits": lambda: LogitsDistillation(2.0),
        "ranking": lambda: RankingDistillation(top_k=2, candidates=5),
        "hint": lambda: HintDistillation("hidden_1", "hidden_0"),
    }
    cache = TeacherLogits(tiny_teacher, tiny_task)

    def trained(teacher_logits):
        keras.utils.set_random_seed(3)
        student = _copy(tiny_student)
        loss = WeightedSum([(w, make[name]()) for w, name in terms])
        distiller = Distiller(tiny_teacher, student, loss, 0.5, teacher_logits)
        distiller.compile(optimizer=keras.optimizers.Adam(0.01))
        train.fit(distiller, tiny_task, recipe.TrainConfig(batch_size=64), 2, "t", lambda _: None,
                  epoch_data=lambda e: distiller.epoch_data(tiny_task, e, 64))
        return student.get_weights()

    # execute
    online, cached = trained(None), trained(cache)
    # assert
    for a, b in zip(online, cached):
        np.testing.assert_allclose(a, b, atol=1e-4)
    features, _ = tiny_task.train_epoch(1)
    np.testing.assert_allclose(cache.rows(1).reshape(-1), train.predict_logits(tiny_teacher, features), atol=1e-6)
    assert cache.rows(1) is cache.rows(1)  # computed once per epoch


def test_teacher_logits_of_another_teacher_are_refused(tiny_task, tiny_teacher, tiny_student):
    from edgerec.distill.teacher_logits import TeacherLogits

    with pytest.raises(ValueError, match="another teacher"):
        Distiller(tiny_teacher, _copy(tiny_student), LogitsDistillation(2.0), 0.5, TeacherLogits(tiny_student, tiny_task))


def test_candidate_groups_exclude_every_interaction_of_their_user(tiny_task):
    # execute
    groups = tiny_task.candidate_groups(0, 6)
    # assert
    users, items = groups["user_id"], groups["item_id"]
    assert items.shape == (len(np.unique(tiny_task.train_user)), 6)
    assert (users == users[:, :1]).all()
    assert all(len(set(row)) == 6 for row in items)
    for u, row in zip(users[:, 0], items):
        assert not tiny_task.positives.contains(np.full(6, u), row).any()


def test_too_many_candidates_names_the_setting(tiny_task):
    from edgerec.data.schema import DataError

    with pytest.raises(DataError, match=r"25 candidates are needed \(lower the ranking distillation's candidates\)"):
        tiny_task.candidate_groups(0, 25)


def test_with_candidate_groups_spreads_the_groups_over_the_epoch():
    # setup: 10 rows in batches of 4 (3 steps), 7 groups -> 3 groups per batch
    features = {"user_id": np.arange(10, dtype=np.int32)}
    groups = {"user_id": np.arange(70, dtype=np.int32).reshape(7, 10)}
    # execute
    extras = {"teacher": np.arange(10, dtype=np.float32)}
    batches = list(train.with_candidate_groups((features, extras), np.zeros(10, np.float32), {"groups": groups}, 4))
    # assert
    assert [b[0][0]["user_id"].shape[0] for b in batches] == [4, 4, 2]
    assert [b[0][1]["teacher"].shape[0] for b in batches] == [4, 4, 2]  # per-row extras stay with their rows
    assert [b[0][1]["groups"]["user_id"].shape for b in batches] == [(3, 10)] * 3
    groups_in_last = batches[2][0][1]["groups"]["user_id"]
    assert groups_in_last[0, 0] == 60 and groups_in_last[1, 0] == 0  # repeats


@pytest.mark.parametrize("step_name", ["prune", "prune_embeddings", "qat", "factorize_embeddings"])
def test_hint_and_embedding_work_on_a_compressed_student(step_name, tiny_task, tiny_teacher, tiny_student):
    # setup: distillation continues under compression, where layers are wrapped and renamed and
    # clone_model shares the unchanged ones (e.g. "embeddings") with the model it cloned
    from edgerec import compress

    step = compress.get(step_name)
    params = step.resolve({"rank": 2} if step_name == "factorize_embeddings" else {})
    _, labels = tiny_task.train_epoch(0)
    ctx = compress.StepContext(int(np.ceil(len(labels) / 64)), 1)
    wrapped = step.apply(_copy(tiny_student), params, ctx)
    loss = WeightedSum([
        (1.0, LogitsDistillation(2.0)),
        (0.1, HintDistillation("hidden_0", "hidden_0")),
        (0.1, EmbeddingDistillation()),
    ])
    # execute / assert
    _fit_and_check(tiny_teacher, wrapped, loss, tiny_task, callbacks=step.callbacks(params, ctx))


def test_unknown_hint_layer_names_the_layers(tiny_teacher, tiny_student):
    with pytest.raises(losses.DistillError, match=r"model 'student' has no layer 'hiden_0'. Did you mean 'hidden_0'\?"):
        Distiller(tiny_teacher, tiny_student, HintDistillation("hiden_0", "hidden_0"), alpha=0.5)


def test_ensemble_teacher_is_the_mean_of_logits(tiny_task, tiny_teacher, tiny_student, tmp_path):
    # setup
    rows = tiny_task.ranking_eval()
    # execute
    ensemble = ensemble_teacher([tiny_teacher, tiny_student])
    # assert
    expected = (train.predict_logits(tiny_teacher, rows) + train.predict_logits(tiny_student, rows)) / 2
    np.testing.assert_allclose(train.predict_logits(ensemble, rows), expected, rtol=1e-5, atol=1e-6)
    path = tmp_path / "ensemble.keras"
    ensemble.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(train.predict_logits(loaded, rows), expected, rtol=1e-5, atol=1e-6)


def test_ensemble_teacher_refuses_mismatched_teachers(tiny_teacher):
    with pytest.raises(ValueError, match=r"distinct model names. Received: \['teacher', 'teacher'\]"):
        ensemble_teacher([tiny_teacher, tiny_teacher])
    with pytest.raises(ValueError, match=r"at least 2 teachers. Received: 1"):
        ensemble_teacher([tiny_teacher])


def test_ensemble_teacher_supervises_a_student(tiny_task, tiny_teacher, tiny_student):
    ensemble = ensemble_teacher([tiny_teacher, _copy(tiny_student)])
    _fit_and_check(ensemble, _copy(tiny_student), LogitsDistillation(2.0), tiny_task)
