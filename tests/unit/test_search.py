"""Target parsing, the Pareto front, the validation split and the trial runner."""

import numpy as np
import pytest

from device_bench.bundle import SEARCH_JSON
from edgerec.search import pareto, search, target, widths

RANKING = ("auc", "logloss", "hr@10", "ndcg@10")


# --- target -----------------------------------------------------------------------------------------

def test_target_parses_relative_and_absolute_clauses():
    clauses = target.parse("auc>=0.999*teacher, ndcg@10 >= 0.99 * teacher,logloss<=0.45", RANKING)
    assert clauses == (
        target.Clause("auc", ">=", 0.999, True),
        target.Clause("ndcg@10", ">=", 0.99, True),
        target.Clause("logloss", "<=", 0.45, False),
    )
    teacher = {"auc": 0.9, "ndcg@10": 0.5, "logloss": 0.4}
    assert clauses[0].threshold(teacher) == pytest.approx(0.8991)
    assert clauses[0].met({"auc": 0.8991}, teacher) and not clauses[0].met({"auc": 0.899}, teacher)
    assert clauses[2].met({"logloss": 0.45}, teacher) and not clauses[2].met({"logloss": 0.4501}, teacher)
    assert clauses[2].slack({"logloss": 0.40}, teacher) == pytest.approx(0.05)
    assert target.describe(clauses) == "auc>=0.999*teacher,ndcg@10>=0.99*teacher,logloss<=0.45"


@pytest.mark.parametrize("text, needles", [
    ("", ["empty"]),
    ("auc>0.9", ["'auc>0.9'", "METRIC>=BOUND"]),
    ("auc>=0.9,ndgc@10>=0.99*teacher", ["'ndgc@10>=0.99*teacher'", "Did you mean 'ndcg@10'"]),
    ("auc>=0.99*student", ["'auc>=0.99*student'", "neither a number nor FACTOR*teacher"]),
    ("auc>=", ["'auc>='"]),
])
def test_bad_target_names_the_clause(text, needles):
    with pytest.raises(target.TargetError) as info:
        target.parse(text, RANKING)
    message = str(info.value)
    assert "\n" not in message and message.startswith("--target")
    for needle in needles:
        assert needle in message


def test_ranking_metric_on_a_ctr_task_is_refused():
    with pytest.raises(target.TargetError, match="unknown metric 'ndcg@10' for this task.*Metrics: auc, logloss"):
        target.parse("ndcg@10>=0.99*teacher", ("auc", "logloss"))


# --- student widths ---------------------------------------------------------------------------------

def _recipe(student, teacher, alpha=0.5):
    from edgerec.recipe import DistillConfig, Recipe

    return Recipe(name="r", student=student, teacher=teacher, distill=DistillConfig(alpha=alpha))


def test_widths_scale_embedding_and_hidden_capped_by_the_teacher():
    from edgerec.recipe import ModelConfig

    student, teacher = ModelConfig(4, (8, 3), cross_layers=1), ModelConfig(10, (32, 16))
    # execute
    found = widths.candidates(_recipe(student, teacher), (1, 2, 3, 8))
    # assert: x3 caps the embedding at the teacher's 10; x8 caps hidden at its widest layer, 32
    assert [(w.multiplier, w.config.embedding_dim, w.config.hidden) for w in found] == [
        (1, 4, (8, 3)), (2, 8, (16, 6)), (3, 10, (24, 9)), (8, 10, (32, 24))]
    assert all(w.config.cross_layers == 1 for w in found)  # everything but the sizes is the recipe's
    # a wider width trains the student alone and the distilled one; x1 is the build's own
    assert [w.trainings for w in found] == [0, 2, 2, 2]
    assert [w.trainings for w in widths.candidates(_recipe(student, teacher, (0.3, 0.7)), (1, 2))] == [0, 3]
    # a student as wide as the teacher has no wider width; never narrower than the recipe's own
    flat = ModelConfig(10, (32,))
    assert [w.multiplier for w in widths.candidates(_recipe(flat, flat), (1, 2, 3))] == [1]
    assert widths.widen(ModelConfig(12, (64,)), teacher, 2) == ModelConfig(12, (64,))


