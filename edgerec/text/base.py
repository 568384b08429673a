"""The item-text encoder protocol and its registry.

An encoder turns item texts (titles, genres, descriptions) into one float32 row per text, L2-normalised
so that a dot product is a cosine; a blank text gets a zero row ("no text"), never a made-up vector.
Encoders run at prepare/train time on the workstation only: their vectors are stored with the
dataset, and nothing here reaches a device.
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import numpy as np

from device_bench.errors import suggest
from edgerec.data.schema import DataError


class MissingExtra(DataError):
    """An encoder whose optional dependencies are not installed (a caller may go on without vectors)."""


class Encoder:
    name: ClassVar[str]

    def describe(self) -> str:
        """One line naming the encoder and what it is, for schema.json and manifests."""
        raise NotImplementedError

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, rows L2-normalised; `texts` has no blank entry but may be empty."""
        raise NotImplementedError


ENCODERS: dict[str, Encoder] = {}


def register(encoder: Encoder) -> Encoder:
    if encoder.name in ENCODERS:
        raise ValueError(f"text encoder '{encoder.name}' is registered twice")
    ENCODERS[encoder.name] = encoder
    return encoder


def get(name: str) -> Encoder:
    if name not in ENCODERS:
        raise DataError(f"unknown text encoder '{name}'.{suggest(name, ENCODERS)} "
                        f"Valid: {', '.join(ENCODERS)}")
    return ENCODERS[name]


def needs_extra(name: str) -> MissingExtra:
    """The error for an encoder whose optional dependencies are not installed."""
    return MissingExtra(f"text encoder '{name}' needs the text extra: pip install 'edgerec[text]'")


def encode(texts: Sequence[str], encoder: str) -> np.ndarray:
    """(len(texts), dim) float32 item vectors from `encoder`, rows L2-normalised; blank texts get zero rows."""
    chosen = get(encoder)
    texts = list(texts)
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"item text {position} is a {type(text).__name__}, not a string: {text!r}")
    filled = [i for i, text in enumerate(texts) if text.strip()]
    vectors = chosen.encode([texts[i] for i in filled])
    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    out[filled] = vectors
    return out


def describe(encoder: str) -> str:
    return get(encoder).describe()


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    """float32 rows of unit length; an all-zero row stays zero."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)
