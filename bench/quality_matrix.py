"""The default recipe on every data preset: baselines, teacher, students and the int8 artifact in one table.

    python bench/quality_matrix.py [--recipe default] [--presets ml100k,mllatest,lastfm,criteo8k,default]
                                   [--seeds 0,1,2] [--out DIR] [--json FILE]

Why: recipe defaults must hold across data regimes, not on one synthetic set. Each preset
(`edgerec.data.synthetic`, shaped after public datasets) is built with the same recipe, only
`data.synthetic_size` and `seed` changed, through the real `edgerec build` command in a fresh
process. Per (preset, seed) the row gives held-out numbers from the bundle: Keras-side for the
baselines and the trained stages, on-device (`bench.json`) for `student_int8`. Then per preset
the means over seeds, and the goals of issue 15:
- the teacher beats the strongest baseline (NDCG@10 when the task ranks, else AUC);
- the shipped student >= the student trained alone (mean over seeds);
- student_int8 >= 0.99x the teacher's AUC and >= 0.97x its NDCG@10.
Exit status 1 if a goal is missed on any preset.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

CLI = [sys.executable, "-c", "from edgerec.cli import main; main()"]
TEACHER, ALONE = "teacher", "student trained alone (baseline)"
GOALS = (("auc", 0.99), ("ndcg@10", 0.97))


def build(recipe: str, preset: str, seed: int, out: Path) -> float:
    """`edgerec build` of `recipe` with the preset and seed swapped in; returns its wall seconds."""
    from edgerec.recipe import load

    raw = load(recipe).to_dict()
    raw["data"]["synthetic_size"], raw["seed"], raw["name"] = preset, seed, f"{raw['name']}-{preset}-{seed}"
    path = out.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    start = time.perf_counter()
    proc = subprocess.run([*CLI, "build", "--recipe", str(path), "--out", str(out), "--force"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"build of {preset} seed {seed} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def row(bundle: Path, seconds: float) -> dict:
    """The held-out numbers of one bundle, by role."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    stages = {s["name"]: s["metrics"] for s in manifest["stages"]}
    choice = manifest["student_choice"]
    # the distilled student: the best on validation of the distillation candidates
    distilled = max((c for c in choice["candidates"] if c["settings"] is not None),
                    key=lambda c: c["validation"][choice["metric"]])
    shipped = next(a for a in manifest["artifacts"] if a["file"] == "student.tflite")
    rows = [r for r in json.loads((bundle / "bench.json").read_text())["rows"] if r["threads"] == 1 and r["status"] == "ok"]
    device = {r["artifact"]: r["metrics"] for r in rows}
    size = {r["artifact"]: r["bytes"] for r in rows}
    return {
        "metric": choice["metric"],
        "baseline": manifest["baselines"],  # the strongest baseline, as the build judged it
        "teacher": stages[TEACHER] if TEACHER in stages else next(m for n, m in stages.items() if n.startswith(TEACHER)),
        "alone": stages[ALONE],
        "distilled": stages[distilled["stage"]],
        "shipped": shipped["keras_metrics"],
        "chosen": next(c["candidate"] for c in choice["candidates"] if c["chosen"]),
        "teacher_device": device["teacher.tflite"],
        "int8": device["student_int8.tflite"],
        "smaller": size["teacher.tflite"] / size["student_int8.tflite"],
        "seconds": round(seconds, 1),
    }


def _mean(values: list[float]) -> float:
    return statistics.fmean(values)


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(preset: str, runs: list[dict]) -> dict:
    """Means over seeds and the goals' verdicts for one preset."""
    metric = runs[0]["metric"]
    value = lambda role, key=metric: [r[role][key] for r in runs if r[role].get(key) is not None]  # noqa: E731
    strongest = sorted({r["baseline"]["strongest"] for r in runs})
    out = {"preset": preset, "metric": metric, "seeds": len(runs), "strongest_baseline": " / ".join(strongest),
           "baseline": _mean([r["baseline"]["value"] for r in runs]),
           "seconds": _mean([r["seconds"] for r in runs]), "smaller": _mean([r["smaller"] for r in runs])}
    for role in ("teacher", "alone", "distilled", "shipped", "int8"):
        out[role] = _mean(value(role))
        out[f"{role}_std"] = _std(value(role))
    ratios = {}
    for key, floor in GOALS:
        teacher, int8 = value("teacher_device", key), value("int8", key)
        if teacher and int8:
            ratios[key] = _mean([i / t for i, t in zip(int8, teacher)])
    out["int8_ratios"] = ratios
    out["goals"] = {
        "teacher beats the strongest baseline": out["teacher"] > out["baseline"],
        "shipped student >= student alone": out["shipped"] >= out["alone"],
        **{f"int8 {key} >= {floor}x teacher": ratios[key] >= floor for key, floor in GOALS if key in ratios},
    }
    out["chosen"] = [r["chosen"] for r in runs]
    return out


def table(summaries: list[dict]) -> str:
    lines = ["| preset | metric | strongest baseline | teacher | student alone | distilled | shipped (chosen) "
             "| student_int8 | × smaller | int8/teacher AUC | int8/teacher NDCG@10 | build s |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in summaries:
        cell = lambda role: f"{s[role]:.4f} ± {s[role + '_std']:.4f}"  # noqa: E731
        chosen = "; ".join(sorted(set(s["chosen"])))
        ratio = lambda key: f"{s['int8_ratios'][key]:.3f}" if key in s["int8_ratios"] else "n/a"  # noqa: E731
        lines.append(
            f"| {s['preset']} | {s['metric']} | {s['strongest_baseline']} {s['baseline']:.4f} "
            f"| {cell('teacher')} | {cell('alone')} | {cell('distilled')} | {cell('shipped')} ({chosen}) "
            f"| {cell('int8')} | {s['smaller']:.1f} | {ratio('auc')} | {ratio('ndcg@10')} | {s['seconds']:.0f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="default")
    parser.add_argument("--presets", default="ml100k,mllatest,lastfm,criteo8k,default")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", type=Path, help="keep the bundles here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="write every run and summary here")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory(prefix="edgerec-quality.") as scratch:
        root = args.out or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        runs, summaries = {}, []
        for preset in args.presets.split(","):
            runs[preset] = []
            for seed in seeds:
                out = root / f"{preset}-{seed}"
                seconds = build(args.recipe, preset, seed, out)
                runs[preset].append(row(out, seconds))
                r = runs[preset][-1]
                print(f"{preset} seed {seed}: teacher {r['teacher'][r['metric']]:.4f}, alone "
                      f"{r['alone'][r['metric']]:.4f}, shipped {r['shipped'][r['metric']]:.4f} ({r['chosen']}), "
                      f"int8 {r['int8'][r['metric']]:.4f} ({seconds:.0f}s)", flush=True)
            summaries.append(summarize(preset, runs[preset]))
    print(table(summaries))
    missed = [(s["preset"], goal) for s in summaries for goal, ok in s["goals"].items() if not ok]
    for preset, goal in missed:
        print(f"MISSED on {preset}: {goal}")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "summaries": summaries}, indent=2))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
