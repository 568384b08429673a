"""Atomic file writes, shared by every package: a killed run never leaves a half-written file.

It lives here because device_bench is the lowest layer (stdlib + numpy), importable from
edgerec and converters as well as on a device.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

TEMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path in the destination folder; renames it over `path` on success.

    The temporary file gets the permissions a plain `open()` would give (mkstemp's are 0600),
    so a bundle copied to a device is readable there.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def remove_leftovers(folder: str | Path) -> list[Path]:
    """Deletes the temporary files a killed writer left under `folder`; returns them.

    Only names `atomic_path` makes (``.<name>.<random>.tmp``) are touched. Call it before
    writing into a folder a killed run may have used, never while another writer works in it.
    """
    leftovers = [p for p in Path(folder).rglob(f".*{TEMP_SUFFIX}") if p.is_file()]
    for path in leftovers:
        path.unlink()
    return leftovers