def test_default_widths_are_as_many_as_the_budget_covers():
    from edgerec.recipe import ModelConfig

    student, teacher = ModelConfig(4, (8,)), ModelConfig(16, (32,))
    cover = lambda budget: [w.multiplier for w in widths.plan(_recipe(student, teacher), None, budget)]  # noqa: E731
    # x1 always; x2 needs its 2 trainings and a chain each for x1 and x2 (4); x3 then 7
    assert cover(1) == cover(3) == [1]
    assert cover(4) == cover(6) == [1, 2]
    assert cover(7) == cover(12) == [1, 2, 3]


@pytest.mark.parametrize("text, needles", [
    ("2,x", ["--student-widths", "integers in [1, 8]", "'2,x'"]),
    ("0,2", ["--student-widths", "'0,2'"]),
    ("9", ["--student-widths", "[1, 8]"]),
    ("2,2", ["--student-widths", "each multiplier once"]),
])
def test_bad_student_widths_name_the_flag(text, needles):
    with pytest.raises(widths.WidthError) as info:
        widths.parse(text)
    for needle in needles:
        assert needle in str(info.value)


def test_given_widths_must_fit_the_budget():
    from edgerec.recipe import ModelConfig

    assert widths.parse("3,2") == widths.parse("1,2,3") == (1, 2, 3)
    with pytest.raises(widths.WidthError, match=r"x1,x2,x3 need --search-trials >= 7 .* Received: --search-trials 5"):
        widths.plan(_recipe(ModelConfig(4, (8,)), ModelConfig(16, (32,))), (1, 2, 3), 5)


class _FakeRunner:
    """A TrialRunner stand-in: a trial's bytes and NDCG@10 come from its width and whether it ran a
    chain (the recipe's), as `table` says; no model, so the sweep has no probes."""

    def __init__(self, trials, width, table):
        from types import SimpleNamespace

        from edgerec.recipe import Recipe, StepConfig

        self.trials, self.width, self.table = trials, width, table
        self.teacher_metrics = {"auc": 0.8, "ndcg@10": 0.4}
        self.task = SimpleNamespace(metric_names=("auc", "ndcg@10"), validation=SimpleNamespace(describe=lambda: "v"))
        self.student = SimpleNamespace(layers=[])
        self.recipe = Recipe(name="fake", compress=(StepConfig("qat"),))

    def run(self, steps, kind, keep_float=()):
        size, ndcg = self.table[(self.width.multiplier, bool(steps))]
        trial = {"id": len(self.trials), "kind": kind, "width": self.width.to_dict(), "chain": kind, "steps": [],
                 "keep_float": [], "bytes": size, "p50_us": 1.0, "metrics": {"auc": 0.8, "ndcg@10": ndcg}, "status": "ok"}
        self.trials.append(trial)
        return trial


def test_the_search_ships_the_wider_width_when_only_it_meets_the_target(tmp_path):
    from edgerec.recipe import ModelConfig

    # setup: the narrow student (embedding 1) misses NDCG@10 >= 0.8*teacher (0.32), compressed or not; x2
    # meets it, and its compressed chain is smaller than its plain int8 student
    table = {(1, False): (100, 0.20), (1, True): (90, 0.21), (2, False): (300, 0.36), (2, True): (200, 0.34)}
    planned = widths.plan(_recipe(ModelConfig(1, (8,)), ModelConfig(16, (32,))), (1, 2), 4)
    trials, trained = [], []
    choice = [{"candidate": "distilled", "validation": {"auc": 0.8}, "chosen": True}]

    def runner_for(width):
        trained.append(width.multiplier)
        return _FakeRunner(trials, width, table), choice

    # execute
    result = search.run(runner_for, planned, target.parse("ndcg@10>=0.8*teacher", ("auc", "ndcg@10")), 4,
                        _FakeRunner([], planned[0], table).recipe, tmp_path, lambda _: None, ["qat"])
    # assert: both widths searched, each trial once, the budget spent on x2's two trainings and one chain each
    assert trained == [1, 2] and [t["id"] for t in result["trials"]] == [0, 1, 2, 3]
    assert [(w["multiplier"], w["embedding_dim"], w["hidden"], w["student_trainings"], w["chains"], w["trials"])
            for w in result["widths"]] == [(1, 1, [8], 0, 1, [0, 1]), (2, 2, [16], 2, 1, [2, 3])]
    assert result["counted_trials"] == 4 and result["budget"] == 4
    chosen = result["trials"][result["chosen"]]
    assert result["met"] and search.chosen_width(result) == 2 and chosen["bytes"] == 200
    # the front spans both widths: the narrow ones are smaller, the wide ones more accurate
    assert {result["trials"][i]["width"]["multiplier"] for i in result["front"]} == {1, 2}
    text = (tmp_path / SEARCH_JSON).with_name("search.md").read_text()
    front = text.split("## The size/accuracy front")[1].split("## Every trial")[0]
    assert "| 3 **← chosen** | x2 (embedding 2, hidden [16]) | recipe |" in front
    assert "| 1 | x1 (embedding 1, hidden [8]) | recipe |" in front
    assert "| x2 | 2 | [16] | distilled | 2 | 1 | 2 | 2 | 200 |" in text
    assert "4 counted trials of a budget of 4: 2 student trainings and 2 fine-tuned chains" in " ".join(text.split())


