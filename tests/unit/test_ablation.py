"""The ablation's arithmetic (mean ± std, gap closed, verdict), arm planning and table, on hand-made numbers."""

import math

import pytest
from click.testing import CliRunner

from device_bench.bundle import ABLATION_JSON
from edgerec import ablation
from edgerec.report import ablation as ablation_report
from edgerec.cli import main
from edgerec.recipe import DistillConfig, DistillMethod, ModelConfig, Recipe

TEACHER = {"auc": 0.90, "logloss": 0.30, "hr@10": 0.70, "ndcg@10": 0.50}


def _run(arm, seed, ndcg, auc=0.8):
    return {"arm": arm, "seed": seed, "metrics": {"auc": auc, "logloss": 0.4, "hr@10": 0.6, "ndcg@10": ndcg}}


def _runs(arms: dict[str, list[float]]):
    return [_run(arm, seed, ndcg) for arm, values in arms.items() for seed, ndcg in enumerate(values)]


def test_gap_closed_is_per_seed_then_mean_and_sample_std():
    # setup: scratch 0.30 / 0.40 / 0.20, teacher 0.50 -> gaps 0.20 / 0.10 / 0.30
    runs = _runs({"scratch": [0.30, 0.40, 0.20], "hint": [0.40, 0.45, 0.35]})

    # execute
    result = ablation.summarize(TEACHER, runs, ("auc", "logloss", "hr@10", "ndcg@10"))

    # assert: per seed 0.10/0.20=0.5, 0.05/0.10=0.5, 0.15/0.30=0.5 -> 50 % with no spread
    hint = next(s for s in result["summary"] if s["arm"] == "hint")
    assert hint["gap_closed"]["per_seed"] == pytest.approx([0.5, 0.5, 0.5])
    assert hint["gap_closed"]["mean"] == pytest.approx(0.5)
    assert hint["gap_closed"]["std"] == pytest.approx(0.0)
    assert hint["metrics"]["ndcg@10"]["mean"] == pytest.approx(0.40)
    assert hint["metrics"]["ndcg@10"]["std"] == pytest.approx(0.05)  # sample std (n - 1) of .40 .45 .35
    scratch = next(s for s in result["summary"] if s["arm"] == "scratch")
    assert scratch["gap_closed"]["mean"] == pytest.approx(0.0)
    assert result["gap_metric"] == "ndcg@10"


def test_verdict_needs_mean_minus_std_at_least_half():
    # setup: logits closes 0.8 / 0.6 / 0.4 (mean 0.6, std 0.2 -> lower bound 0.4);
    # embedding closes 0.55 in every seed (std 0): a safer arm, but not the best mean
    runs = _runs({"scratch": [0.30, 0.30, 0.30], "logits": [0.46, 0.42, 0.38], "embedding": [0.41, 0.41, 0.41]})

    # execute
    verdict = ablation.summarize(TEACHER, runs, ("auc", "logloss", "hr@10", "ndcg@10"))["verdict"]

    # assert: the best arm is chosen by mean (logits), and the goal is judged on its mean - std
    assert verdict["best_arm"] == "logits"
    assert verdict["gap_closed_mean"] == pytest.approx(0.6)
    assert verdict["gap_closed_std"] == pytest.approx(0.2)
    assert verdict["met"] is False
    assert "not met" in verdict["text"] and "60%" in verdict["text"]
    assert verdict["also_met_by"] == ["embedding"] and "met by `embedding`" in verdict["text"]


def test_verdict_met_when_the_lower_bound_clears_half():
    runs = _runs({"scratch": [0.30, 0.30], "hint": [0.43, 0.45]})  # 0.65, 0.75 -> mean 0.7, std 0.0707

    verdict = ablation.summarize(TEACHER, runs, ("auc", "logloss", "hr@10", "ndcg@10"))["verdict"]

    assert verdict["met"] is True and verdict["also_met_by"] == []
    assert verdict["gap_closed_std"] == pytest.approx(math.sqrt(0.005))


def test_no_gap_when_the_teacher_does_not_beat_scratch():
    runs = _runs({"scratch": [0.55, 0.60], "logits": [0.58, 0.61]})

    result = ablation.summarize(TEACHER, runs, ("auc", "logloss", "hr@10", "ndcg@10"))

    logits = next(s for s in result["summary"] if s["arm"] == "logits")
    assert logits["gap_closed"]["per_seed"] == [None, None]
    assert result["verdict"]["met"] is False and result["verdict"]["best_arm"] is None
    assert "no gap to close" in result["verdict"]["text"]


def test_ctr_data_measures_the_gap_on_auc():
    runs = [{"arm": a, "seed": 0, "metrics": {"auc": v, "logloss": 0.4}} for a, v in (("scratch", 0.70), ("logits", 0.80))]

    result = ablation.summarize({"auc": 0.90, "logloss": 0.3}, runs, ("auc", "logloss"))

    assert result["gap_metric"] == "auc"
    assert result["summary"][1]["gap_closed"]["mean"] == pytest.approx(0.5)
    assert result["summary"][1]["gap_closed"]["std"] is None  # one seed: no error bar
    assert "one seed" in result["verdict"]["text"]


