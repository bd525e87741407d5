"""Training curves: from run logs to a figure and the numbers behind it."""
import json
import os

import numpy as np


def read_log(run_dir):
    with open(os.path.join(run_dir, "log.jsonl")) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def curve(log, key):
    """``(generations, values)`` of a log column, skipping generations where it is None."""
    pairs = [(r["generation"], r[key]) for r in log if r.get(key) is not None]
    if not pairs:
        return np.array([], dtype=int), np.array([])
    g, v = zip(*pairs)
    return np.array(g), np.array(v, dtype=float)


def plot_training(run_dirs, path, labels=None, heldout_label="held-out score", levels=None, title=None):
    """Mean training fitness and held-out score against generations, one line per run directory.

    ``levels`` maps a label to a horizontal reference line on the held-out panel (chance, baselines).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_fit, ax_held) = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, run_dir in enumerate(run_dirs):
        log = read_log(run_dir)
        label = labels[i] if labels else os.path.basename(os.path.normpath(run_dir))
        g, mean = curve(log, "mean")
        _, best = curve(log, "best")
        line, = ax_fit.plot(g, mean, label=f"{label} (mean)")
        ax_fit.plot(g, best, color=line.get_color(), alpha=0.4, lw=0.8)
        gh, held = curve(log, "heldout")
        ax_held.plot(gh, held, "o-", color=line.get_color(), label=label, ms=3)
    for (name, level), style in zip((levels or {}).items(), (":", "--", "-.")):
        ax_held.axhline(level, color="k", ls=style, lw=1, label=name)
    ax_fit.set(xlabel="generation", ylabel="training fitness", title="population mean (faint: best)")
    ax_held.set(xlabel="generation", ylabel=heldout_label, title="recommendation on held-out episodes")
    ax_held.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
