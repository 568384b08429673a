"""Model vocabularies with an out-of-vocabulary index, so an app can never index out of bounds.

Every feature's index 0 is `<oov>`: an app maps any raw value it cannot find in
`vocab/<feature>.txt` (a new user, a new item, an unseen category) to 0. Side-feature values
carried by fewer than `min_count` users or items also map to 0, so rare values (a zip code
seen once) share one row instead of each getting an embedding that cannot be learned.
User and item ids keep a row each: the ranking task needs every held-out item to be itself.
"""

from __future__ import annotations

import numpy as np

from edgerec.data.schema import Interactions

OOV = "<oov>"
OOV_INDEX = 0


def with_oov(data: Interactions, min_count: int = 1) -> Interactions:
    """The same interactions with index 0 reserved for OOV in every vocabulary."""
    if data.vocabularies["user_id"][:1] == [OOV]:
        raise ValueError("these interactions already have OOV vocabularies")
    vocab = {name: [OOV, *data.vocabularies[name]] for name in ("user_id", "item_id")}
    tables = {}
    for name, table in {**data.user_features, **data.item_features}.items():
        values = data.vocabularies[name]
        new_code, vocab[name] = frequent_codes(np.bincount(table, minlength=len(values)), values, min_count)
        tables[name] = np.r_[OOV_INDEX, new_code[table]].astype(np.int32)  # row 0: the OOV user / item
    return data.items_taken(
        np.arange(-1, data.num_items),  # row 0: the OOV item, without text
        user=(data.user + 1).astype(np.int32),
        item=(data.item + 1).astype(np.int32),
        user_features={name: tables[name] for name in data.user_features},
        item_features={name: tables[name] for name in data.item_features},
        vocabularies=vocab | {name: vocab[name] for name in tables},
    )


def frequent_codes(counts: np.ndarray, values: list[str], min_count: int) -> tuple[np.ndarray, list[str]]:
    """Old code -> model id, and the model vocabulary: values counted >= `min_count` times keep
    their order as ids 1..K, every rarer value becomes the OOV index."""
    keep = counts >= min_count
    new_code = np.zeros(len(values), dtype=np.int32)
    new_code[keep] = np.arange(1, int(keep.sum()) + 1)
    return new_code, [OOV] + [v for v, k in zip(values, keep) if k]
