"""ablation.md from the result dict of `edgerec.ablation` (what ablation.json holds)."""

from __future__ import annotations

from device_bench import metrics as metric_table
from edgerec.report.cells import NOT_APPLICABLE, label, mean_std, table


def markdown(result: dict) -> str:
    """ablation.md: the caption (protocol), one row per arm plus the teacher, the notes and the verdict.

    The scratch arm is the one without a method; every metric of the table gets a column, "n/a"
    where the task cannot give it.
    """
    metrics, gap = result["metrics"], result["gap_metric"]
    methods = {a["arm"]: a["method"] for a in result["arms"]}
    scratch = next(a["arm"] for a in result["arms"] if a["method"] is None)
    protocol, training = result["protocol"], result["protocol"]["student_training"]
    seeds = protocol["seeds"]
    keys = metric_table.keys()
    teacher = result["teacher"]["metrics"]
    rows = [["teacher", *(f"{teacher[k]:.4f}" if k in metrics else NOT_APPLICABLE for k in keys), "100% (by definition)"]]
    for s in result["summary"]:
        name = scratch + " (labels only)" if s["arm"] == scratch else methods[s["arm"]]
        cells = [mean_std(s["metrics"][k]) if k in metrics else NOT_APPLICABLE for k in keys]
        closed = "0% (by definition)" if s["arm"] == scratch else mean_std(s["gap_closed"], percent=True)
        rows.append([name, *cells, closed])
    lines = table(["arm", *map(label, keys), f"gap closed ({label(gap)})"], "l" + "r" * (len(keys) + 1), rows)
    notes = "".join(f"\n- {note}" for note in result["notes"]) + ("\n" if result["notes"] else "")
    return f"""# Distillation ablation

Recipe `{result['recipe']['name']}`, data `{result['data']}` ({protocol['task']}).
Task fixed by recipe seed {result['recipe']['seed']}; teacher {protocol['teacher']}.
Per seed ({', '.join(map(str, seeds))}): the student, initialised from that seed, trained up to {training['max_epochs']} epochs (best on validation)
(batch {training['batch_size']}, Adam lr {training['learning_rate']}) on labels alone (scratch) or under the frozen
teacher with one method (weight 1.0) plus the hard-label term (alpha {protocol['alpha']}, temperature
{protocol['temperature']}). Mean ± sample std over {len(seeds)} seed(s); gap closed =
(arm − scratch) / (teacher − scratch) on {label(gap)}, per seed, then mean ± std. Wall time {result['seconds']:.0f} s.

{lines}
{notes}
**Verdict:** {result['verdict']['text']}
"""
