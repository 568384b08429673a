"""Candidate-group distillation at several weights, alone and next to soft labels, on one teacher.

    python bench/distill_weights.py --recipe default --seeds 0,1

Why: a candidate-group loss (`ranking`, `listwise`) is a mean over the ~5 groups (100 items)
that ride along each 4,096-row batch. Unscaled, at weight 1.0 a group item weighed about a
thousand training rows and both methods cut NDCG@10 below the student trained alone; the loss
now scales group terms by group items per row (`losses.WeightedSum`), so weight 1.0 is per-item
parity with a row. This script trains the teacher once and prints, per seed, AUC and NDCG@10
for scratch, `logits`, and the group methods at parity, at 4x parity and next to `logits`, so
the choice of weight is measured next to the arms it competes with, in one run.
"""

from __future__ import annotations

import argparse
import time

from edgerec.recipe import DistillMethod
from edgerec.recipe import load as load_recipe

VARIANTS = {
    "logits": (DistillMethod("logits", 1.0),),
    "listwise 1": (DistillMethod("listwise", 1.0),),
    "listwise 4": (DistillMethod("listwise", 4.0),),
    "ranking 1": (DistillMethod("ranking", 1.0),),
    "logits + listwise 1": (DistillMethod("logits", 1.0), DistillMethod("listwise", 1.0)),
    "logits + ranking 1": (DistillMethod("logits", 1.0), DistillMethod("ranking", 1.0)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="default")
    parser.add_argument("--seeds", default="0,1")
    args = parser.parse_args()

    from edgerec._keras import tf
    from edgerec.distill.teacher_logits import TeacherLogits
    from edgerec.models.zoo import build_ranker
    from edgerec.sequence import CheckpointedRunner, train_teacher
    from edgerec.stages import distill, load_task, measure, train_alone

    tf.config.experimental.enable_op_determinism()
    recipe = load_recipe(args.recipe)
    quiet = lambda message: None  # noqa: E731
    task = load_task(recipe, None, quiet)
    teacher, teacher_stages = train_teacher(recipe, task, CheckpointedRunner(None, task, recipe.seed, quiet), quiet)
    rows = [("teacher", "-", teacher_stages[-1].metrics)]
    cache = TeacherLogits(teacher, task)
    for seed in (int(s) for s in args.seeds.split(",")):
        student = build_ranker(task.features, recipe.student, "student", seed=seed)
        train_alone(student, task, recipe.student, recipe.student_training, "scratch", quiet)
        rows.append(("scratch", seed, measure("scratch", student, task, time.perf_counter(), quiet).metrics))
        for name, methods in VARIANTS.items():
            student = build_ranker(task.features, recipe.student, "student", seed=seed)
            distill(teacher, student, task, recipe, recipe.student_training.max_epochs, name, quiet, methods=methods,
                    teacher_logits=cache)
            rows.append((name, seed, measure(name, student, task, time.perf_counter(), quiet).metrics))
            print(f"{name:<24} seed {seed}: ndcg@10 {rows[-1][2]['ndcg@10']:.4f}", flush=True)

    print("\n| variant | seed | AUC | NDCG@10 |\n|---|---:|---:|---:|")
    for name, seed, metrics in rows:
        print(f"| {name} | {seed} | {metrics['auc']:.4f} | {metrics['ndcg@10']:.4f} |")


if __name__ == "__main__":
    main()
