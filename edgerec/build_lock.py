"""One build per bundle folder at a time.

Two `edgerec build` runs into the same `--out` would write the same checkpoints and artifacts
and leave a bundle neither of them made. The lock is an operating-system file lock (the
`filelock` package: flock on POSIX, LockFileEx on Windows) on a file in the folder: the kernel
releases it when the process ends however it ends, so a lock file left by a killed build is
not held by anyone and the next build takes it; no pid is trusted. The empty lock file stays in
the folder (a bundle's readers ignore it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from device_bench.errors import EdgerecError

LOCK_FILE = ".edgerec-build.lock"


class BuildLockedError(EdgerecError):
    """Another build is writing into the same folder."""


@contextlib.contextmanager
def build_lock(out: Path) -> Iterator[None]:
    """Holds `out`'s build lock for the block; refuses at once if another process holds it."""
    out = Path(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(out / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise BuildLockedError(
            f"--out: {out}: another edgerec build is writing into this folder (it holds {out / LOCK_FILE}); "
            "wait for it to finish or give another --out"
        ) from None
    try:
        yield
    finally:
        if created and os.listdir(out) == [LOCK_FILE]:  # the build failed before writing anything: leave no trace
            (out / LOCK_FILE).unlink()
            with contextlib.suppress(OSError):
                out.rmdir()
        lock.release()  # else the empty file stays: unlinking it would let two builds lock two different files
