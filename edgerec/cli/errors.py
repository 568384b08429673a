"""User mistakes end with exit code 2 and one line naming the thing, never a traceback."""

import os
from pathlib import Path

import click

from device_bench.errors import EdgerecError


class UserError(click.ClickException):
    exit_code = 2


class Group(click.Group):
    """The `edgerec` group: an EdgerecError raised inside any verb becomes a UserError here, in
    one place, so no verb lists the error classes of the engine it calls."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgerecError as exc:
            raise UserError(str(exc)) from None


def check_writable(out: Path) -> None:
    """--out must be (or be creatable as) a writable folder: checked before anything trains."""
    existing = next((p for p in [out, *out.parents] if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UserError(f"--out: {existing} exists and is not a folder")
    if existing is not None and not os.access(existing, os.W_OK):
        raise UserError(f"--out: {existing} is not writable")
