"""Compression steps, each an apply/finalize pair registered by name (see base.py).

Importing this package registers the built-in steps.
"""

from edgerec.compress import factorize_embeddings, low_rank, prune, prune_units, qat  # noqa: F401  (registration side effect)
from edgerec.compress.base import REGISTRY, CompressionStep, StepContext, get

__all__ = ["REGISTRY", "CompressionStep", "StepContext", "get"]
