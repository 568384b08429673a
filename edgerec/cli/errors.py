"""User mistakes end with exit code 2 and one line naming the thing, never a traceback; an
interrupt (Ctrl-C, SIGTERM) with exit code 130 and one line saying how to continue."""

import contextlib
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import click

from device_bench.errors import EdgerecError
from edgerec.console import quiet_native_logs


class UserError(click.ClickException):
    exit_code = 2


class Group(click.Group):
    """The `edgerec` group: an EdgerecError raised inside any verb becomes a UserError here, in
    one place, so no verb lists the error classes of the engine it calls."""

    def invoke(self, ctx: click.Context):
        main_thread = threading.current_thread() is threading.main_thread()  # only it may set handlers
        previous = signal.signal(signal.SIGTERM, _raise_interrupt) if main_thread else None  # `kill`: as Ctrl-C
        try:
            with quiet_native_logs(enabled=not ctx.params.get("verbose")):
                return super().invoke(ctx)
        except EdgerecError as exc:
            raise UserError(str(exc)) from None
        except Exception as exc:  # Ctrl-C inside TensorFlow's C++ surfaces wrapped, e.g. as a SystemError
            if not _caused_by_interrupt(exc):
                raise
            _interrupted(ctx)
        except KeyboardInterrupt:
            _interrupted(ctx)
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, previous)


class Interrupted(KeyboardInterrupt):
    """An interrupt, with the one line that says how to continue (`resume`), raised by a verb."""

    def __init__(self, resume: str):
        super().__init__(resume)
        self.resume = resume


@contextlib.contextmanager
def resumable(command: list[str]) -> Iterator[None]:
    """An interrupt inside the block ends with "interrupted; continue with: COMMAND"."""
    try:
        yield
    except Interrupted:
        raise
    except BaseException as exc:
        if not _caused_by_interrupt(exc):
            raise
        raise Interrupted(shlex.join(command)) from None


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _caused_by_interrupt(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _interrupted(ctx: click.Context) -> None:
    """Exit 130 (128 + SIGINT, as a shell reports it) with one line; what was written stays."""
    error = sys.exc_info()[1]
    while error is not None and not isinstance(error, Interrupted):
        error = error.__cause__ or error.__context__
    hint = f"; continue with: {error.resume}" if error is not None else ""
    click.echo(f"interrupted{hint}", err=True)
    ctx.exit(130)


def check_writable(out: Path) -> None:
    """--out must be (or be creatable as) a writable folder: checked before anything trains."""
    existing = next((p for p in [out, *out.parents] if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UserError(f"--out: {existing} exists and is not a folder")
    if existing is not None and not os.access(existing, os.W_OK):
        raise UserError(f"--out: {existing} is not writable")
