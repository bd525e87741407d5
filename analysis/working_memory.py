"""Working-memory figures: accuracy grid, held-out curves, accuracy per position and firing per phase."""
import os

import numpy as np

LEARNERS = ("plastic", "weights")


def plot_grid(summary, rows, out):
    """accuracy_grid.png, curves.png and by_position_and_rates.png from grid summary rows and run rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Ls = sorted({r["L"] for r in summary})
    Lats = sorted({r["Lat"] for r in summary})
    fig, axes = plt.subplots(1, len(Ls), figsize=(4 * len(Ls), 3.6), sharey=True, squeeze=False)
    for ax, L in zip(axes[0], Ls):
        for k, learner in enumerate(LEARNERS):
            sel = [next((r for r in summary if r["L"] == L and r["Lat"] == d and r["learner"] == learner), None)
                   for d in Lats]
            x = np.arange(len(Lats)) + (k - 0.5) * 0.3
            ax.bar(x, [s["accuracy_mean"] if s else np.nan for s in sel], 0.3,
                   yerr=[s["accuracy_std"] if s else 0 for s in sel], label=learner, alpha=0.8)
            ax.plot(x, [s["accuracy_after_reset_mean"] if s else np.nan for s in sel], "kv", ms=5,
                    label="after reset" if k == 0 else None)
        base = np.mean([r["majority_baseline"] for r in summary if r["L"] == L])
        ax.axhline(0.5, color="k", ls=":", lw=1)
        ax.axhline(base, color="r", ls="--", lw=1, label="majority bit")
        ax.set(xticks=np.arange(len(Lats)), xticklabels=[f"Lat {d}" for d in Lats], title=f"L = {L}",
               ylim=(0, 1.02))
    axes[0][0].set_ylabel("held-out recall accuracy")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "accuracy_grid.png"), dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(len(Ls), len(Lats), figsize=(3.2 * len(Lats), 2.6 * len(Ls)), squeeze=False,
                             sharex=True, sharey=True)
    for i, L in enumerate(Ls):
        for j, d in enumerate(Lats):
            ax = axes[i][j]
            for learner, color in zip(LEARNERS, ("C0", "C1")):
                for r in rows:
                    if (r["L"], r["Lat"], r["learner"]) == (L, d, learner):
                        g, v = zip(*r["heldout_curve"])
                        ax.plot(g, v, color=color, alpha=0.7, lw=1, label=learner if r["seed"] == rows[0]["seed"] else None)
            ax.axhline(0.5, color="k", ls=":", lw=0.8)
            ax.set_title(f"L={L}, Lat={d}", fontsize=9)
    axes[-1][0].set(xlabel="generation", ylabel="held-out accuracy")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "curves.png"), dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(2, len(Ls), figsize=(4 * len(Ls), 6), squeeze=False)
    for col, L in enumerate(Ls):
        ax = axes[0][col]
        for learner, color in zip(LEARNERS, ("C0", "C1")):
            for d, style in zip(Lats, ("-", "--", ":", "-.")):
                s = next((r for r in summary if (r["L"], r["Lat"], r["learner"]) == (L, d, learner)), None)
                if s:
                    ax.plot(np.arange(1, L + 1), s["accuracy_by_position_mean"], style, color=color,
                            label=f"{learner}, Lat {d}")
        ax.axhline(0.5, color="k", ls=":", lw=0.8)
        ax.set(title=f"L = {L}: accuracy per recall position", xlabel="position in sequence", ylim=(0, 1.02))
        ax = axes[1][col]
        phases = ("presentation", "delay", "recall")
        for k, learner in enumerate(LEARNERS):
            vals = []
            for d in Lats:
                s = next((r for r in summary if (r["L"], r["Lat"], r["learner"]) == (L, d, learner)), None)
                vals.append([np.nan if s is None or s["rate_hz_by_phase"][p] is None else s["rate_hz_by_phase"][p]
                             for p in phases])
            vals = np.nanmean(np.array(vals, dtype=float), axis=0)
            ax.bar(np.arange(3) + (k - 0.5) * 0.35, vals, 0.35, label=learner)
        ax.set(xticks=range(3), xticklabels=phases, ylabel="rate (Hz, 1 step = 200 ms)",
               title=f"L = {L}: firing per phase (mean over Lat)")
    axes[0][0].legend(fontsize=6)
    axes[1][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "by_position_and_rates.png"), dpi=110)
    plt.close(fig)


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
