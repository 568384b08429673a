"""Atomic writers for bundle files (see device_bench.atomic for why and how)."""

from __future__ import annotations

import json
from pathlib import Path

from device_bench.atomic import atomic_path

__all__ = ["atomic_path", "write_bytes", "write_text", "write_json"]


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: Path, obj: object) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")
