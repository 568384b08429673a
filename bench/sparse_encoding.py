"""Where does TFLite's sparse encoding pay? File bytes and latency of pruned models, in one run.

    python bench/sparse_encoding.py [--epochs 2] [--batch 1 256] [--keep DIR]

A medium student (MLP, embedding 16, hidden [256, 128]) is trained on the synthetic "smoke" data,
then pruned by edgerec's steps (`prune` at 50 / 75 / 90 % and 2:4, `prune_embeddings` at 75 %)
and, for comparison, by TFMOT block pruning in the blocks TFLite's sparse kernels read (1x4 for
float, 1x16 for int8, on the [out, in] weight: `block_size=(4, 1)` / `(16, 1)` on a Keras
[in, out] kernel). Each model is converted to fp32 and int8, each without and with
`sparse=True` (`Optimize.EXPERIMENTAL_SPARSITY`), and every file is measured by
`device_bench.run.bench` (one child process per artifact, 1 thread; XNNPACK on, then off at the
largest batch): bytes, gzip bytes (a compressed download), init and p50 latency, peak RSS, and
AUC on the held-out rows. A file the runtime cannot load is a 'fail' cell, with its error below.
`converters.inspect` says which weights were stored sparse and whether a DENSIFY op rebuilds
them at load time (then the op runs dense and only the file shrinks).

Latency on a shared machine moves by tens of percent between seconds; the two encodings of a
model are measured one after the other, so compare within a pair. Nothing is adjusted.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
from pathlib import Path

import numpy as np
import tensorflow_model_optimization as tfmot

from converters import inspect, representative, tflite
from device_bench import bundle, run
from edgerec import compress, train
from edgerec._keras import keras
from edgerec.compress.prune import weight_sparsity
from edgerec.data import synthetic
from edgerec.data.task import make_task
from edgerec.models.zoo import build_ranker
from edgerec.recipe import DataConfig, ModelConfig, TrainConfig

MODEL = ModelConfig(embedding_dim=16, hidden=(256, 128))
TRAIN = TrainConfig(max_epochs=2, batch_size=256, learning_rate=0.003)
# (label, step name or None for raw TFMOT block pruning, step params or block size)
SETTINGS = (
    ("dense", None, None),
    ("50%", "prune", {"target_sparsity": 0.5}),
    ("2:4", "prune", {"pattern": "2:4"}),
    ("75%", "prune", {"target_sparsity": 0.75}),
    ("90%", "prune", {"target_sparsity": 0.9}),
    ("75% 1x4 blocks", "block", (4, 1)),
    ("75% 1x16 blocks", "block", (16, 1)),
    ("tables 75%", "prune_embeddings", {"target_sparsity": 0.75}),
)


def _copy(model: keras.Model) -> keras.Model:
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _prune(base: keras.Model, kind: str | None, given, task, epochs: int) -> keras.Model:
    """A copy of `base` pruned by an edgerec step, by TFMOT in blocks, or not at all, fine-tuned on labels for `epochs`."""
    steps = int(np.ceil(task.train_rows_per_epoch / TRAIN.batch_size))
    ctx = compress.StepContext(steps_per_epoch=steps, finetune_epochs=epochs)
    if kind is None:  # fine-tuned as long as the others, so AUC compares pruning, not training time
        trainable, callbacks = _copy(base), []

        def finish(model):
            return model

    elif kind == "block":
        prune = tfmot.sparsity.keras
        schedule = prune.PolynomialDecay(0.0, 0.75, 0, int(0.7 * steps * epochs), frequency=max(1, steps // 4))

        def wrap(layer):
            if layer.name.startswith("hidden_"):
                return prune.prune_low_magnitude(layer, pruning_schedule=schedule, block_size=given)
            return layer

        trainable = keras.models.clone_model(_copy(base), clone_function=wrap)
        callbacks, finish = [prune.UpdatePruningStep()], prune.strip_pruning
    else:
        step = compress.get(kind)
        params = step.resolve(given)
        trainable = step.apply(_copy(base), params, ctx)
        callbacks = step.callbacks(params, ctx)

        def finish(model):
            return step.finalize(model, params)

    train.compile_ranker(trainable, TRAIN)
    train.fit(trainable, task, TRAIN, epochs, str(kind), log=lambda _: None, callbacks=callbacks)
    return finish(trainable)


def _encoding(path: Path) -> str:
    """How many constants are stored sparse, and how many of them DENSIFY rebuilds at load.

    A sparse weight without DENSIFY is read by TFLite's sparse FULLY_CONNECTED kernel.
    """
    found = inspect.inspect(path)
    sparse = sum(1 for c in found.constants if c.get("sparse"))
    return f"{sparse} sparse, {found.ops.get('DENSIFY', 0)} densified" if sparse else "none"


def _p50(row: dict) -> str:
    if row.get("status") == "ok":
        return f"{row['latency_us']['p50']:.1f}"
    return "fail" if row else "—"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs per pruned model")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 256], help="batch sizes to time")
    parser.add_argument("--keep", type=Path, help="keep the .tflite files in this folder")
    args = parser.parse_args(argv)

    task = make_task(synthetic.generate("smoke", seed=0), DataConfig(), seed=0)
    base = build_ranker(task.features, MODEL, "student", seed=0)
    train.compile_ranker(base, TRAIN)
    train.fit(base, task, TRAIN, TRAIN.max_epochs, "base", log=print)
    calibration = representative.dataset(task.representative_rows(500))

    folder = Path(tempfile.mkdtemp(prefix="sparse_encoding.")) if args.keep is None else args.keep
    folder.mkdir(parents=True, exist_ok=True)
    task.save_eval(folder / bundle.EVAL_SET)
    files, facts = [], {}
    for label, kind, given in SETTINGS:
        model = _prune(base, kind, given, task, args.epochs)
        zeros = weight_sparsity(model, lambda layer: layer.name.startswith(("hidden_", "embedding_")))
        print(f"[{label}] zeros: " + ", ".join(f"{k} {v:.0%}" for k, v in zeros.items()), flush=True)
        for mode in ("fp32", "int8"):
            for sparse in (False, True):
                path = folder / f"{label.replace(' ', '_').replace(':', 'of').replace('%', 'pc')}_{mode}_{'sparse' if sparse else 'plain'}.tflite"
                path.write_bytes(tflite.convert(model, mode, calibration if mode == "int8" else None, sparse=sparse))
                files.append(path)
                facts[path.name] = (label, mode, "sparse" if sparse else "plain", _encoding(path))

    timing = {"runs": 200, "warmup": 20, "min_seconds": 0.5}
    measured: dict[tuple[str, bool, int], dict] = {}
    for xnnpack, batches in ((True, args.batch), (False, [max(args.batch)])):
        for row in run.bench(files, batches=batches, xnnpack=xnnpack, **timing):
            measured[(Path(row["artifact"]).name, xnnpack, row["batch"])] = row
    columns = [(True, b) for b in args.batch] + [(False, max(args.batch))]
    header = ["pruning", "mode", "encoding", "sparse weights", "bytes", "gzip -9 bytes", "init ms",
              *(f"p50 µs b{b}{'' if x else ' no XNNPACK'}" for x, b in columns), "peak RSS MiB", "AUC"]
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * 4 + "---:|" * (len(header) - 4))
    for path in files:
        label, mode, encoding, stored = facts[path.name]
        first = measured.get((path.name, True, args.batch[0]), {})
        ok = first.get("status") == "ok"
        auc = next((r["metrics"].get("auc") for (name, _, _), r in measured.items()
                    if name == path.name and r["status"] == "ok" and r.get("metrics")), None)
        cells = [label, mode, encoding, stored, f"{path.stat().st_size:,}", f"{len(gzip.compress(path.read_bytes(), 9)):,}",
                 f"{first['latency_us']['init'] / 1000:.1f}" if ok else "—",
                 *(_p50(measured.get((path.name, x, b), {})) for x, b in columns),
                 f"{first['peak_rss_bytes'] / 2**20:.1f}" if ok else "—",
                 "—" if auc is None else f"{auc:.4f}"]
        print("| " + " | ".join(cells) + " |")
    failures = {row["status"] for row in measured.values() if row["status"] != "ok"}
    for status in sorted(failures):
        print(f"\nfailed rows ('fail' above): {status}")
    print(f"\nfiles in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