# --- Pareto front -----------------------------------------------------------------------------------

def test_front_on_hand_made_points():
    # (bytes, p50, auc): minimise, minimise, maximise
    points = [
        (100, 10, 0.90),  # 0: smallest, worst auc -> front
        (200, 10, 0.95),  # 1: front
        (200, 12, 0.95),  # 2: dominated by 1 (slower, same otherwise)
        (300, 9, 0.95),   # 3: fastest -> front
        (300, 20, 0.80),  # 4: dominated by 0
        (200, 10, 0.95),  # 5: equal to 1: equal points do not dominate each other -> front
    ]
    assert pareto.front(points, [False, False, True]) == [True, True, False, True, False, True]


def test_trial_front_uses_metric_directions():
    trials = [
        {"bytes": 10, "p50_us": 5.0, "metrics": {"auc": 0.8, "logloss": 0.50}},
        {"bytes": 10, "p50_us": 5.0, "metrics": {"auc": 0.8, "logloss": 0.40}},  # lower logloss wins
        {"bytes": 10, "p50_us": 5.0, "metrics": {"auc": 0.9, "logloss": 0.60}},  # higher auc: not dominated
    ]
    assert pareto.trial_front(trials, ("auc", "logloss")) == [False, True, True]


# --- validation split -------------------------------------------------------------------------------

def test_validation_is_carved_from_training_and_leaves_held_out_data_alone():
    from edgerec.data.task import RankingTask
    from edgerec.recipe import DataConfig
    from tests.utils import tiny_interactions

    config = DataConfig(negatives_per_positive=2, eval_candidates=10)
    plain = RankingTask(tiny_interactions(), config, seed=0)
    carved = RankingTask(tiny_interactions(), config, seed=0, validation=True)
    # held-out data identical, training smaller by exactly the validation positives
    np.testing.assert_array_equal(plain.candidates, carved.candidates)
    np.testing.assert_array_equal(plain.pointwise_items, carved.pointwise_items)
    val = carved.validation
    positives = val.ranking["item_id"].reshape(-1, val.num_candidates)[:, 0]
    assert len(carved.train_user) == len(plain.train_user) - len(positives) > 0
    users = val.ranking["user_id"].reshape(-1, val.num_candidates)[:, 0]
    train_pairs = set(zip(carved.train_user.tolist(), carved.train_item.tolist()))
    assert not any((u, i) in train_pairs for u, i in zip(users.tolist(), positives.tolist()))
    # candidates are items the user never interacted with, held-out ones included
    negatives = val.ranking["item_id"].reshape(-1, val.num_candidates)[:, 1:]
    assert not carved.positives.contains(np.repeat(users, negatives.shape[1]), negatives.reshape(-1)).any()
    assert val.labels.sum() == len(users) and len(val.labels) == 3 * len(users)
    # same seed, same split
    again = RankingTask(tiny_interactions(), config, seed=0, validation=True)
    np.testing.assert_array_equal(again.validation.ranking["item_id"], val.ranking["item_id"])


