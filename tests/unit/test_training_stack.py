"""A device-only install or a Python TensorFlow has no wheels for: the training verbs say so in one line."""

import sys
from collections import namedtuple

from click.testing import CliRunner

from edgerec.cli import main, training_stack
from tests.utils import assert_one_line_error

Version = namedtuple("Version", "major minor micro releaselevel serial")


def test_a_python_tensorflow_does_not_ship_for_is_named(monkeypatch):
    monkeypatch.setattr(sys, "version_info", Version(3, 9, 18, "final", 0))
    result = CliRunner().invoke(main, ["build", "--recipe", "smoke", "--out", "never"])
    assert_one_line_error(result, "edgerec build needs Python 3.10-3.13", "this is Python 3.9",
                          "`edgerec bench`, `edgerec export`, `edgerec inspect` and `edgerec report` run")


def test_a_missing_extra_is_named_with_its_install_command(monkeypatch, tmp_path):
    real = training_stack.importlib.util.find_spec
    monkeypatch.setattr(training_stack.importlib.util, "find_spec",
                        lambda name: None if name in ("tensorflow", "pandas") else real(name))
    for argv, needles in (
        (["distill", "--compare", "--recipe", "smoke", "--out", str(tmp_path / "d")],
         ("edgerec distill needs the 'train' extra (missing: tensorflow, pandas)", "pip install 'edgerec[train]'")),
        (["data", "prepare", "--source", "csv", "--path", str(tmp_path / "log.csv"), "--out", str(tmp_path / "p")],
         ("edgerec data prepare needs the 'train' extra (missing: pandas)",)),
    ):
        assert_one_line_error(CliRunner().invoke(main, argv), *needles)


def test_every_verb_that_is_not_a_device_verb_is_checked():
    device = {"bench", "export", "inspect", "report"}
    verbs = {name for name in main.commands if name not in device} - {"data"} | {"data prepare"}
    assert verbs == set(training_stack.TRAINING_MODULES)
