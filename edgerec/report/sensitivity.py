"""sensitivity.md (and the table `edgerec compress --sensitivity` prints) from the result dict of
`edgerec.search.sensitivity` (what sensitivity.json holds)."""

from __future__ import annotations

from typing import Sequence

from edgerec.report.cells import MISSING, label, labelled
from edgerec.report.cells import table as md_table
from edgerec.search import PRECISION


def primary_metrics(metric_names: Sequence[str]) -> tuple[str, ...]:
    """The metrics the table shows: AUC and NDCG@10 when ranking, AUC and LogLoss for CTR."""
    return ("auc", "ndcg@10") if "ndcg@10" in metric_names else ("auc", "logloss")


def finetune_note(epochs: int) -> str:
    if epochs == 0:
        return ("no fine-tuning (--finetune-epochs 0, the quick probe): each step only calibrates at learning rate 0, "
                "so a drop here is an upper bound of what fine-tuning would leave")
    return f"each probe fine-tuned {epochs} epoch(s) under the frozen teacher"


def table(result: dict) -> str:
    """One row per probe under the uncompressed int8 student's: bytes saved and the drop of each shown metric."""
    shown = primary_metrics(result["metrics"])
    base = result["baseline"]
    rows = [["(none)", "—", "int8 student", str(base["bytes"]), "0", *("0" for _ in shown), "ok"]]
    for r in result["rows"]:
        setting = ", ".join(f"{k}={v}" for k, v in r["setting"].items()) or (
            "float32" if r["step"] == PRECISION else "default")
        if r["status"] == "ok":
            cells = [str(r["bytes"]), f"{r['bytes_saved']:+d}", *(f"{r['drop'][m]:+.4f}" for m in shown)]
        else:
            cells = [MISSING, MISSING, *(MISSING for _ in shown)]
        rows.append([r["step"], r["layer"], setting, *cells, r["status"]])
    header = ["step", "layer", "setting", "bytes", "bytes saved", *(f"{label(m)} drop" for m in shown), "status"]
    return md_table(header, "lllrr" + "r" * len(shown) + "l", rows)


def markdown(result: dict) -> str:
    base = result["baseline"]
    return f"""# Sensitivity of the distilled student, one layer at a time

Recipe `{result['recipe']['name']}`, data `{result['data']}`. Every number is measured on the int8 TFLite model
by the interpreter, on the validation split carved from the training data ({result['validation']}); the
held-out data is not used. Drop = how much worse than the uncompressed int8 student (positive = worse;
for LogLoss a rise); bytes saved = its file size minus the probe's (negative: the probe is larger).
Steps: {', '.join(result['steps'])}; {finetune_note(result['finetune_epochs'])}. Wall time {result['seconds']:.0f} s.

Teacher (Keras, validation): {labelled(result['teacher_metrics'])}.
Uncompressed int8 student: {base['bytes']} bytes, p50 {base['p50_us']:.1f} µs, {labelled(base['metrics'])}.

{table(result)}
"""
