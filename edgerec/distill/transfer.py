"""Weight transfer: the student's item tables start from what the teacher knows about each item.

Distillation passes knowledge through the teacher's scores on the rows the student trains on;
an item the student rarely sees there learns little from it. A text-aware teacher's knowledge
about every item also sits in its item-side weights: each item id table's row plus the projection
of the item's text added to it (`models/zoo.py`), which places even an item with no interactions.
`transfer` projects those, per item id, to the student's table width by PCA and writes the
projection into the student's item id tables before distillation starts: the tail items start
where the teacher puts them instead of at random. Each student table starts from the teacher's
table of the same name (`item_representations(teacher, table)`): the GMF branch's item rows live in
the space of a user-item product, the towers' rows in that of an MLP input. One projection of both,
written into both tables, gave the two branches the same start; per table, the int8 student
distilled from the lastfm preset's text-aware teacher reached a mean tail NDCG@10 of 0.1008 over
seeds 0-2 against 0.0973 (0.0991/0.0843/0.1189 against 0.0950/0.0901/0.1068: within the seed
spread). A teacher without the student's table gives all its item tables side by side.

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


def item_representations(teacher: keras.Model, table: str | None = None) -> np.ndarray:
    """Per item id (rows), the teacher's item vectors side by side, one per item id table (only `table`'s
    when the teacher has it): the table's row, plus the projection of the item's text added to it in a
    text-aware teacher; an ensemble's members' side by side."""
    wanted = [table] if table in _common_tables(teacher) else ITEM_TABLES
    parts = []
    for model in _members(teacher):
        names = {layer.name for layer in model.layers}
        for name in (n for n in wanted if n in names):
            vectors = model.get_layer(name).get_weights()[0]
            if text_projection(name) in names:
                kernel, bias = model.get_layer(text_projection(name)).get_weights()
                vectors = vectors + model.get_layer(ITEM_TEXT_VECTORS).get_weights()[0] @ kernel + bias
            parts.append(vectors)
    if not parts:
        raise ValueError(f"teacher '{teacher.name}' has no item id table ({', '.join(ITEM_TABLES)}) to transfer from")
    return np.concatenate(parts, axis=1)


def transfer(teacher: keras.Model, student: keras.Model) -> dict:
    """Writes, into each of `student`'s item id tables, the PCA of `teacher`'s representations of the
    items in that table (`item_representations`); returns what it did (tables, widths, share of the
    variance each projection keeps)."""
    done = {}
    names = {layer.name for layer in student.layers}
    for name in (n for n in ITEM_TABLES if n in names):
        representations = item_representations(teacher, name)
        centred = representations - representations.mean(axis=0)
        _, singular, directions = np.linalg.svd(centred, full_matrices=False)
        variance = singular**2
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
                      "variance_kept": round(float(variance[:kept].sum() / max(variance.sum(), 1e-12)), 4)}
    return done


def _common_tables(teacher: keras.Model) -> set[str]:
    """The item id tables every member of `teacher` has."""
    return set.intersection(*({layer.name for layer in model.layers} & set(ITEM_TABLES) for model in _members(teacher)))


def _members(teacher: keras.Model) -> list[keras.Model]:
    """The teacher itself, or the models an ensemble averages."""
    inner = [layer for layer in teacher.layers if isinstance(layer, keras.Model)]
    return inner or [teacher]