# --- trial runner -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runner(tiny_teacher, tiny_student):
    from edgerec.data.task import RankingTask
    from edgerec.recipe import BenchConfig, DataConfig, Recipe, TrainConfig
    from edgerec.search.trial import TrialRunner
    from tests.utils import tiny_interactions

    task = RankingTask(tiny_interactions(), DataConfig(negatives_per_positive=2, eval_candidates=10), seed=0,
                       validation=True)
    recipe = Recipe(name="tiny", student_training=TrainConfig(max_epochs=1, batch_size=64, learning_rate=0.01),
                    representative_samples=50, bench=BenchConfig(runs=5, warmup=1, min_seconds=0.0))
    return TrialRunner(tiny_teacher, tiny_student, task, recipe, log=lambda _: None)


def test_trial_converts_to_int8_and_scores_on_validation(runner):
    from edgerec.recipe import StepConfig

    # execute
    base = runner.run([], "baseline")
    small = runner.run([StepConfig("low_rank", {"rank": 2, "layers": ["hidden_0"]}, finetune_epochs=1)], "chain")
    # assert
    for trial in (base, small):
        assert trial["status"] == "ok", trial["status"]
        assert trial["p50_us"] > 0 and set(trial["metrics"]) == set(RANKING)
        assert 0.0 <= trial["metrics"]["auc"] <= 1.0
    # at this size the second FullyConnected op's overhead outweighs the 192 weight bytes saved: only
    # a measured file tells, which is why the search measures every trial
    assert small["bytes"] != base["bytes"]
    assert small["facts"][0]["hidden_0"]["rank"] == 2
    assert set(runner.teacher_metrics) == set(RANKING)
    assert [t["id"] for t in runner.trials] == [0, 1]


def test_zero_finetune_prune_is_calibrated_not_a_no_op(runner):
    from edgerec.recipe import StepConfig

    trial = runner.run([StepConfig("prune", {"target_sparsity": 0.75, "layers": ["hidden_0"]}, finetune_epochs=0)],
                       "probe")
    assert trial["status"] == "ok", trial["status"]
    assert trial["facts"][0]["sparsity"]["hidden_0"] == pytest.approx(0.75, abs=0.02)
    assert trial["facts"][0]["sparsity"]["score"] == 0.0


def test_a_trial_can_keep_a_layer_in_float(runner):
    # execute
    base = runner.run([], "baseline")
    kept = runner.run([], "probe", ["hidden_0"])
    # assert
    assert kept["status"] == "ok", kept["status"]
    assert kept["keep_float"] == ["hidden_0"] and base["keep_float"] == []
    assert kept["chain"] == "int8 student (no step) + float hidden_0"
    assert kept["bytes"] > base["bytes"]  # hidden_0's kernel stored as float32
    assert kept["metrics"] != base["metrics"]


def test_precision_order_keeps_probes_that_approach_the_target_most_gain_per_byte_first():
    # setup: a baseline 0.02 AUC under its bound; three probes: +0.01 for 400 bytes, +0.005 for
    # 100 bytes (more per byte), and one that is worse
    clauses = target.parse("auc>=0.9", RANKING)
    row = lambda layer, auc, cost: {"step": "keep_float", "layer": layer, "status": "ok",  # noqa: E731
                                    "metrics": {"auc": auc}, "bytes_saved": -cost}
    rows = [row("a", 0.89, 400), row("b", 0.885, 100), row("c", 0.87, 50),
            {**row("d", 0.95, 10), "step": "prune"}]
    # execute
    order = search.precision_order(rows, {"metrics": {"auc": 0.88}}, clauses, {})
    # assert
    assert [r["layer"] for r in order] == ["b", "a"]


def test_a_failing_chain_is_a_trial_with_its_error(runner):
    from edgerec.recipe import StepConfig

    trial = runner.run([StepConfig("low_rank", {"rank": 2, "layers": ["no_such_layer"]})], "chain")
    assert trial["status"].startswith("error: StepError") and "no_such_layer" in trial["status"]
    assert trial["bytes"] is None


# --- CLI flags (refused before anything trains) -----------------------------------------------------

