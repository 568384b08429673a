"""The verbs that train need the `train` extra, on a Python TensorFlow ships for; say so in one line.

The base package and the `device` extra install on CPython 3.9-3.13 (boards' system Pythons),
where `edgerec bench` and `edgerec inspect` run with numpy and an interpreter alone (and
`edgerec report`, with matplotlib for its pictures). The other verbs import TensorFlow or
pandas lazily; without this check a device-only install answered `edgerec build` with a
ModuleNotFoundError traceback, and Python 3.9 with a TypeError from deep inside the recipe parser.
"""

from __future__ import annotations

import importlib.util
import sys

from edgerec.cli.errors import UserError

# tensorflow 2.21 (the `train` extra's pin) ships wheels for these CPython versions; CI trains on 3.11
TRAINING_PYTHONS = ((3, 10), (3, 13))
TRAINING_MODULES = {"build": ("tensorflow", "tf_keras", "tensorflow_model_optimization", "pandas"),
                    "compress": ("tensorflow", "tf_keras", "tensorflow_model_optimization", "pandas"),
                    "distill": ("tensorflow", "tf_keras", "tensorflow_model_optimization", "pandas"),
                    "teacher": ("tensorflow", "tf_keras", "tensorflow_model_optimization", "pandas", "pyarrow"),
                    "data prepare": ("pandas", "pyarrow")}
# these need neither TensorFlow nor pandas; `edgerec report` draws its plots only where the
# `report` extra's matplotlib is installed and says so otherwise
DEVICE_VERBS = "`edgerec bench`, `edgerec export`, `edgerec inspect` and `edgerec report`"


def require(verb: str) -> None:
    """Exit 2 with one line when this Python or this install cannot run `edgerec VERB`."""
    low, high = TRAINING_PYTHONS
    running = sys.version_info[:2]
    if not low <= running <= high:
        raise UserError(
            f"edgerec {verb} needs Python {low[0]}.{low[1]}-{high[0]}.{high[1]} (TensorFlow's); this is "
            f"Python {running[0]}.{running[1]}, where {DEVICE_VERBS} run"
        )
    missing = [name for name in TRAINING_MODULES[verb] if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(
            f"edgerec {verb} needs the 'train' extra (missing: {', '.join(missing)}): "
            f"pip install 'edgerec[train]'; this install runs {DEVICE_VERBS}"
        )
