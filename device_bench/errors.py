"""User mistakes: the one base class every edgerec package raises them with, and "did you mean".

It sits at the bottom layer (stdlib only) because `device_bench` may import nothing of edgerec,
yet its bad-input errors must be caught by the same `edgerec` CLI handler as the training side's.
"""

from __future__ import annotations

import difflib
from typing import Iterable


class EdgerecError(Exception):
    """Bad input the user can fix (a file, a flag, a recipe value); the message names it.

    The `edgerec` command prints the message as one "Error: " line and exits 2, never a traceback.
    Subclasses keep the builtin base callers catch them by (ValueError, FileExistsError, ...).
    """


def suggest(value: object, choices: Iterable[str], template: str = " Did you mean '{}'?") -> str:
    """`template` filled with the choice closest to `value`, or "" when none is close.

    "Close" is difflib's default similarity cutoff (0.6), so an unrelated name gets no hint.
    """
    close = difflib.get_close_matches(str(value), list(choices), n=1)
    return template.format(close[0]) if close else ""
