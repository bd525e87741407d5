"""Working-memory figures: accuracy grid, held-out curves, accuracy per position and firing per phase."""
import os
import warnings

import numpy as np

from pdlf_brian.analysis import figures
from pdlf_brian.analysis.figures import close, pyplot, to_jsonable

LEARNERS = ("plastic", "weights")


def _find(summary, L, d, learner):
    return next((r for r in summary if (r["L"], r["Lat"], r["learner"]) == (L, d, learner)), None)


def budget_text(summary):
    """One line naming the budget of the rows: seeds, generations, population, sequences per generation."""
    return figures.budget_text(summary, ("batch", "{} sequences per generation"))


def _learners(summary):
    """The learners of LEARNERS that have rows in ``summary`` (a grid may hold one learner only)."""
    return [name for name in LEARNERS if any(r["learner"] == name for r in summary)]


def _width(n_panels):
    """Figure width for ``n_panels`` columns, wide enough for the budget line of the title."""
    return max(4 * n_panels, 6.5)


def _majority(summary, L):
    return float(np.mean([r["majority_baseline"] for r in summary if r["L"] == L]))


def accuracy_grid_figure(summary):
    """Held-out accuracy per (L, Lat), bars per learner (mean +- std over seeds), after-reset markers.

    Parameters
    ----------
    summary : list of dict
        Grid summary rows (``L``, ``Lat``, ``learner``, ``accuracy_mean``, ``accuracy_std``,
        ``accuracy_after_reset_mean``, ``majority_baseline``).

    Returns
    -------
    fig : matplotlib.figure.Figure
    numbers : dict
        ``{"L": [...], "Lat": [...], "learners": {learner: {"accuracy_mean", "accuracy_std",
        "after_reset_mean"}}, "majority_bit": [...]}``, one list entry per L of lists over Lat.
    """
    plt = pyplot()
    Ls = sorted({r["L"] for r in summary})
    Lats = sorted({r["Lat"] for r in summary})
    numbers = {"L": Ls, "Lat": Lats, "learners": {}, "majority_bit": []}
    fig, axes = plt.subplots(1, len(Ls), figsize=(_width(len(Ls)), 3.6), sharey=True, squeeze=False)
    learners = _learners(summary)
    for ax, L in zip(axes[0], Ls):
        for k, learner in enumerate(learners):
            sel = [_find(summary, L, d, learner) for d in Lats]
            x = np.arange(len(Lats)) + (k - (len(learners) - 1) / 2) * 0.3
            acc = [s["accuracy_mean"] if s else np.nan for s in sel]
            err = [s["accuracy_std"] if s else 0 for s in sel]
            reset = [s["accuracy_after_reset_mean"] if s else np.nan for s in sel]
            ax.bar(x, acc, 0.3, yerr=err, label=learner, alpha=0.8, color=f"C{LEARNERS.index(learner)}")
            ax.plot(x, reset, "kv", ms=5, label="after reset" if k == 0 else None)
            row = numbers["learners"].setdefault(learner, {"accuracy_mean": [], "accuracy_std": [],
                                                           "after_reset_mean": []})
            row["accuracy_mean"].append(acc)
            row["accuracy_std"].append(err)
            row["after_reset_mean"].append(reset)
        base = _majority(summary, L)
        numbers["majority_bit"].append(base)
        ax.axhline(0.5, color="k", ls=":", lw=1)
        ax.axhline(base, color="r", ls="--", lw=1, label="majority bit")
        ax.set(xticks=np.arange(len(Lats)), xticklabels=[f"Lat {d}" for d in Lats], title=f"L = {L}",
               ylim=(0, 1.02))
    axes[0][0].set_ylabel("held-out recall accuracy")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"mean ± std over seeds\n{budget_text(summary)}", fontsize=9)
    fig.tight_layout()
    return fig, to_jsonable(numbers)


