"""The retrieval student: a two-tower model distilled from the supervising teacher, shipped as
`retrieval_int8.tflite` with the `recommend` and `score` signatures (`converters.retrieval`).

A ranker scores one (user, item) row at a time; an app that wants "the top 10 items of the
catalogue for this user" would have to run it on every item. The two-tower model's item side
depends on the item alone, so the catalogue's item vectors are computed once at export and the
device runs the user tower and one matrix product. It trains on the same rows and negatives as
the ranking students, under the same teacher (its logits on those rows are the soft targets: the
teacher's scores over sampled candidates), and keeps its best epoch on validation like every stage.

Its Keras-side metrics are the sampled protocol's (as every stage's) plus the full-catalogue ones
(`device_bench.retrieval.catalogue_metrics`, the function the device runs on the artifact's logits).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

import numpy as np

from converters import manifest as manifest_mod
from converters import parity
from converters import retrieval as convert_retrieval
from device_bench import bundle, evalset
from device_bench import retrieval as device_retrieval
from edgerec import io, train
from edgerec._keras import keras
from edgerec.data.task import CtrTask, RankingTask
from edgerec.data.vocab import OOV_INDEX
from edgerec.recipe import Recipe
from edgerec.sequence import CheckpointedRunner, Trained, distilled_stage
from edgerec.stages import Stage

Log = Callable[[str], None]
KEY = "retrieval"  # its stage key (checkpoint and seed)
CALIBRATION_USERS = 512
PARITY_LISTS = 300  # held-out candidate lists scored by Keras and by the artifact's `score`


def skipped(recipe: Recipe, task: RankingTask | CtrTask) -> str | None:
    """Why this build has no retrieval student, or None when it has one."""
    if not recipe.retrieval.enabled:
        return "retrieval.enabled is false"
    if not isinstance(task, RankingTask):
        return "the data are CTR rows without users: nothing to retrieve for"
    if task.data.num_items - 1 < recipe.retrieval.top_k:
        return f"retrieval.top_k {recipe.retrieval.top_k} exceeds the catalogue's {task.data.num_items - 1} items"
    return None


def train_student(recipe: Recipe, task: RankingTask, runner: CheckpointedRunner, trained: Trained,
                  log: Log) -> tuple[keras.Model, Stage]:
    """The two-tower student distilled from `trained`'s supervisor on its cached logits, as stage KEY."""
    config = recipe.retrieval
    distilling = dataclasses.replace(recipe, distill=config.distill())
    model, stage = distilled_stage(runner, trained.supervisor, trained.teacher_logits, task, distilling, KEY,
                                   config.model(), "retrieval student distilled (two-tower)", log)
    if "full_ndcg@10" not in stage.metrics:  # a restored stage already carries them
        stage.metrics.update(catalogue_metrics(model, task)[0])
        log("  retrieval student, full catalogue: " + ", ".join(
            f"{k} {v:.4f}" for k, v in stage.metrics.items() if k.startswith("full_")))
    return model, stage


def catalogue_metrics(model: keras.Model, task: RankingTask) -> tuple[dict[str, float], np.ndarray]:
    """The Keras model's full-catalogue metrics on the held-out rows (and their top-N candidates)."""
    part = evalset.retrieval_part(task.retrieval_eval(), "the held-out data")
    vectors, bias = convert_retrieval.item_matrix(model, task.catalogue_rows())
    user_vectors = convert_retrieval.towers(model, task.user_inputs()).predict(
        part.users, batch_size=train.PREDICT_BATCH, verbose=0)
    return device_retrieval.catalogue_metrics(lambda rows: user_vectors[rows] @ vectors.T + bias, part)


def export(model: keras.Model, stage: Stage, task: RankingTask, recipe: Recipe, out: Path, log: Log) -> dict:
    """Writes `retrieval_int8.tflite` and returns its manifest entry (Keras-vs-artifact parity included)."""
    t0 = time.perf_counter()
    users = np.unique(task.train_user)
    users = np.random.default_rng([recipe.seed, 7]).permutation(users)[:CALIBRATION_USERS]
    data, info = convert_retrieval.convert(model, task.catalogue_rows(), task.user_inputs(), recipe.retrieval.top_k,
                                           "int8", task.user_rows(users))
    path = out / bundle.artifact_file(bundle.RETRIEVAL)
    io.write_bytes(path, data)
    rows = _parity_rows(task)
    check = parity.compare(train.predict_logits(model, rows), _artifact_logits(path, rows, task.num_candidates),
                           candidates_per_user=task.num_candidates)
    log(f"  {path.name}: {path.stat().st_size / 1024:.1f} KiB, K={info.top_k} over {info.num_items - 1} items, "
        f"parity {check} ({time.perf_counter() - t0:.0f}s)")
    produced_by = {"stage": stage.name, "retrieval": recipe.to_dict()["retrieval"]}
    return manifest_mod.retrieval_entry(path, produced_by, stage.metrics, check, info, OOV_INDEX)


def _parity_rows(task: RankingTask) -> dict[str, np.ndarray]:
    n = min(PARITY_LISTS, len(task.candidates)) * task.num_candidates
    return {name: values[:n] for name, values in task.ranking_eval().items()}


def _artifact_logits(path: Path, rows: dict[str, np.ndarray], per_list: int) -> np.ndarray:
    """The artifact's `score` logits for candidate lists of `per_list` rows each (one user per list)."""
    from device_bench import runtime

    interpreter, _ = runtime.load(path, num_threads=1)
    call = device_retrieval.SignatureCall(interpreter, device_retrieval.SCORE)
    users = {name: rows[name][::per_list] for name in call.input_names() if name != device_retrieval.CANDIDATES}
    scores = call.runner(**users, candidates=rows["item_id"].reshape(-1, per_list).astype(np.int32))
    return np.asarray(scores[device_retrieval.SCORES], dtype=np.float64).reshape(-1)
