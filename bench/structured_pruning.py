"""What structured pruning buys: `prune_units` at 50 % of the hidden units against the unpruned model,
dense bytes, file bytes, latency and held-out accuracy of the int8 artifacts, in one run.

    python bench/structured_pruning.py [--epochs 2] [--batch 1 256] [--repeats 3] [--keep DIR]

The default recipe's teacher (64-d, DCN-v2 cross + GMF + MLP 256-128-64) and student (32-d,
GMF + MLP 64-32) architectures are trained on the synthetic "smoke" data, then each is copied
through `prune_units` (fraction 0.5, every hidden ReLU layer) and fine-tuned for one epoch at a
tenth of the learning rate, as the build fine-tunes a step. Both versions are converted to full
int8 and measured by `device_bench.run.bench` (one child process per artifact, 1 thread, XNNPACK
on) at each batch, in `--repeats` interleaved rounds: p50 is the median of the rounds' p50s
[min-max]. Dense bytes are `converters.inspect`'s (FULLY_CONNECTED weights and biases, cross
layers); the embedding tables do not change. Accuracy (AUC, NDCG@10) is the interpreter's on
the held-out rows (eval.npz beside the files). Nothing is adjusted: a machine shared with other
work moves latency by tens of percent, which is why the rounds interleave.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from converters import inspect, representative, tflite
from device_bench import run
from edgerec import compress, train
from edgerec._keras import keras
from edgerec.data import synthetic
from edgerec.data.task import make_task
from edgerec.models.zoo import build_ranker
from edgerec.recipe import DataConfig, ModelConfig, TrainConfig

MODELS = {
    "teacher": ModelConfig(embedding_dim=64, hidden=(256, 128, 64), cross_layers=1, cross_projection_dim=96, gmf=True),
    "student": ModelConfig(embedding_dim=32, hidden=(64, 32), gmf=True),
}
FRACTION = 0.5


def _train(name: str, config: ModelConfig, task, epochs: int) -> keras.Model:
    model = build_ranker(task.features, config, name, seed=0)
    train_config = TrainConfig(max_epochs=epochs, batch_size=256, learning_rate=0.003)
    train.compile_ranker(model, train_config, task)
    train.fit(model, task, train_config, epochs, name, log=lambda line: None)
    return model


def _pruned(model: keras.Model, task) -> tuple[keras.Model, dict]:
    step = compress.get("prune_units")
    params = step.resolve({"fraction": FRACTION})
    narrow = step.apply(model, params, compress.StepContext(1, 1))
    finetune = TrainConfig(max_epochs=1, batch_size=256, learning_rate=0.0003)
    train.compile_ranker(narrow, finetune, task)
    train.fit(narrow, task, finetune, 1, f"{model.name} pruned", log=lambda line: None)
    return narrow, step.describe(narrow)


def _widths(model: keras.Model) -> str:
    return "-".join(str(layer.units) for layer in model.layers if compress.get("prune_units").eligible(layer))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="Training epochs before pruning (default: 2).")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 256], help="Batch sizes (default: 1 256).")
    parser.add_argument("--repeats", type=int, default=3, help="Interleaved rounds (default: 3).")
    parser.add_argument("--keep", type=Path, default=None, help="Keep the .tflite files here.")
    args = parser.parse_args(argv)

    task = make_task(synthetic.generate("smoke", 0), DataConfig(negatives_per_positive=2, eval_candidates=50), 0,
                     validation=True)
    with tempfile.TemporaryDirectory(prefix="structured.") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        task.save_eval(folder / "eval.npz")
        calibration = representative.dataset(task.representative_rows(500))
        files, facts = {}, {}
        for name, config in MODELS.items():
            dense = _train(name, config, task, args.epochs)
            narrow, described = _pruned(dense, task)
            for label, model in (("unpruned", dense), (f"units -{FRACTION:.0%}", narrow)):
                path = folder / f"{name}_{'pruned' if model is narrow else 'dense'}_int8.tflite"
                path.write_bytes(tflite.convert(model, "int8", calibration))
                files[(name, label)] = path
                facts[(name, label)] = {"widths": _widths(model), "params": model.count_params(),
                                        "inspect": inspect.inspect(path)}
            print(f"{name}: pruned {described}", file=sys.stderr)
        p50: dict[tuple, list[float]] = {}
        metrics: dict[tuple, dict] = {}
        for round_index in range(args.repeats):
            order = list(files)[round_index % len(files):] + list(files)[:round_index % len(files)]
            for key in order:
                rows = run.bench([files[key]], batches=args.batch, runs=200, warmup=20, min_seconds=0.5,
                                 accuracy=round_index == 0)
                for row in rows:
                    if row["status"] != "ok":
                        print(f"{files[key].name} batch {row['batch']}: {row['status']}", file=sys.stderr)
                        continue
                    p50.setdefault((*key, row["batch"]), []).append(row["latency_us"]["p50"])
                    if row["metrics"]:
                        metrics[key] = row["metrics"]
    print(f"prune_units at {FRACTION:.0%} of every hidden ReLU layer; int8, 1 thread, XNNPACK on; p50 µs = median of "
          f"{args.repeats} interleaved rounds [min–max]; AUC / NDCG@10 on the held-out rows (interpreter)")
    header = ["model", "hidden", "params", "dense KiB", "file KiB",
              *(f"p50 b={b}" for b in args.batch), "AUC", "NDCG@10"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for key, fact in facts.items():
        found = fact["inspect"]
        cells = [f"{key[0]} {key[1]}", fact["widths"], f"{fact['params']:,}", f"{found.bytes_by_kind['dense'] / 1024:.1f}",
                 f"{found.bytes / 1024:.1f}"]
        for batch in args.batch:
            values = p50.get((*key, batch), [])
            cells.append(f"{statistics.median(values):.1f} [{min(values):.1f}–{max(values):.1f}]" if values else "fail")
        m = metrics.get(key, {})
        cells += [f"{m['auc']:.4f}" if "auc" in m else "—", f"{m['ndcg@10']:.4f}" if "ndcg@10" in m else "—"]
        print("| " + " | ".join(cells) + " |")
    for name in MODELS:
        pairs = [((name, "unpruned"), (name, f"units -{FRACTION:.0%}"))]
        for before, after in pairs:
            dense_ratio = facts[after]["inspect"].bytes_by_kind["dense"] / facts[before]["inspect"].bytes_by_kind["dense"]
            line = [f"{name}: dense bytes x{dense_ratio:.2f}"]
            for batch in args.batch:
                ratios = [a / b for a, b in zip(p50.get((*after, batch), []), p50.get((*before, batch), []))]
                if ratios:
                    line.append(f"p50 b={batch} x{statistics.median(ratios):.2f} [{min(ratios):.2f}–{max(ratios):.2f}]")
            print("; ".join(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
