"""The report's retrieval section: the retrieval artifact over the whole catalogue, and each ranker
re-scoring its top-N (two-stage), every number measured by `edgerec bench` on the device.

Two-stage ratios are against the teacher re-ranking the same candidates, so they say what
the small ranker loses, not what retrieval loses; retrieval alone is the first line.
"""

from __future__ import annotations

from device_bench import bundle as bundle_files
from device_bench import metrics as metric_table
from edgerec.report.cells import MISSING, fmt, label
from edgerec.report.cells import table as md_table

TEACHER_FILE = bundle_files.artifact_file(bundle_files.TEACHER)


def _first_ok(rows: list[dict], file: str) -> dict | None:
    return next((r for r in rows if r["artifact"] == file and r["status"] == "ok"), None)


def section(manifest: dict, rows: list[dict]) -> str:
    """The markdown section, or "" when the bundle has no retrieval artifact that benched."""
    entry = next((a for a in manifest["artifacts"] if a.get("role") == bundle_files.RETRIEVAL), None)
    retrieval = entry and _first_ok(rows, entry["file"])
    if retrieval is None:
        return ""
    facts = entry.get("retrieval", {})
    catalogue, reranked = metric_table.retrieval_keys(metric_table.CATALOGUE), metric_table.retrieval_keys(metric_table.RERANKED)
    m = retrieval["metrics"]
    alone = md_table(
        ["artifact", "size KiB", "K", "catalogue items", "threads", "batch (users)", "recommend p50 µs",
         *map(label, catalogue)],
        "l" + "r" * (6 + len(catalogue)),
        [[entry["file"], fmt(retrieval["bytes"] / 1024, 1), str(facts.get("top_k", MISSING)),
          str(facts["num_items"] - 1) if "num_items" in facts else MISSING, str(retrieval["threads"]),
          str(retrieval["batch"]), fmt(retrieval["latency_us"]["p50"], 1), *(fmt(m.get(k), 4) for k in catalogue)]],
    )
    teacher = _first_ok(rows, TEACHER_FILE)
    teacher_metrics = teacher["metrics"] if teacher else {}
    depth = metric_table.TWO_STAGE_DEPTH
    lines = [[f"{entry['file']} alone", fmt(m.get("full_recall@10"), 4), fmt(m.get("full_ndcg@10"), 4), MISSING]]
    seen = set()
    for row in rows:
        if row["status"] != "ok" or row["artifact"] in seen or not any(k in row["metrics"] for k in reranked):
            continue
        seen.add(row["artifact"])
        ndcg, reference = row["metrics"].get(reranked[-1]), teacher_metrics.get(reranked[-1])
        lines.append([f"top-{depth} re-ranked by {row['artifact']}", *(fmt(row["metrics"].get(k), 4) for k in reranked),
                      f"{ndcg / reference:.3f}" if ndcg is not None and reference else MISSING])
    two_stage = md_table(["pipeline (full catalogue)", "recall@10", "NDCG@10", "NDCG@10 / teacher re-ranking"],
                         "lrrr", lines)
    host = [[s["name"], *(fmt(s["metrics"].get(k), 4) for k in catalogue)]
            for s in manifest.get("stages", []) if any(k in s["metrics"] for k in catalogue)]
    against = md_table(["model (on the build machine)", *map(label, catalogue)], "l" + "r" * len(catalogue), host)
    return f"""
## Retrieval: the whole catalogue on this machine

`{entry['file']}` returns the top K items of the catalogue for a user in one call (`recommend`:
user tower, one int8 matrix product over the baked item vectors, TOPK_V2). Accuracy is computed
through its `score` signature on every held-out interaction, ranked among every item the user
never interacted with (not among the sampled candidates of the table above); latency is one
`recommend` call.

{alone}

The same rows and exclusions scored on the build machine: the baselines ranking the whole catalogue
(popularity, and ALS and BPR by their factors' dot product) and the retrieval student in Keras
(before int8):

{against}

Two-stage: each ranker of the bundle re-scores the retrieval's top {depth} per held-out interaction
(the target counts as a miss when retrieval did not return it), on the device:

{two_stage}
"""
