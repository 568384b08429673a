"""One base for user mistakes, and the one "did you mean" helper every message uses."""

import importlib

import pytest

from device_bench.errors import EdgerecError, suggest


def test_suggest_names_the_closest_choice():
    assert suggest("smok", ["default", "smoke"]) == " Did you mean 'smoke'?"
    assert suggest("hiden_1", ["hidden_0", "hidden_1"]) == " Did you mean 'hidden_1'?"


def test_suggest_is_empty_when_nothing_is_close():
    assert suggest("xyz", ["default", "smoke"]) == ""
    assert suggest("anything", []) == ""


def test_suggest_fills_a_given_wording_and_takes_any_value():
    # a parenthesised hint inside a sentence; a YAML key need not be a string
    assert suggest("logit", {"logits": 1, "hint": 2}, " (did you mean '{}'?)") == " (did you mean 'logits'?)"
    assert suggest(12, ["12a"]) == " Did you mean '12a'?"


@pytest.mark.parametrize("module, name, builtin", [
    ("edgerec.recipe", "RecipeError", ValueError),
    ("edgerec.data.schema", "DataError", ValueError),
    ("edgerec.compress.base", "StepError", ValueError),
    ("edgerec.distill.losses", "DistillError", ValueError),
    ("edgerec.checkpoints", "ResumeError", ValueError),
    ("edgerec.pipeline", "BundleExistsError", FileExistsError),
    ("edgerec.search.target", "TargetError", ValueError),
    ("edgerec.search.sensitivity", "SensitivityError", ValueError),
    ("edgerec.ablation", "AblationError", ValueError),
    ("edgerec.report", "ReportInputError", ValueError),
    ("device_bench.run", "BenchInputError", ValueError),
    ("device_bench.evalset", "EvalSetError", ValueError),
    ("device_bench.compare", "CompareInputError", ValueError),
    ("device_bench.runtime", "RuntimeUnavailableError", RuntimeError),
])
def test_user_errors_share_one_base_and_keep_their_builtin_one(module, name, builtin):
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, EdgerecError) and issubclass(cls, builtin)
    assert str(cls("the message")) == "the message"
