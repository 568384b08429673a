"""search.md from the result dict of `edgerec.search.search` (what search.json holds)."""

from __future__ import annotations

from device_bench.rows import OK
from edgerec.report.cells import MISSING, label, labelled, table
from edgerec.search.widths import describe as describe_width


def markdown(result: dict, picture: str = "", note: str | None = None) -> str:
    """search.md: the protocol, the verdict, the widths searched, the size/accuracy front and one row
    per trial (smallest first), the chosen one marked.

    `picture` is the markdown of search.png when it was drawn; `note` says why it was not.
    """
    metrics = result["metrics"]
    ordered = sorted(result["trials"], key=lambda t: (t["bytes"] is None, t["bytes"] or 0))
    chosen = result["trials"][result["chosen"]]
    verdict = (f"Chosen: trial {chosen['id']}, {chosen['chain']} on width {describe_width(chosen['width'])}, "
               f"{chosen['bytes']} bytes: it meets every clause."
               if result["met"] else
               f"**No trial meets the target.** The bundle ships the closest one, trial {chosen['id']} "
               f"({chosen['chain']} on width {describe_width(chosen['width'])}), which does NOT meet it.")
    teacher = labelled(result["teacher_metrics"])
    bounds = ", ".join(f"{c['clause']} → {label(c['metric'])} {c['op']} {c['threshold']:.4f}" for c in result["clauses"])
    trainings = sum(w["student_trainings"] for w in result["widths"])
    return f"""# Search for the smallest int8 student meeting `{result['target']}`

Every number is the int8 TFLite model's, measured by the interpreter on the validation split carved
from the training data ({result['validation']}), never on the held-out data the bundle reports; p50 at
batch 1, 1 thread, in the build's process (a ranking aid; `bench.json` has the real measurement).
Teacher on validation: {teacher}. Bounds: {bounds}.
{len(result['trials'])} trials over {len(result['widths'])} student width(s): each width's int8 student and
sensitivity probes ({len(result['sensitivity'])} in all, no fine-tuning, not counted), and
{result['counted_trials']} counted trials of a budget of {result['budget']}: {trainings} student trainings
and {result['counted_trials'] - trainings} fine-tuned chains. Front = on the Pareto front over bytes, p50
and every metric.

{verdict}

## Student widths

Multipliers of the recipe student's embedding and hidden sizes (capped by the teacher's). A wider
width's students (trained alone and distilled at each distillation candidate, the best on validation
kept) cost one trial each.

{width_table(result)}

## The size/accuracy front

{trial_table([t for t in ordered if t["on_front"]], result, describe_width)}

## Every trial

{trial_table(ordered, result)}

{picture}{'_' + note + '._' if note else ''}
"""


def width_table(result: dict) -> str:
    """One row per searched width: its sizes, what it cost, its shipped student, its trials."""
    rows = []
    for w in result["widths"]:
        choice = next((c["candidate"] for c in w["student_choice"] or () if c["chosen"]), MISSING)
        own = [t for t in result["trials"] if t["id"] in w["trials"]]
        meeting = [t["bytes"] for t in own if t["meets"]]
        rows.append([f"x{w['multiplier']}", str(w["embedding_dim"]), str(w["hidden"]), choice,
                     str(w["student_trainings"]), str(w["chains"]), str(len(own)),
                     str(sum(t["on_front"] for t in own)), str(min(meeting)) if meeting else "none"])
    header = ["width", "embedding", "hidden", "student", "student trainings", "fine-tuned chains", "trials",
              "on the front", "smallest meeting (bytes)"]
    return table(header, "lrllrrrrr", rows)


def trial_table(trials: list[dict], result: dict, width=lambda w: f"x{w['multiplier']}") -> str:
    """One row per trial: `width(trial["width"])`, chain, bytes, p50, every metric, whether it meets and
    is on the front."""
    metrics = result["metrics"]
    rows = []
    for t in trials:
        mark = " **← chosen**" if t["id"] == result["chosen"] else ""
        if t["status"] == OK:
            cells = [str(t["bytes"]), f"{t['p50_us']:.1f}", *(f"{t['metrics'][m]:.4f}" for m in metrics),
                     "yes" if t["meets"] else "no", "yes" if t["on_front"] else ""]
        else:
            cells = [MISSING, MISSING, *(MISSING for _ in metrics), t["status"], ""]
        rows.append([f"{t['id']}{mark}", width(t["width"]), t["kind"], t["chain"], *cells])
    header = ["trial", "width", "kind", "chain", "bytes", "p50 µs", *map(label, metrics), "meets", "front"]
    return table(header, "rlllrr" + "r" * len(metrics) + "ll", rows)
