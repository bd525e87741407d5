"""Lesion and ablation figures (spec 5.3, 5.4) from plain arrays.

* Permanent lesions: a score per seed and lesion fraction r, per learner:
  ``{learner: array (n_seeds, n_fractions)}``.
* Temporary lesion: the reward per step around a lesion (weights held at 0 for a window), per
  learner: ``{learner: array (n_seeds, n_steps)}``.
* Ablations: training curves of runs grouped by ablation, drawn by `pdlf_brian.analysis.curves`.
"""
import numpy as np

from pdlf_brian.analysis.curves import curves_figure
from pdlf_brian.analysis.figures import pyplot, to_jsonable


def _per_seed(values, name):
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[None]
    if values.ndim != 2:
        raise ValueError(f"{name}: expected an array (n_seeds, n_points), got shape {values.shape}")
    return values


def seed_statistics(values):
    """Mean, std (ddof=0) and count over seeds (axis 0) of an array (n_seeds, n_points), NaN-aware."""
    values = _per_seed(values, "values")
    with np.errstate(invalid="ignore"):
        return to_jsonable({"mean": np.nanmean(values, axis=0), "std": np.nanstd(values, axis=0),
                            "n_seeds": np.sum(np.isfinite(values), axis=0)})


def lesion_fraction_statistics(fractions, scores):
    """Score against lesion fraction per learner: mean, std and number of seeds.

    Parameters
    ----------
    fractions : sequence of float
        Lesion fractions r (e.g. 0, 0.2, ..., 0.8).
    scores : dict
        Learner to array (n_seeds, n_fractions).

    Returns
    -------
    dict
        ``{"fractions": [...], "learners": {learner: {"mean", "std", "n_seeds", "relative"}}}``;
        ``relative`` is the mean divided by the mean at the smallest fraction (None where that is 0).
    """
    fractions = np.asarray(fractions, dtype=float)
    out = {"fractions": fractions, "learners": {}}
    first = int(np.argmin(fractions))
    for learner, values in scores.items():
        values = _per_seed(values, f"scores[{learner!r}]")
        if values.shape[1] != len(fractions):
            raise ValueError(f"scores[{learner!r}]: {values.shape[1]} columns for {len(fractions)} fractions")
        stats = seed_statistics(values)
        mean = np.asarray(stats["mean"], dtype=float)
        stats["relative"] = (mean / mean[first]).tolist() if mean[first] != 0 else None
        out["learners"][learner] = stats
    return to_jsonable(out)


def lesion_fraction_figure(fractions, scores, levels=None, ylabel="score", title=None):
    """Score against permanent-lesion fraction, mean +- std over seeds per learner.

    Parameters
    ----------
    fractions : sequence of float
    scores : dict
        Learner to array (n_seeds, n_fractions).
    levels : dict, optional
        Name to a horizontal reference level (chance, zero policy).
    ylabel, title : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    numbers : dict
        As returned by `lesion_fraction_statistics`, plus ``levels``.
    """
    numbers = lesion_fraction_statistics(fractions, scores)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.8))
    for n, (learner, stats) in enumerate(numbers["learners"].items()):
        mean, std = np.asarray(stats["mean"], float), np.asarray(stats["std"], float)
        ax.errorbar(numbers["fractions"], mean, yerr=std, marker="o", ms=4, capsize=3, color=f"C{n}",
                    label=f"{learner} (n={max(stats['n_seeds'])})")
    for (name, level), style in zip((levels or {}).items(), (":", "--", "-.")):
        ax.axhline(level, color="k", ls=style, lw=1, label=name)
    ax.set(xlabel="fraction of hidden neurons lesioned", ylabel=ylabel, title=title or "permanent lesions")
    ax.legend(fontsize=8)
    fig.tight_layout()
    numbers["levels"] = dict(levels or {})
    return fig, to_jsonable(numbers)


