"""Training curves: from run logs to statistics over seeds, figures and the numbers behind them.

A run directory holds ``log.jsonl``: one JSON object per generation with the keys ``generation``,
``best``, ``mean``, ``std``, ``heldout`` (``null`` on generations without a held-out evaluation),
``env_steps`` and ``wall_time``. Runs that share a label (a learner, an ablation) form a group; a
group is drawn as its mean over seeds with a band (standard deviation or min-max), against
generations and against environment steps.
"""
import json
import os
from collections import OrderedDict

import numpy as np

from pdlf_brian.analysis.figures import close, pyplot, to_jsonable

#: Axes a curve can be aligned on.
X_KEYS = ("generation", "env_steps")
#: Generations over which study summaries measure how much a held-out curve still moves
#: (their ``heldout_change_last_50`` fields).
TREND_WINDOW = 50


def read_log(run_dir):
    """Read ``run_dir/log.jsonl`` as a list of dicts (one per generation)."""
    with open(os.path.join(run_dir, "log.jsonl")) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def curve(log, key, x="generation"):
    """``(x values, values)`` of a log column, skipping rows where the column is missing or None.

    Parameters
    ----------
    log : list of dict
    key : str
        Column to read (``"mean"``, ``"best"``, ``"heldout"``...).
    x : str
        Column giving the abscissa, ``"generation"`` (default) or ``"env_steps"``.

    Returns
    -------
    tuple of numpy.ndarray
    """
    pairs = [(r[x], r[key]) for r in log if r.get(key) is not None and r.get(x) is not None]
    if not pairs:
        return np.array([], dtype=float), np.array([], dtype=float)
    xs, vs = zip(*pairs)
    return np.asarray(xs), np.asarray(vs, dtype=float)


def recent_change(log, key="heldout", window=50, min_points=3):
    """How much a log column moved over the last ``window`` generations: the least-squares slope of
    its values there, times ``window``.

    A fit over every logged value of the window, not the difference of two noisy end points, so one
    lucky held-out evaluation does not make a curve look steep. Used to say whether a training
    curve has flattened (compare it with the spread over seeds).

    Parameters
    ----------
    log : list of dict
    key : str
    window : int
        Generations counted back from the log's last generation (inclusive of both ends).
    min_points : int
        Fewer logged values than this in the window give None.

    Returns
    -------
    float or None
    """
    if window < 1:
        raise ValueError(f"window: expected a positive number of generations, got {window!r}")
    x, v = curve(log, key, "generation")
    if not len(x):
        return None
    return window_change(x, v, max(r["generation"] for r in log), window, min_points)


def window_change(x, values, last, window=50, min_points=3):
    """The least-squares slope of ``values`` over ``last - window <= x <= last``, times ``window``;
    None with fewer than ``min_points`` (at least 2) points there or a single generation."""
    x, values = np.asarray(x, dtype=float), np.asarray(values, dtype=float)
    inside = (x >= last - window) & (x <= last)
    if inside.sum() < max(2, min_points) or np.ptp(x[inside]) == 0:
        return None
    return float(np.polyfit(x[inside], values[inside], 1)[0] * window)


def flattened(change_mean, score_std, n_seeds):
    """Whether a learner's held-out curve has flattened: its mean rise over the last window
    (`recent_change`, averaged over seeds) is smaller than the spread of its final scores over seeds,
    so another window at that rate would move the mean by less than the seeds already differ.

    None with fewer than 2 seeds or without a trend.
    """
    if change_mean is None or score_std is None or n_seeds < 2:
        return None
    return bool(change_mean < score_std)


def trend_verdict(change_mean, score_std, n_seeds):
    """``'rising'``, ``'flat'`` or ``'falling'``: `flattened` split by direction. A flattened curve that
    fell by at least the spread over seeds is ``'falling'``, not flat. None where `flattened` is None.
    """
    flat = flattened(change_mean, score_std, n_seeds)
    if flat is None:
        return None
    if not flat:
        return "rising"
    return "falling" if -change_mean >= score_std else "flat"


def _aligned(series, interpolate):
    """Stack several ``(x, v)`` series on the union of their x values.

    Exact alignment puts NaN where a series has no value at an x; interpolation fills x values
    inside a series' own range linearly and leaves NaN outside it (no extrapolation).
    """
    series = [(np.asarray(x, dtype=float), np.asarray(v, dtype=float)) for x, v in series if len(x)]
    if not series:
        return np.array([]), np.empty((0, 0))
    grid = np.unique(np.concatenate([x for x, _ in series]))
    table = np.full((len(series), len(grid)), np.nan)
    for row, (x, v) in enumerate(series):
        order = np.argsort(x, kind="stable")
        x, v = x[order], v[order]
        if interpolate:
            inside = (grid >= x[0]) & (grid <= x[-1])
            table[row, inside] = np.interp(grid[inside], x, v)
        else:
            table[row, np.searchsorted(grid, x)] = v
    return grid, table


