"""Weight transfer: the student's item tables start from what the teacher knows about each item.

Distillation passes knowledge through the teacher's scores on the rows the student trains on;
an item the student rarely sees there learns little from it. A text-aware teacher's knowledge
about every item also sits in its item-side weights: each item id table's row plus the projection
of the item's text added to it (`models/zoo.py`), which places even an item with no interactions.
`transfer` concatenates those per item id (`item_representations`), projects them to the student's table width by PCA, and writes
the projection into the student's item id tables before distillation starts: the tail items start
where the teacher puts them instead of at random. The student's inputs and size do not change
(it still reads ids only), so it stays full-int8.

PCA keeps the directions along which the teacher's items differ most; the projection is then
rescaled to the root mean square of the freshly initialised table it replaces, so the student's
optimisation starts at the scale it was tuned for and only the layout of the items comes from the
teacher. At the teacher's own scale (rows ~10x larger) the student distilled from the lastfm
preset's text-aware teacher kept less of its tail gain: int8 tail NDCG@10 0.076 against 0.089 at
the initial scale (seed 0). Distillation then trains the table on as usual.
`distill.weight_transfer: none` turns it off for the ablation.
"""

from __future__ import annotations

import numpy as np

from edgerec._keras import keras
from edgerec.models.zoo import ITEM_TEXT_VECTORS, text_projection

ITEM_TABLES = ("embedding_item_id", "gmf_embedding_item_id")  # the id tables looked up by the item id


def item_representations(teacher: keras.Model) -> np.ndarray:
    """Per item id (rows), the teacher's item vectors side by side, one per item id table: the table's
    row, plus the projection of the item's text added to it in a text-aware teacher; an ensemble's
    members' side by side."""
    parts = []
    for model in _members(teacher):
        names = {layer.name for layer in model.layers}
        for table in (name for name in ITEM_TABLES if name in names):
            vectors = model.get_layer(table).get_weights()[0]
            if text_projection(table) in names:
                kernel, bias = model.get_layer(text_projection(table)).get_weights()
                vectors = vectors + model.get_layer(ITEM_TEXT_VECTORS).get_weights()[0] @ kernel + bias
            parts.append(vectors)
    if not parts:
        raise ValueError(f"teacher '{teacher.name}' has no item id table ({', '.join(ITEM_TABLES)}) to transfer from")
    return np.concatenate(parts, axis=1)


def transfer(teacher: keras.Model, student: keras.Model) -> dict:
    """Writes the PCA of `teacher`'s item representations into each of `student`'s item id tables;
    returns what it did (tables, widths, share of the variance each projection keeps)."""
    representations = item_representations(teacher)
    centred = representations - representations.mean(axis=0)
    _, singular, directions = np.linalg.svd(centred, full_matrices=False)
    variance = singular**2
    done = {}
    names = {layer.name for layer in student.layers}
    for name in (n for n in ITEM_TABLES if n in names):
        table = student.get_layer(name)
        rows, width = table.get_weights()[0].shape
        if rows != len(representations):
            raise ValueError(f"student table {name} has {rows} rows and the teacher's items {len(representations)}")
        initial = table.get_weights()[0]
        kept = min(width, directions.shape[0])
        projected = np.zeros((rows, width), np.float32)
        projected[:, :kept] = centred @ directions[:kept].T
        projected *= np.sqrt(np.mean(initial**2) / max(np.mean(projected**2), 1e-12))
        table.set_weights([projected])
        done[name] = {"from_width": int(representations.shape[1]), "width": int(width),
                      "variance_kept": round(float(variance[:kept].sum() / variance.sum()), 4)}
    return done


def _members(teacher: keras.Model) -> list[keras.Model]:
    """The teacher itself, or the models an ensemble averages."""
    inner = [layer for layer in teacher.layers if isinstance(layer, keras.Model)]
    return inner or [teacher]
