"""The report's learning curves: one small panel per stage that trained, and a table beside them.

Every stage that trains records its curve in the manifest (`stages[*].curve`, written by
`edgerec.early_stopping.Curve.to_dict`): per epoch the training loss, the monitored metric on
the validation split and the seconds; the epoch whose weights were kept; why training ended.
The picture answers what the stage table cannot: did a stage stop for patience, or run into its
epoch cap still improving (more epochs might pay), and is the kept epoch a peak or noise.
A compression step's curve starts at epoch 0, the step before fine-tuning (a validation score,
no loss): when no fine-tuned epoch beats it, epoch 0 is the one kept (see `stages.compress`).

Stages without a curve (baselines, an ensemble of teachers, a stage restored from a state
older than curves) are left out; with none left there is no figure and no section.
matplotlib (the ``report`` extra) is imported only when drawing.
"""

from __future__ import annotations

from pathlib import Path

from device_bench import bundle as bundle_files
from edgerec import io
from edgerec.early_stopping import EPOCH_CAP, PATIENCE
from edgerec.report.cells import MISSING, fmt, label
from edgerec.report.cells import table as md_table

STOPPED = {PATIENCE: "patience", EPOCH_CAP: "epoch cap"}  # why a stage stopped, as the reader reads it
COLUMNS = 3  # panels per row of the figure
SHARE = 0.74  # of a panel's height each curve spans: validation the top, loss the bottom, so they never coincide
VALIDATION_COLOR, LOSS_COLOR = "tab:blue", "tab:orange"


def with_curves(stages: list[dict]) -> list[dict]:
    """The stages that recorded at least one epoch, in report order."""
    return [s for s in stages if (s.get("curve") or {}).get("epochs")]


def _kept(curve: dict) -> dict:
    """The epoch record whose weights the stage kept."""
    return next(e for e in curve["epochs"] if e["epoch"] == curve["best_epoch"])


def _stopped(curve: dict) -> str:
    return STOPPED.get(curve["stopped"], curve["stopped"])


def table(stages: list[dict]) -> str:
    """One line per stage with a curve: epochs run, why it stopped, the kept epoch and its validation value."""
    header = ["stage", "epochs run", "stopped by", "best epoch", "monitored", "best validation", "seconds"]
    lines = []
    for stage in with_curves(stages):
        curve = stage["curve"]
        monitor = curve["monitor"]
        lines.append([
            stage["name"], str(sum(e["epoch"] > 0 for e in curve["epochs"])), _stopped(curve), str(curve["best_epoch"]),
            label(monitor) if monitor else MISSING, fmt(_kept(curve).get("validation")),
            f"{sum(e['seconds'] for e in curve['epochs']):.1f}",
        ])
    return md_table(header, "lrlrlrr", lines)


def markdown(stages: list[dict], file: str | None) -> str:
    """The report's learning-curve section ("" when no stage has a curve); `file` is the drawn figure, if any."""
    if not with_curves(stages):
        return ""
    lines = [
        "## Learning curves",
        "",
        "Per trained stage and epoch: the monitored metric on the validation split (solid, left axis) and the",
        "training loss (dashed, right axis; a distilled stage's includes the teacher's term); the star marks the",
        "epoch whose weights were kept. A stage stopped by its epoch cap while still improving might gain from",
        f"more epochs. Seconds are the epochs' (training and validation). Every epoch's numbers are in "
        f"`{bundle_files.MANIFEST}` (`stages[*].curve`).",
        "",
    ]
    if file:
        lines += [f"![learning curves]({file})", ""]
    return "\n".join(lines + [table(stages), ""])


def _panel(ax, stage: dict) -> None:
    """One stage: validation on `ax`, the loss on a twin axis (on `ax` itself when nothing was monitored)."""
    from matplotlib.ticker import MaxNLocator

    curve = stage["curve"]
    epochs = [e["epoch"] for e in curve["epochs"]]
    monitor = curve["monitor"]
    loss_ax = ax.twinx() if monitor else ax
    trained = [e for e in curve["epochs"] if e["loss"] is not None]  # epoch 0 (a step before fine-tuning) has no loss
    loss_ax.plot([e["epoch"] for e in trained], [e["loss"] for e in trained], color=LOSS_COLOR, linestyle="--", marker=".")
    loss_ax.set_ylabel("training loss", color=LOSS_COLOR, fontsize=8)
    loss_ax.tick_params(labelsize=7)
    if monitor:
        kept = _kept(curve)
        ax.plot(epochs, [e["validation"] for e in curve["epochs"]], color=VALIDATION_COLOR, marker="o", markersize=3)
        ax.scatter([kept["epoch"]], [kept["validation"]], marker="*", s=160, color="gold", edgecolors="black",
                   zorder=4)
        ax.set_ylabel(f"{label(monitor)} (validation)", color=VALIDATION_COLOR, fontsize=8)
        _keep_to(ax, top=True)
        _keep_to(loss_ax, top=False)
    ax.axvline(curve["best_epoch"], color="gray", linestyle=":", alpha=0.7)
    ax.set_xlim(epochs[0] - 0.5, epochs[-1] + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel("epoch", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, alpha=0.3)
    ax.set_title(f"{stage['name']}\nstopped by {_stopped(curve)}, kept epoch {curve['best_epoch']} of {len(trained)}",
                 fontsize=9)


def _keep_to(ax, top: bool) -> None:
    """Widens `ax`'s y range so its data fill only the top (or bottom) SHARE of the panel.

    Two auto-scaled axes put a two-epoch rising validation and falling loss on the same
    diagonal, and one-epoch points on the same pixel; shifted apart, both stay readable.
    """
    low, high = ax.get_ylim()
    pad = (high - low) * (1 / SHARE - 1)
    if top:
        ax.set_ylim(low - pad, high)
    else:
        ax.set_ylim(low, high + pad)


def draw(stages: list[dict], path: Path) -> None:
    """The figure of every stage with a curve, `COLUMNS` panels a row, written atomically to `path`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = with_curves(stages)
    columns = min(COLUMNS, len(shown))
    rows = -(-len(shown) // columns)
    fig = Figure(figsize=(3.8 * columns, 3.0 * rows + 0.4), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, stage in zip(axes, shown):
        _panel(ax, stage)
    for ax in axes[len(shown):]:
        fig.delaxes(ax)
    fig.suptitle("Learning curves: validation (solid, left), training loss (dashed, right), ★ kept epoch",
                 fontsize=10)
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