def curve_statistics(logs, key="mean", x="generation"):
    """Mean and spread of one log column over runs (seeds), aligned on generations or env steps.

    Runs are aligned exactly on ``generation``; on ``env_steps`` each run is linearly interpolated
    onto the union of all runs' env-step values inside its own range (exact when the runs share
    their env-step counts, as runs with the same population and batch do). A point is summarised
    over the runs that cover it; ``n_per_point`` says how many.

    Parameters
    ----------
    logs : list of list of dict
        One log (as returned by `read_log`) per run.
    key : str
        Column to summarise.
    x : {"generation", "env_steps"}

    Returns
    -------
    dict
        ``x`` (grid), ``mean``, ``std`` (over runs, ddof=0: 0 for a single run), ``min``, ``max``,
        ``n_per_point`` (lists, one value per grid point) and ``n_seeds`` (runs with at least one
        value).
    """
    if x not in X_KEYS:
        raise ValueError(f"x: expected one of {X_KEYS}, got {x!r}")
    series = [curve(log, key, x) for log in logs]
    grid, table = _aligned(series, interpolate=(x == "env_steps"))
    counts = np.sum(np.isfinite(table), axis=0) if table.size else np.zeros(0, int)
    with np.errstate(invalid="ignore"):
        stats = {
            "mean": np.nanmean(table, axis=0) if table.size else np.array([]),
            "std": np.nanstd(table, axis=0) if table.size else np.array([]),
            "min": np.nanmin(table, axis=0) if table.size else np.array([]),
            "max": np.nanmax(table, axis=0) if table.size else np.array([]),
        }
    out = {"x": grid.tolist(), **{k: v.tolist() for k, v in stats.items()},
           "n_per_point": counts.tolist(), "n_seeds": int(sum(len(s[0]) > 0 for s in series))}
    return to_jsonable(out)


def group_runs(runs, labels=None):
    """Group runs by label, keeping first-seen order.

    Parameters
    ----------
    runs : list
        Run directories (str) or already-read logs (list of dict).
    labels : list of str, optional
        One label per run; default: the run directory's base name (or ``run i`` for logs).

    Returns
    -------
    OrderedDict
        Label to list of logs.
    """
    if labels is not None and len(labels) != len(runs):
        raise ValueError(f"labels: expected {len(runs)} labels (one per run), got {len(labels)}")
    groups = OrderedDict()
    for n, run in enumerate(runs):
        if isinstance(run, (str, os.PathLike)):
            log = read_log(run)
            default = os.path.basename(os.path.normpath(run))
        else:
            log, default = list(run), f"run {n}"
        groups.setdefault(labels[n] if labels else default, []).append(log)
    return groups


def _as_groups(groups):
    """Accept ``{label: [run_dir or log, ...]}`` and return ``{label: [log, ...]}``."""
    out = OrderedDict()
    for label, runs in groups.items():
        out[label] = [read_log(r) if isinstance(r, (str, os.PathLike)) else list(r) for r in runs]
    return out


def draw_band(ax, stats, spread="std", label=None, color=None, marker=None, lw=1.5):
    """Draw a mean line and its band (``"std"``: mean +- std, ``"minmax"``: min to max) on ``ax``.

    Where fewer than all seeds cover a point (``n_per_point``; e.g. runs whose episodes end early
    reach different env-step counts), the mean is drawn dotted and without a band: it is not the
    group's mean there. Returns the line's colour.
    """
    if spread not in ("std", "minmax"):
        raise ValueError(f"spread: expected 'std' or 'minmax', got {spread!r}")
    x, mean = np.asarray(stats["x"], float), np.asarray(stats["mean"], float)
    if not len(x):
        return color
    n = np.asarray(stats.get("n_per_point", [stats["n_seeds"]] * len(x)))
    full = n == stats["n_seeds"]
    line, = ax.plot(x, np.where(full, mean, np.nan), marker=marker, ms=3, color=color, lw=lw,
                    label=None if label is None else f"{label} (n={stats['n_seeds']})")
    if not full.all():
        # the partly covered points and their neighbours, so the dotted line joins the solid one
        partial = np.convolve(~full, [1, 1, 1], mode="same") > 0
        ax.plot(x, np.where(partial, mean, np.nan), ls=":", color=line.get_color(), lw=lw)
    if spread == "std":
        std = np.asarray(stats["std"], float)
        low, high = mean - std, mean + std
    else:
        low, high = np.asarray(stats["min"], float), np.asarray(stats["max"], float)
    if stats["n_seeds"] > 1:
        ax.fill_between(x, low, high, where=full, color=line.get_color(), alpha=0.2, lw=0)
    return line.get_color()


