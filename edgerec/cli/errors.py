"""User mistakes end with exit code 2 and one line naming the thing, never a traceback."""

import os
from pathlib import Path

import click


class UserError(click.ClickException):
    exit_code = 2


def check_writable(out: Path) -> None:
    """--out must be (or be creatable as) a writable folder: checked before anything trains."""
    existing = next((p for p in [out, *out.parents] if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UserError(f"--out: {existing} exists and is not a folder")
    if existing is not None and not os.access(existing, os.W_OK):
        raise UserError(f"--out: {existing} is not writable")