def _recipe(**distill) -> Recipe:
    return Recipe(
        name="t",
        teacher=ModelConfig(embedding_dim=8, hidden=(16, 8, 4)),
        student=ModelConfig(embedding_dim=4, hidden=(8, 4)),
        distill=DistillConfig(**distill),
    )


def test_default_arms_are_every_method_with_hint_between_the_last_hidden_layers():
    arms, notes = ablation.plan_arms(_recipe(), ranking_data=True, hidden_layers=(3, 2))

    assert [a.name for a in arms] == ["logits", "ranking", "listwise", "hint", "embedding", "unlabelled"]
    hint = arms[3]
    assert (hint.student_layer, hint.teacher_layer, hint.weight) == ("hidden_1", "hidden_2", 1.0)
    assert notes == []


def test_ctr_data_skips_the_group_methods_with_a_note_and_configured_methods_keep_their_parameters():
    configured = DistillMethod("hint", weight=0.1, student_layer="hidden_0", teacher_layer="hidden_0")
    recipe = _recipe(methods=(configured,))

    arms, notes = ablation.plan_arms(recipe, ranking_data=False, hidden_layers=(3, 2),
                                     names=("ranking", "listwise", "hint"))

    assert arms == [DistillMethod("hint", weight=1.0, student_layer="hidden_0", teacher_layer="hidden_0")]
    assert [n.split(":")[0] for n in notes] == ["ranking", "listwise"]
    assert all("skipped" in n for n in notes)


def test_the_ablation_takes_one_distillation_setting():
    from edgerec.recipe import RecipeError

    one = _recipe(methods=((DistillMethod("hint", weight=0.1, student_layer="hidden_0", teacher_layer="hidden_0"),),))
    arms, _ = ablation.plan_arms(one, ranking_data=True, hidden_layers=(3, 2), names=("hint",))
    assert arms == [DistillMethod("hint", weight=1.0, student_layer="hidden_0", teacher_layer="hidden_0")]
    with pytest.raises(RecipeError, match=r"distill: the distillation ablation takes one alpha, temperature and "
                                          r"method list. Received: 2 candidates"):
        ablation.plan_arms(_recipe(alpha=(0.3, 0.7)), ranking_data=True, hidden_layers=(3, 2))


def test_nothing_left_to_compare_is_an_error():
    with pytest.raises(ablation.AblationError, match="no distillation method"):
        ablation.plan_arms(_recipe(), ranking_data=False, hidden_layers=(3, 2), names=("ranking",))


def test_table_has_every_arm_the_teacher_and_na_for_ctr():
    runs = [{"arm": a, "seed": s, "metrics": {"auc": v + s / 100, "logloss": 0.4}}
            for a, v in (("scratch", 0.70), ("logits", 0.80)) for s in (0, 1)]
    result = {
        "recipe": {"name": "t", "seed": 0}, "data": "criteo", "seconds": 3.0, "notes": ["ranking: skipped"],
        "protocol": {"task": "rows", "seeds": [0, 1], "teacher": "trained once", "alpha": 0.5, "temperature": 2.0,
                     "student_training": {"max_epochs": 1, "batch_size": 8, "learning_rate": 0.1}},
        "arms": [{"arm": "scratch", "method": None}, {"arm": "logits", "method": "logits"}],
        "teacher": {"metrics": {"auc": 0.9, "logloss": 0.3}},
        **ablation.summarize({"auc": 0.9, "logloss": 0.3}, runs, ("auc", "logloss")),
    }

    text = ablation_report.markdown(result)

    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| arm")]
    assert [r.split(" | ")[0] for r in rows] == ["| teacher", "| scratch (labels only)", "| logits"]
    assert "| 0.8050 ± 0.0071 | " in rows[2] and "n/a" in rows[2] and "51% ± 2%" in rows[2]  # 0.10/0.20 and 0.10/0.19
    assert "- ranking: skipped" in text and result["verdict"]["text"] in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["--methods", "logit"], "--methods: unknown method 'logit'. Did you mean 'logits'?"),
        (["--methods", "hint,hint"], "--methods: each method once"),
        (["--seeds", ""], "--seeds: expected at least one seed"),
        (["--seeds", "0,x"], "--seeds: expected non-negative integers separated by commas. Received: 'x'"),
        (["--seeds", "1.5"], "Received: '1.5'"),
        (["--seeds", "-1"], "Received: '-1'"),
        (["--recipe", "smoek"], "Did you mean 'smoke'?"),
        ([], "give --compare"),
    ],
)
def test_bad_input_is_exit_2_and_one_line(args, message, tmp_path):
    compare = [] if args == [] else ["--compare"]
    result = CliRunner().invoke(main, ["distill", *compare, "--out", str(tmp_path / "o"), *args])

    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0]


def test_an_earlier_ablation_is_kept_without_force(tmp_path):
    (tmp_path / ABLATION_JSON).write_text("{}")

    result = CliRunner().invoke(main, ["distill", "--compare", "--recipe", "smoke", "--out", str(tmp_path)])

    assert result.exit_code == 2
    assert "already holds an ablation" in result.output