def curves_figure(groups, key="mean", spread="std", ylabel=None, title=None, levels=None):
    """One log column per group, mean over seeds with a band, against generations and env steps.

    Parameters
    ----------
    groups : dict
        Label to a list of run directories or logs (e.g. ``{"plastic": [...], "weights": [...]}``).
    key : str
        Log column (``"mean"``, ``"best"``, ``"heldout"``).
    spread : {"std", "minmax"}
    ylabel, title : str, optional
    levels : dict, optional
        Name to a horizontal reference level (chance, trivial policy).

    Returns
    -------
    fig : matplotlib.figure.Figure
    numbers : dict
        ``{"key", "spread", "generation": {label: stats}, "env_steps": {label: stats},
        "levels"}`` with stats as returned by `curve_statistics`.
    """
    groups = _as_groups(groups)
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    numbers = {"key": key, "spread": spread, "levels": dict(levels or {})}
    for ax, x in zip(axes, X_KEYS):
        numbers[x] = {}
        for n, (label, logs) in enumerate(groups.items()):
            stats = curve_statistics(logs, key, x)
            numbers[x][label] = stats
            draw_band(ax, stats, spread, label=label, color=f"C{n}")
        for (name, level), style in zip((levels or {}).items(), (":", "--", "-.")):
            ax.axhline(level, color="k", ls=style, lw=1, label=name)
        ax.set(xlabel="generation" if x == "generation" else "environment steps", ylabel=ylabel or key)
    axes[1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig, to_jsonable(numbers)


def training_figure(run_dirs, labels=None, heldout_label="held-out score", levels=None, title=None,
                    spread="std", extra=None, chosen=None):
    """Training fitness (population mean, faint: best) and held-out score against generations.

    Runs sharing a label are one group drawn as mean over seeds with a band; a group of one run is
    its plain curve.

    Parameters
    ----------
    run_dirs : list of str
        Run directories (or logs).
    labels : list of str, optional
        One label per run (default: directory names).
    heldout_label : str
        Y label of the held-out panel.
    levels : dict, optional
        Name to a horizontal reference line on the held-out panel (chance, baselines).
    title : str, optional
    spread : {"std", "minmax"}
    extra : dict, optional
        Log column to a label, drawn dashed on the held-out panel (e.g. ``{"heldout_silent_fraction":
        "silent recall outputs"}``).
    chosen : dict, optional
        ``{"generation": g, "score": s, "label": text}``: the genome a run is judged by, marked with a star.

    Returns
    -------
    fig : matplotlib.figure.Figure
    numbers : dict
        ``{"mean": {label: stats}, "best": {...}, "heldout": {...}, "levels": {...}}`` against
        generations, stats as returned by `curve_statistics` (and the ``extra`` columns, ``chosen``).
    """
    groups = group_runs(run_dirs, labels)
    plt = pyplot()
    fig, (ax_fit, ax_held) = plt.subplots(1, 2, figsize=(10, 3.8))
    numbers = {"mean": {}, "best": {}, "heldout": {}, "levels": dict(levels or {})}
    for n, (label, logs) in enumerate(groups.items()):
        for key in ("mean", "best", "heldout"):
            numbers[key][label] = curve_statistics(logs, key, "generation")
        color = draw_band(ax_fit, numbers["mean"][label], spread, label=f"{label} (mean)", color=f"C{n}")
        best = numbers["best"][label]
        ax_fit.plot(best["x"], best["mean"], color=color, alpha=0.4, lw=0.8)
        draw_band(ax_held, numbers["heldout"][label], spread, label=label, color=color, marker="o")
        for key, text in (extra or {}).items():
            stats = curve_statistics(logs, key, "generation")
            numbers.setdefault(key, {})[label] = stats
            if len(stats["x"]):
                ax_held.plot(stats["x"], stats["mean"], "--", color=color, alpha=0.7, lw=1,
                             label=f"{label}: {text}")
    for (name, level), style in zip((levels or {}).items(), (":", "--", "-.")):
        ax_held.axhline(level, color="k", ls=style, lw=1, label=name)
    if chosen:
        ax_held.plot([chosen["generation"]], [chosen["score"]], "*", color="k", ms=12,
                     label=chosen.get("label", "chosen genome"))
        numbers["chosen"] = dict(chosen)
    ax_fit.set(xlabel="generation", ylabel="training fitness", title="population mean (faint: best)")
    ax_held.set(xlabel="generation", ylabel=heldout_label, title="recommendation on held-out episodes")
    ax_held.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig, to_jsonable(numbers)


def plot_training(run_dirs, path, labels=None, heldout_label="held-out score", levels=None, title=None,
                  extra=None, chosen=None):
    """Draw `training_figure` and save it to ``path`` (format from its extension); returns ``path``."""
    fig, _ = training_figure(run_dirs, labels=labels, heldout_label=heldout_label, levels=levels, title=title,
                             extra=extra, chosen=chosen)
    fig.savefig(path, dpi=120)
    close(fig)
    return path