def recovery_summary(rewards, lesion_start, lesion_length, window=50):
    """Mean reward per step before, during and after a temporary lesion, per seed and over seeds.

    Parameters
    ----------
    rewards : array (n_seeds, n_steps)
    lesion_start, lesion_length : int
        The lesion holds weights at zero on steps ``[lesion_start, lesion_start + lesion_length)``.
    window : int
        Steps averaged before the lesion and at the end of the episode.

    Returns
    -------
    dict
        ``before``, ``during``, ``end`` (means over seeds of the per-seed window means),
        ``before_per_seed``, ``during_per_seed``, ``end_per_seed`` and ``recovered_fraction``
        (``end / before`` over seeds; None if ``before`` is 0).
    """
    rewards = _per_seed(rewards, "rewards")
    stop = lesion_start + lesion_length
    if lesion_start < 1 or stop > rewards.shape[1]:
        raise ValueError(f"lesion window [{lesion_start}, {stop}) must lie inside the {rewards.shape[1]} steps "
                         "and leave steps before it")
    before = rewards[:, max(0, lesion_start - window):lesion_start].mean(axis=1)
    during = rewards[:, lesion_start:stop].mean(axis=1)
    end = rewards[:, max(stop, rewards.shape[1] - window):].mean(axis=1) if stop < rewards.shape[1] else during
    out = {"before": before.mean(), "during": during.mean(), "end": end.mean(),
           "before_per_seed": before, "during_per_seed": during, "end_per_seed": end,
           "recovered_fraction": end.mean() / before.mean() if before.mean() != 0 else None}
    return to_jsonable(out)


def _moving_average(rows, width):
    """Centred moving average of each row; near the ends it averages the steps that exist (no padding)."""
    if width <= 1:
        return rows
    kernel = np.ones(width)
    counts = np.convolve(np.ones(rows.shape[1]), kernel, mode="same")
    return np.array([np.convolve(v, kernel, mode="same") / counts for v in rows])


def temporary_lesion_figure(rewards, lesion_start=500, lesion_length=50, smooth=1, window=50, title=None,
                            intact=None):
    """Reward per step around a temporary lesion, mean +- std over seeds, lesion window shaded.

    Parameters
    ----------
    rewards : dict
        Learner to array (n_seeds, n_steps) of rewards per step.
    lesion_start, lesion_length : int
        Lesion window in steps (spec: 500 and 50).
    smooth : int
        Width of a moving average applied per seed before the statistics (1: none).
    window : int
        Steps averaged by `recovery_summary`.
    title : str, optional
    intact : dict, optional
        Learner to array (n_seeds, n_steps): the same episodes without the lesion, drawn dashed.

    Returns
    -------
    fig : matplotlib.figure.Figure
    numbers : dict
        ``{"lesion": [start, stop], "smooth", "learners": {learner: {"mean", "std", "n_seeds",
        "recovery"}}}`` with the per-step curves as drawn (after smoothing) and `recovery_summary`
        of the raw rewards; with ``intact``, each learner also has ``intact_mean`` (as drawn).
    """
    if smooth < 1:
        raise ValueError(f"smooth: expected a width >= 1, got {smooth}")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    numbers = {"lesion": [lesion_start, lesion_start + lesion_length], "smooth": smooth, "learners": {}}
    for n, (learner, values) in enumerate(rewards.items()):
        values = _per_seed(values, f"rewards[{learner!r}]")
        drawn = _moving_average(values, smooth)
        stats = seed_statistics(drawn)
        stats["recovery"] = recovery_summary(values, lesion_start, lesion_length, window)
        numbers["learners"][learner] = stats
        steps = np.arange(drawn.shape[1])
        mean, std = np.asarray(stats["mean"], float), np.asarray(stats["std"], float)
        ax.plot(steps, mean, color=f"C{n}", lw=1.2, label=f"{learner} (n={len(values)})")
        ax.fill_between(steps, mean - std, mean + std, color=f"C{n}", alpha=0.2, lw=0)
        if intact is not None and learner in intact:
            ref = _per_seed(intact[learner], f"intact[{learner!r}]")
            ref = _moving_average(ref, smooth)
            stats["intact_mean"] = ref.mean(axis=0)
            ax.plot(steps, stats["intact_mean"], color=f"C{n}", lw=0.9, ls="--", label=f"{learner}, no lesion")
    ax.axvspan(lesion_start, lesion_start + lesion_length, color="r", alpha=0.12, lw=0, label="lesion")
    ax.set(xlabel="step", ylabel="reward per step", title=title or "temporary lesion")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig, to_jsonable(numbers)


def ablation_figure(runs_by_ablation, key="mean", spread="std", title="ablations", levels=None):
    """Training curves per ablation (``{"full": [run dirs], "no-SCP": [...], ...}``), mean over seeds.

    A thin wrapper around `pdlf_brian.analysis.curves.curves_figure`; returns its ``(fig, numbers)``.
    """
    ylabel = "held-out score" if key == "heldout" else f"training fitness ({key})"
    return curves_figure(runs_by_ablation, key=key, spread=spread, ylabel=ylabel,
                         title=title, levels=levels)