@pytest.mark.parametrize("args, needles", [
    (["compress"], ["give --sensitivity"]),
    (["compress", "--sensitivity", "--finetune-epochs", "one"], ["--finetune-epochs", "'one'"]),
    (["compress", "--sensitivity", "--steps", "low_rnak"], ["--steps", "Did you mean 'low_rank'"]),
    (["build", "--recipe", "smoke", "--target", "auc>0.9"], ["--target", "'auc>0.9'"]),
    (["build", "--recipe", "smoke", "--target", "aucc>=0.9*teacher"], ["--target", "Did you mean 'auc'"]),
    (["build", "--recipe", "smoke", "--search-trials", "3"], ["--search-trials", "only with --target"]),
    (["build", "--recipe", "smoke", "--target", "auc>=0.9", "--search-trials", "0"], ["--search-trials", ">= 1"]),
    (["build", "--recipe", "smoke", "--student-widths", "2"], ["--student-widths", "only with --target"]),
    (["build", "--recipe", "smoke", "--target", "auc>=0.9", "--student-widths", "1,two"], ["--student-widths", "'1,two'"]),
    (["build", "--recipe", "smoke", "--target", "auc>=0.9", "--student-widths", "2,3", "--search-trials", "4"],
     ["--student-widths", "x1,x2,x3 need --search-trials >= 7"]),
])
def test_bad_search_flags_are_one_line_errors(args, needles, tmp_path):
    from click.testing import CliRunner

    from edgerec.cli import main
    from tests.utils import assert_one_line_error

    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out")])
    assert_one_line_error(result, *needles)
    assert not (tmp_path / "out").exists()


def test_an_earlier_sensitivity_is_kept_without_force(tmp_path):
    from click.testing import CliRunner

    from edgerec.cli import main
    from tests.utils import assert_one_line_error

    (tmp_path / "sensitivity.json").write_text("{}")
    result = CliRunner().invoke(main, ["compress", "--sensitivity", "--recipe", "smoke", "--out", str(tmp_path)])
    assert_one_line_error(result, "sensitivity.json", "--force")
    assert (tmp_path / "sensitivity.json").read_text() == "{}"


def test_ctr_validation_is_a_slice_of_training_rows(tmp_path):
    from edgerec.data import criteo
    from edgerec.data.task import CtrTask
    from edgerec.recipe import DataConfig
    from tests.utils import write_criteo

    write_criteo(tmp_path / "day.tsv", rows=2000)
    data = criteo.load(tmp_path / "day.tsv", min_count=5)
    plain = CtrTask(data, DataConfig(time_quantile=0.8), seed=0)
    carved = CtrTask(data, DataConfig(time_quantile=0.8), seed=0, validation=True)
    np.testing.assert_array_equal(plain.holdout_idx, carved.holdout_idx)
    count = len(plain.train_idx) // 10  # at most a tenth of the training rows
    assert len(carved.validation.labels) == count and len(carved.train_idx) == len(plain.train_idx) - count
    assert carved.validation.ranking is None and 0 < carved.validation.labels.mean() < 1


def test_a_finished_search_is_restored_on_resume_not_redone(tmp_path):
    from edgerec.checkpoints import BuildState

    # setup: an interrupted build whose search finished (its record saved, search.json written)
    record = {"chosen": 0, "met": True, "trials": [{"id": 0, "steps": []}]}
    BuildState.start(tmp_path, {"recipe": "r"}).save("search", record)
    (tmp_path / SEARCH_JSON).write_text("{}")
    state = BuildState.resume(tmp_path, {"recipe": "r"})
    logged = []
    # execute: making a trial runner (hence running the search) fails the test
    restored = search.run_once(state, lambda width: pytest.fail("the search ran again"), [], (), 3, None, tmp_path,
                               logged.append)
    # assert
    assert restored == record and logged == ["[search] restored from its checkpoint"]


# --- search.md and sensitivity.md ---------------------------------------------------------------------

