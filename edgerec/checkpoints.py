"""Per-stage checkpoints, so that a killed `edgerec build` continues with `--resume`.

Layout inside the bundle folder while a build runs (removed when it completes)::

    OUT/.build/state.json      {"fingerprint": ..., "stages": {key: record}}
    OUT/.build/<key>.npz       a trained model's weights, in `get_weights()` order

Models are checkpointed as weights only and rebuilt on resume by the same code that built them
(the zoo builder, or the compression step's `apply` + `finalize` on the previous model), then
their weights restored. Saving whole models would need pickled or custom-object loading for
TFMOT's wrappers; weights in an `.npz` read with `allow_pickle=False` need neither, and
restoring them is bit-exact.

Order of writes: a stage's weights file is complete (atomic rename) before `state.json`
names it, and `state.json` itself is replaced atomically, so after a kill at any instant the
state only lists stages whose files are whole. A stage cut short is simply redone; every stage
seeds its own randomness (see `pipeline`), so a redone stage gives what the first attempt
would have.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from device_bench.errors import EdgerecError
from edgerec import io

STATE_DIR = ".build"
STATE_FILE = "state.json"


class ResumeError(EdgerecError, ValueError):
    """`--resume` cannot continue this folder's build; the message says why and what to do."""


class BuildState:
    """What a build has finished so far, and the weights it trained."""

    def __init__(self, out: Path, fingerprint: dict[str, Any], stages: dict[str, dict] | None = None):
        self.dir = Path(out) / STATE_DIR
        self.fingerprint = fingerprint
        self.stages: dict[str, dict] = stages or {}

    @classmethod
    def start(cls, out: Path, fingerprint: dict[str, Any]) -> BuildState:
        """A fresh state, discarding any earlier one in `out`.

        Nothing is written until the first stage finishes, so a build that fails on its input
        (bad data, say) leaves no interrupted build behind to be refused next time.
        """
        shutil.rmtree(Path(out) / STATE_DIR, ignore_errors=True)
        return cls(out, fingerprint)

    @classmethod
    def resume(cls, out: Path, fingerprint: dict[str, Any]) -> BuildState:
        """The state left in `out` by an interrupted build of the same recipe and data."""
        path = Path(out) / STATE_DIR / STATE_FILE
        try:
            saved = json.loads(path.read_text())
        except FileNotFoundError:
            raise ResumeError(f"--resume: {out} holds no interrupted build ({path} is missing)") from None
        except (OSError, ValueError) as exc:
            raise ResumeError(f"--resume: {path} is unreadable ({exc}); use --force to start over") from None
        changed = [key for key in fingerprint if saved.get("fingerprint", {}).get(key) != fingerprint[key]]
        if changed:
            raise ResumeError(
                f"--resume: the build in {out} was started with a different {' and '.join(changed)}; "
                "resume it with the same ones, or use --force to start over"
            )
        return cls(out, fingerprint, saved.get("stages", {}))

    @staticmethod
    def exists(out: Path) -> bool:
        return (Path(out) / STATE_DIR / STATE_FILE).is_file()

    def done(self, key: str) -> dict | None:
        """The record a finished stage `key` saved, or None if it has not finished."""
        return self.stages.get(key)

    def save(self, key: str, record: dict, weights: list[np.ndarray] | None = None) -> None:
        """Marks stage `key` finished with `record`, after writing its `weights` if any."""
        if weights is not None:
            write_weights(self._weights_path(key), weights)
        self.stages[key] = record
        self._write()

    def weights(self, key: str) -> list[np.ndarray]:
        """The weights saved by stage `key`, in the order `set_weights` expects."""
        return read_weights(self._weights_path(key))

    def finish(self) -> None:
        """The build completed: the checkpoints are not part of the bundle."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def _weights_path(self, key: str) -> Path:
        return self.dir / f"{key.replace('/', '__')}.npz"

    def _write(self) -> None:
        io.write_json(self.dir / STATE_FILE, {"fingerprint": self.fingerprint, "stages": self.stages})


def write_weights(path: Path, weights: list[np.ndarray]) -> None:
    """A model's `get_weights()` as an .npz, atomically (see the module docstring for why not Keras's formats)."""
    with io.atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, *weights)


def read_weights(path: Path) -> list[np.ndarray]:
    """What `write_weights` wrote, in the order `set_weights` expects."""
    with np.load(path, allow_pickle=False) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]