def heldout_curves_figure(summary, rows):
    """Held-out accuracy against generations, one panel per (L, Lat), one line per run.

    Parameters
    ----------
    summary : list of dict
        Grid summary rows (for the L and Lat values).
    rows : list of dict
        Run rows with ``L``, ``Lat``, ``learner``, ``seed`` and ``heldout_curve`` ([[generation,
        accuracy], ...]).

    Returns
    -------
    fig : matplotlib.figure.Figure
    numbers : dict
        ``{"panels": [{"L", "Lat", "learner", "seed", "generations", "accuracy"}, ...]}``.
    """
    plt = pyplot()
    Ls = sorted({r["L"] for r in summary})
    Lats = sorted({r["Lat"] for r in summary})
    numbers = {"panels": []}
    fig, axes = plt.subplots(len(Ls), len(Lats), figsize=(3.2 * len(Lats), 2.6 * len(Ls)), squeeze=False,
                             sharex=True, sharey=True)
    for i, L in enumerate(Ls):
        for j, d in enumerate(Lats):
            ax = axes[i][j]
            for learner, color in zip(LEARNERS, ("C0", "C1")):
                for r in rows:
                    if (r["L"], r["Lat"], r["learner"]) == (L, d, learner) and r["heldout_curve"]:
                        g, v = zip(*r["heldout_curve"])
                        ax.plot(g, v, color=color, alpha=0.7, lw=1,
                                label=learner if r["seed"] == rows[0]["seed"] else None)
                        numbers["panels"].append({"L": L, "Lat": d, "learner": learner, "seed": r["seed"],
                                                  "generations": list(g), "accuracy": list(v)})
            ax.axhline(0.5, color="k", ls=":", lw=0.8, label="chance" if (i, j) == (0, 0) else None)
            ax.axhline(_majority(summary, L), color="r", ls="--", lw=0.8,
                       label="majority bit" if (i, j) == (0, 0) else None)
            ax.set_title(f"L={L}, Lat={d}", fontsize=9)
    axes[-1][0].set(xlabel="generation", ylabel="held-out accuracy")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"one line per seed (0: a silent recommendation)\n{budget_text(summary)}", fontsize=9)
    fig.tight_layout()
    return fig, to_jsonable(numbers)


def position_and_rates_figure(summary):
    """Accuracy per recall position (top) and firing rate per task phase (bottom), per L.

    Parameters
    ----------
    summary : list of dict
        Grid summary rows with ``accuracy_by_position_mean`` and ``rate_hz_by_phase``.

    Returns
    -------
    fig : matplotlib.figure.Figure
    numbers : dict
        ``{"by_position": [{"L", "Lat", "learner", "accuracy"}...], "rates": {L: {learner:
        {phase: Hz (mean over Lat)}}}}``.
    """
    plt = pyplot()
    Ls = sorted({r["L"] for r in summary})
    Lats = sorted({r["Lat"] for r in summary})
    phases = ("presentation", "delay", "recall")
    numbers = {"by_position": [], "rates": {}}
    fig, axes = plt.subplots(2, len(Ls), figsize=(_width(len(Ls)), 6), squeeze=False)
    learners = _learners(summary)
    for col, L in enumerate(Ls):
        ax = axes[0][col]
        for learner, color in zip(LEARNERS, ("C0", "C1")):
            for d, style in zip(Lats, ("-", "--", ":", "-.")):
                s = _find(summary, L, d, learner)
                if s:
                    ax.plot(np.arange(1, L + 1), s["accuracy_by_position_mean"], style, color=color,
                            label=f"{learner}, Lat {d}")
                    numbers["by_position"].append({"L": L, "Lat": d, "learner": learner,
                                                   "accuracy": list(s["accuracy_by_position_mean"])})
        ax.axhline(0.5, color="k", ls=":", lw=0.8, label="chance")
        ax.axhline(_majority(summary, L), color="r", ls="--", lw=0.8, label="majority bit")
        ax.set(title=f"L = {L}: accuracy per recall position", xlabel="position in sequence", ylim=(0, 1.02),
               xticks=np.arange(1, L + 1))
        ax = axes[1][col]
        numbers["rates"][L] = {}
        for k, learner in enumerate(learners):
            vals = []
            for d in Lats:
                s = _find(summary, L, d, learner)
                vals.append([np.nan if s is None or s["rate_hz_by_phase"][p] is None else s["rate_hz_by_phase"][p]
                             for p in phases])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN column: learner absent
                vals = np.nanmean(np.array(vals, dtype=float), axis=0)
            numbers["rates"][L][learner] = dict(zip(phases, vals))
            ax.bar(np.arange(3) + (k - (len(learners) - 1) / 2) * 0.35, vals, 0.35, label=learner,
                   color=f"C{LEARNERS.index(learner)}")
        ax.set(xticks=range(3), xticklabels=phases, ylabel="rate (Hz, 1 step = 200 ms)",
               title=f"L = {L}: firing per phase (mean over Lat)")
    axes[0][0].legend(fontsize=6)
    axes[1][0].legend(fontsize=7)
    fig.suptitle(f"means over seeds\n{budget_text(summary)}", fontsize=9)
    fig.tight_layout()
    return fig, to_jsonable(numbers)


