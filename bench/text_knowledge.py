"""What item text gives a teacher, and how much of it an id-only int8 student keeps.

    python bench/text_knowledge.py --preset lastfm --seeds 0,1,2
    python bench/text_knowledge.py --data prepared/ml-latest-small   # a prepared dataset with item text

The preset is the one whose tail can be measured: on `lastfm` (the Last.fm-2K shape, three items in
four seen at most 5 times) 376 of the 1,558 held-out lists (seed 0) end on a tail item; on `mllatest`
44 of 610, too few to separate a gain from seed noise; the `default` preset (MovieLens-1M-sized,
not fitted to a public profile) has a single item with at most 5 interactions, so no tail at all.

Per seed, on the synthetic preset with its item texts (encoded by the recipe's `data.text_encoder`,
`edgerec.text`), or on a dataset `edgerec data prepare` wrote with item text or `--item-embeddings`
(its stored vectors used as they are), one task and:
- two teachers, the recipe's with and without the frozen-text tower (`teacher.item_text`);
- from each, the recipe's student distilled with and without weight transfer
  (`distill.weight_transfer: pca` / `none`), then converted to full-int8 TFLite (`student_int8`,
  calibrated on training rows as a build does) and scored through the interpreter;
- the student trained alone, for reference.
Every model is scored on the held-out lists, split by the held-out item's training popularity
(`device_bench.popularity`: head, torso and tail by training interactions), and the script prints
one table row per (model, seed), then the mean and standard deviation over seeds, and the two
checks: the text teacher's tail NDCG@10 gain over the id-only teacher against the seed std of
that gain, and the share of it the int8 student distilled from the text teacher (with transfer)
keeps over the int8 student distilled from the id-only teacher (with and without transfer).
Tail NDCG@10 is the mean over held-out lists whose item is in the tail; a group's list count is
printed so a thin group is seen as thin.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

from device_bench import popularity

GROUPS = tuple(name for name, _, _ in popularity.GROUPS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="default")
    parser.add_argument("--preset", default="lastfm", help="data.synthetic_size")
    parser.add_argument("--data", type=Path, help="a prepared dataset (edgerec data prepare) instead of the preset")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--json", type=Path, help="also write every row here")
    args = parser.parse_args()
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        rows += run_seed(args.recipe, args.preset, args.data, seed)
    print_tables(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


def run_seed(recipe_name: str, preset: str, data: Path | None, seed: int) -> list[dict]:
    from converters import parity, representative, tflite
    from edgerec.popularity import of_task
    from edgerec._keras import tf
    from edgerec.distill.teacher_logits import TeacherLogits
    from edgerec.recipe import load as load_recipe
    from edgerec.sequence import CheckpointedRunner, distilled_stage, train_alone_stage, train_teacher
    from edgerec.stages import load_task

    tf.config.experimental.enable_op_determinism()
    base = load_recipe(recipe_name)
    base = dataclasses.replace(base, seed=seed, data=dataclasses.replace(base.data, synthetic_size=preset))
    with_text = dataclasses.replace(base, teacher=dataclasses.replace(base.teacher, item_text=True))
    log = lambda message: print(message, flush=True)  # noqa: E731
    task = load_task(with_text, data, log)
    runner = CheckpointedRunner(None, task, seed, log)
    calibration = representative.dataset(task.representative_rows(base.representative_samples))
    rows = []

    def record(model_name: str, kind: str, teacher: str, transfer: str, stage, model) -> None:
        row = {"seed": seed, "model": model_name, "kind": kind, "teacher": teacher, "transfer": transfer,
               "auc": stage.metrics["auc"], "ndcg@10": stage.metrics["ndcg@10"], "groups": stage.facts["by_popularity"]}
        rows.append(row)
        if kind == "student":
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "student_int8.tflite"
                path.write_bytes(tflite.convert(model, "int8", calibration))
                groups = of_task(lambda features: parity.tflite_logits(path, features), task)
                rows.append({**row, "kind": "student_int8", "auc": None,
                             "ndcg@10": _overall(groups), "groups": groups})
        print(f"  seed {seed} {model_name}: " + ", ".join(
            f"{g} {rows[-1]['groups'][g].get('ndcg@10', float('nan')):.4f}" for g in GROUPS), flush=True)

    t0 = time.perf_counter()
    scratch, stage = train_alone_stage(runner, task, base, "student_scratch", base.student, base.student_training, log)
    record("student alone", "student", "-", "-", stage, scratch)
    for teacher_name, recipe in (("id-only", base), ("text", with_text)):
        teacher, stages = train_teacher(recipe, task, runner.under(f"{teacher_name}/"), log)
        record(f"teacher {teacher_name}", "teacher", teacher_name, "-", stages[-1], teacher)
        logits = TeacherLogits(teacher, task)
        for transfer in ("none", "pca"):
            distilling = dataclasses.replace(recipe, distill=dataclasses.replace(recipe.distill, weight_transfer=transfer))
            student, stage = distilled_stage(runner, teacher, logits, task, distilling, "student", base.student,
                                             f"student from the {teacher_name} teacher, transfer {transfer}", log)
            record(f"student <- {teacher_name}, transfer {transfer}", "student", teacher_name, transfer, stage, student)
    print(f"seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    return rows


def _overall(groups: dict) -> float:
    """NDCG@10 over every list, from the per-group means weighted by their list counts."""
    total = sum(g["lists"] for g in groups.values())
    return sum(g["lists"] * g.get("ndcg@10", 0.0) for g in groups.values()) / total


def print_tables(rows: list[dict]) -> None:
    print("\n| model | kind | seed | NDCG@10 | head | torso | tail | tail lists |\n|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        g = r["groups"]
        print(f"| {r['model']} | {r['kind']} | {r['seed']} | {r['ndcg@10']:.4f} | "
              + " | ".join(f"{g[name].get('ndcg@10', float('nan')):.4f}" for name in GROUPS) + f" | {g['tail']['lists']} |")
    keys = sorted({(r["model"], r["kind"]) for r in rows}, key=lambda k: [(r["model"], r["kind"]) for r in rows].index(k))
    tails = {key: [r["groups"]["tail"].get("ndcg@10", float("nan")) for r in rows if (r["model"], r["kind"]) == key]
             for key in keys}
    print("\n| model | kind | tail NDCG@10 mean | std over seeds |\n|---|---|---:|---:|")
    for (model, kind), values in tails.items():
        print(f"| {model} | {kind} | {statistics.mean(values):.4f} | {_std(values):.4f} |")
    gain = _paired(rows, ("teacher text", "teacher"), ("teacher id-only", "teacher"))
    verdict = ("one seed: no spread to compare with" if len(gain) < 2 else
               f"{'beats' if statistics.mean(gain) > _std(gain) else 'does not beat'} the seed std")
    print(f"\ntext teacher's tail NDCG@10 gain over the id-only teacher: {statistics.mean(gain):+.4f} "
          f"(std over seeds {_std(gain):.4f}): {verdict}")
    for reference in ("none", "pca"):
        kept = _paired(rows, ("student <- text, transfer pca", "student_int8"),
                       (f"student <- id-only, transfer {reference}", "student_int8"))
        share = statistics.mean(kept) / statistics.mean(gain) if statistics.mean(gain) else float("nan")
        print(f"student_int8 from the text teacher (transfer pca) over the one from the id-only teacher (transfer "
              f"{reference}): {statistics.mean(kept):+.4f} tail NDCG@10, {share:.0%} of the teachers' gain")


def _paired(rows: list[dict], a: tuple[str, str], b: tuple[str, str]) -> list[float]:
    """Per seed, tail NDCG@10 of model a minus model b."""
    tail = {(r["model"], r["kind"], r["seed"]): r["groups"]["tail"].get("ndcg@10", float("nan")) for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    return [tail[(*a, s)] - tail[(*b, s)] for s in seeds]


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


if __name__ == "__main__":
    main()