def test_search_markdown_marks_the_chosen_trial_and_labels_metrics():
    from edgerec.report import search as search_report
    from edgerec.search import search

    # setup: the smaller trial meets the target
    width = {"multiplier": 1, "embedding_dim": 4, "hidden": [8]}
    trials = [{"id": i, "kind": "chain", "chain": c, "bytes": b, "p50_us": 1.0, "status": "ok", "width": width,
               "metrics": {"auc": a, "logloss": 0.4}} for i, c, b, a in ((0, "int8", 100, 0.9), (1, "small", 50, 0.9))]
    result = {**search.summarize(trials, target.parse("auc>=0.8", ("auc", "logloss")), {"auc": 0.9, "logloss": 0.3},
                                 ("auc", "logloss")),
              "validation": "v", "sensitivity": [], "counted_trials": 1, "budget": 2,
              "widths": [{**width, "student_trainings": 0, "chains": 1, "trials": [0, 1], "student_choice": None}]}
    # execute
    text = search_report.markdown(result)
    # assert
    assert "| trial | width | kind | chain | bytes | p50 µs | AUC | LogLoss | meets | front |" in text
    assert "| 1 **← chosen** | x1 | chain | small | 50 | 1.0 | 0.9000 | 0.4000 | yes | yes |" in text
    assert "Teacher on validation: AUC 0.9000, LogLoss 0.3000." in text


def test_sensitivity_table_names_precision_probes_float32():
    from edgerec.report import sensitivity as sensitivity_report
    from edgerec.search import PRECISION

    row = {"step": PRECISION, "layer": "hidden_0", "setting": {}, "status": "ok", "bytes": 120, "bytes_saved": -20,
           "drop": {"auc": -0.01, "logloss": -0.02}}
    result = {"metrics": ["auc", "logloss"], "baseline": {"bytes": 100}, "rows": [row]}
    # execute
    lines = sensitivity_report.table(result).splitlines()
    # assert
    assert lines[0] == "| step | layer | setting | bytes | bytes saved | AUC drop | LogLoss drop | status |"
    assert lines[-1] == "| keep_float | hidden_0 | float32 | 120 | -20 | -0.0100 | -0.0200 | ok |"


def test_drops_are_worse_in_each_metrics_direction():
    from edgerec.search import sensitivity

    # AUC falls 0.1 (worse), LogLoss rises 0.05 (worse): both positive drops
    assert sensitivity.drops({"auc": 0.9, "logloss": 0.30}, {"auc": 0.8, "logloss": 0.35}) == {"auc": 0.1, "logloss": 0.05}


def test_a_table_another_table_step_replaced_is_not_searched_again():
    from edgerec.recipe import StepConfig
    from edgerec.search.search import table_taken

    chain = [StepConfig("factorize_embeddings", {"energy": 0.9, "layers": ["embedding_user_id"]})]
    assert table_taken(chain, {"step": "mixed_dim", "layer": "embedding_user_id"})
    assert not table_taken(chain, {"step": "mixed_dim", "layer": "embedding_item_id"})
    assert not table_taken(chain, {"step": "int4_tables", "layer": "embedding_user_id"})  # packs the factors
    assert table_taken([StepConfig("int4_tables", {})], {"step": "qr_embeddings", "layer": "embedding_user_id"})
    assert not table_taken(chain, {"step": "low_rank", "layer": "hidden_0"})
    assert table_taken([StepConfig("mixed_dim", {})], {"step": "qr_embeddings", "layer": "embedding_item_id"})


def test_a_searched_chain_applies_steps_in_registry_order_with_fake_quant_last():
    from edgerec import compress
    from edgerec.recipe import StepConfig
    from edgerec.search.search import chain_order

    names = ["qat", "low_rank", "int4_tables", "prune_units"]
    ordered = [s.name for s in sorted((StepConfig(n) for n in names), key=chain_order())]
    assert ordered == ["prune_units", "int4_tables", "low_rank", "qat"]
    assert list(compress.REGISTRY)[-1] == "qat" and compress.REGISTRY["qat"].fake_quant


def test_neighbouring_entries_of_one_step_and_setting_are_one_entry_on_their_layers():
    from edgerec.recipe import StepConfig
    from edgerec.search.search import merged

    chain = [StepConfig("factorize_embeddings", {"energy": 0.9, "layers": ["a"]}, 1),
             StepConfig("factorize_embeddings", {"energy": 0.8, "layers": ["b"]}, 1),
             StepConfig("int4_tables", {"layers": ["a"]}, 1), StepConfig("int4_tables", {"layers": ["b"]}, 2),
             StepConfig("qat", {}, 1)]
    assert merged(chain) == [chain[0], chain[1], StepConfig("int4_tables", {"layers": ["a", "b"]}, 2), chain[4]]