def plot_grid(summary, rows, out):
    """accuracy_grid.png, curves.png and by_position_and_rates.png from grid summary rows and run rows.

    Saves the three figures into the folder ``out`` and returns their numbers,
    ``{"accuracy_grid": ..., "curves": ..., "by_position_and_rates": ...}``.
    """
    numbers = {}
    for name, build, dpi in (("accuracy_grid", lambda: accuracy_grid_figure(summary), 120),
                             ("curves", lambda: heldout_curves_figure(summary, rows), 110),
                             ("by_position_and_rates", lambda: position_and_rates_figure(summary), 110)):
        fig, numbers[name] = build()
        fig.savefig(os.path.join(out, f"{name}.png"), dpi=dpi)
        close(fig)
    return numbers


#: Paper's final accuracies (plastic, weight-trained), 4 seeds, both with a GRU branch (spec 5.1).
PAPER_ACCURACY = {
    (8, 0): (0.988, 0.988), (8, 8): (0.916, 0.870), (8, 16): (0.883, 0.753), (8, 32): (0.789, 0.662),
    (16, 0): (0.944, 0.758), (16, 8): (0.801, 0.823), (16, 16): (0.808, 0.751), (16, 32): (0.678, 0.552),
    (32, 0): (0.800, 0.753), (32, 8): (0.743, 0.683), (32, 16): (0.665, 0.621), (32, 32): (0.657, 0.557),
    (64, 0): (0.660, 0.592), (64, 8): (0.640, 0.564), (64, 16): (0.624, 0.549), (64, 32): (0.585, 0.500),
}


def summary_table(summary, extra=None):
    """Markdown table: ours (mean +- std over seeds) beside the paper, per (L, Lat).

    ``extra`` is an optional second summary (e.g. a plastic network with recurrence) shown as a column.
    """
    def cell(row, key="accuracy"):
        return "-" if row is None else f"{row[f'{key}_mean']:.3f} ± {row[f'{key}_std']:.3f}"

    def find(rows, L, d, learner):
        return next((r for r in rows if (r["L"], r["Lat"], r["learner"]) == (L, d, learner)), None)

    head = ["L", "Lat", "majority bit", "plastic", "weights"]
    if extra:
        head.append("plastic + recurrence")
    head += ["plastic after reset", "weights after reset", "paper plastic / weights"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for L, d in sorted({(r["L"], r["Lat"]) for r in summary}):
        p, w = find(summary, L, d, "plastic"), find(summary, L, d, "weights")
        base = (p or w)["majority_baseline"]
        cells = [str(L), str(d), f"{base:.3f}", cell(p), cell(w)]
        if extra:
            cells.append(cell(find(extra, L, d, "plastic")))
        paper = PAPER_ACCURACY.get((L, d))
        cells += [cell(p, "accuracy_after_reset"), cell(w, "accuracy_after_reset"),
                  "-" if paper is None else f"{paper[0]:.3f} / {paper[1]:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
