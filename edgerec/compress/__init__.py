"""Compression steps, each an apply/finalize pair registered by name (see base.py).

Importing this package registers the built-in steps. The registration order is the order a
searched chain applies them in (`search.chain_order`): structure first (units, tables, dense
factors), then sparsity, and 8-bit fake-quantization last, over the final layers.
"""

from edgerec.compress import (  # noqa: F401  (registration side effect, in chain order)
    prune_units, factorize_embeddings, mixed_dim, qr_embeddings, int4_tables, low_rank, prune, qat)
from edgerec.compress.base import REGISTRY, CompressionStep, StepContext, get

__all__ = ["REGISTRY", "CompressionStep", "StepContext", "get"]
