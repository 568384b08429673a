"""Bench rows + manifest -> report.md: what the user gained (bytes, latency) and lost (accuracy).

Every number comes from the bundle: device-side metrics and latency from bench rows,
Keras-side metrics and baselines from the manifest's stages. Ratios are against the teacher.
"""

from __future__ import annotations

from device_bench import table

METRICS = ("auc", "logloss", "hr@10", "ndcg@10")


def _fmt(value, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ratio(value, reference) -> str:
    if value is None or not reference:
        return "—"
    return f"{value / reference:.3f}"


def artifact_table(rows: list[dict], reference: str = "teacher.tflite") -> str:
    """One line per ok row: size and speed vs the reference artifact, accuracy and its ratio."""
    ref = next((r for r in rows if r["artifact"] == reference and r["status"] == "ok"), None)
    lines = [
        "| artifact | threads | batch | size KiB | smaller than teacher | p50 µs | speed-up | "
        "AUC | LogLoss | HR@10 | NDCG@10 | AUC / teacher | NDCG@10 / teacher | status |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        m = r["metrics"] or {}
        p50 = r["latency_us"]["p50"]
        same = ref and next(
            (x for x in rows if x["artifact"] == reference and x["threads"] == r["threads"] and x["batch"] == r["batch"]),
            None,
        )
        lines.append(
            "| "
            + " | ".join(
                [
                    r["artifact"],
                    str(r["threads"]),
                    str(r["batch"]),
                    _fmt(r["bytes"] / 1024 if r["bytes"] else None, 1),
                    f"{ref['bytes'] / r['bytes']:.1f}×" if ref and r["bytes"] else "—",
                    _fmt(p50, 1),
                    f"{same['latency_us']['p50'] / p50:.2f}×" if same and p50 else "—",
                    *(_fmt(m.get(k)) for k in METRICS),
                    _ratio(m.get("auc"), ref and ref["metrics"].get("auc")),
                    _ratio(m.get("ndcg@10"), ref and ref["metrics"].get("ndcg@10")),
                    r["status"],
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def stage_table(stages: list[dict]) -> str:
    lines = ["| model (Keras, held-out) | params | AUC | LogLoss | HR@10 | NDCG@10 | seconds |", "|---|---:|---:|---:|---:|---:|---:|"]
    for s in stages:
        m = s["metrics"]
        params = "—" if s.get("params") is None else f"{s['params']:,}"
        lines.append(
            f"| {s['name']} | {params} | " + " | ".join(_fmt(m.get(k)) for k in METRICS) + f" | {s.get('seconds', 0):.0f} |"
        )
    return "\n".join(lines)


def markdown(manifest: dict, rows: list[dict], seconds: float) -> str:
    env = table.environment()
    recipe = manifest["recipe"]
    steps = ", ".join(s["name"] for s in recipe["compress"]) or "none"
    parity = "\n".join(
        f"| {a['file']} | {a['mode']} | {a['parity']['max_abs_logit_diff']:.2e} | "
        f"{a['parity']['mean_abs_logit_diff']:.2e} | {a['parity'].get('top10_overlap', float('nan')):.3f} |"
        for a in manifest["artifacts"]
    )
    return f"""# edgerec bundle report

Recipe `{recipe['name']}` (seed {manifest['seed']}), data `{manifest['schema']['source']}`,
compression steps: {steps}. Built in {seconds:.0f} s.

## Artifacts on this machine

Measured by `edgerec bench` on {env.get('cpu') or env.get('machine')} ({env.get('cores')} cores), one child
process per artifact; accuracy is computed by the TFLite interpreter on the bundle's held-out `eval.npz`
({manifest['eval']['protocol']}).

{artifact_table(rows)}

## Every model of the build, scored in Keras on the same held-out data

The baselines show whether the teacher and the distilled student are worth it: the item-popularity
ranking, and the student architecture trained alone on labels (no teacher, no compression).

{stage_table(manifest['stages'])}

## Keras vs TFLite parity

Logits of the Keras model and of the written artifact on the same rows (candidate lists of the first users);
top-10 overlap is the mean share of each user's Keras top-10 that the artifact also ranks top-10.

| artifact | mode | max abs logit diff | mean abs logit diff | top-10 overlap |
|---|---|---:|---:|---:|
{parity}
"""
