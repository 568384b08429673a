"""search.md from the result dict of `edgerec.search.search` (what search.json holds)."""

from __future__ import annotations

from device_bench.rows import OK
from edgerec.report.cells import MISSING, label, labelled, table


def markdown(result: dict, picture: str = "", note: str | None = None) -> str:
    """search.md: the protocol, the verdict and one row per trial (smallest first), the chosen one marked.

    `picture` is the markdown of search.png when it was drawn; `note` says why it was not.
    """
    metrics = result["metrics"]
    rows = []
    for t in sorted(result["trials"], key=lambda t: (t["bytes"] is None, t["bytes"] or 0)):
        mark = " **← chosen**" if t["id"] == result["chosen"] else ""
        if t["status"] == OK:
            cells = [str(t["bytes"]), f"{t['p50_us']:.1f}", *(f"{t['metrics'][m]:.4f}" for m in metrics),
                     "yes" if t["meets"] else "no", "yes" if t["on_front"] else ""]
        else:
            cells = [MISSING, MISSING, *(MISSING for _ in metrics), t["status"], ""]
        rows.append([f"{t['id']}{mark}", t["kind"], t["chain"], *cells])
    header = ["trial", "kind", "chain", "bytes", "p50 µs", *map(label, metrics), "meets", "front"]
    trials = table(header, "rllrr" + "r" * len(metrics) + "ll", rows)
    chosen = result["trials"][result["chosen"]]
    verdict = (f"Chosen: trial {chosen['id']}, {chosen['chain']}, {chosen['bytes']} bytes: it meets every clause."
               if result["met"] else
               f"**No trial meets the target.** The bundle ships the closest one, trial {chosen['id']} "
               f"({chosen['chain']}), which does NOT meet it.")
    teacher = labelled(result["teacher_metrics"])
    bounds = ", ".join(f"{c['clause']} → {label(c['metric'])} {c['op']} {c['threshold']:.4f}" for c in result["clauses"])
    return f"""# Search for the smallest int8 student meeting `{result['target']}`

Every number is the int8 TFLite model's, measured by the interpreter on the validation split carved
from the training data ({result['validation']}), never on the held-out data the bundle reports; p50 at
batch 1, 1 thread, in the build's process (a ranking aid; `bench.json` has the real measurement).
Teacher on validation: {teacher}. Bounds: {bounds}.
{len(result['trials'])} trials: the int8 student, {len(result['sensitivity'])} sensitivity probes (no fine-tuning),
and {result['counted_trials']} fine-tuned chains of a budget of {result['budget']}. Front = on the Pareto front over
bytes, p50 and every metric.

{verdict}

{trials}

{picture}{'_' + note + '._' if note else ''}
"""
