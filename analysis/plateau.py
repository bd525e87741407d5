"""How far a rising training curve is from levelling off: a saturating fit and what it projects.

The campaigns' stopping rule (`pdlf_brian.analysis.curves.flattened`) compares a curve's change over
its last 50 generations with the spread over seeds. It says when more budget stops mattering for the
ranking, not when a curve has levelled off. This module fits

    score(g) = level - amplitude * exp(-(g - start) / tau)

to a run's logged held-out scores from generation ``start`` on (least squares, `scipy.optimize.curve_fit`)
and reports the fitted level, tau, the fitted rise per 50 generations at the last logged generation,
and the generation at which that rise would fall below a threshold. It is a projection from one
functional form: fits from several start generations show how firmly the data pin it down, and they
are reported side by side rather than averaged.
"""
import glob
import os

import numpy as np
from scipy.optimize import curve_fit

from pdlf_brian.analysis.curves import curve, curve_statistics, read_log

#: Generations over which a rise is counted (as in the stage table's "change over the last 50").
PER = 50


def fit_saturating(generations, scores, start, per=PER):
    """Fit ``level - amplitude * exp(-(g - start) / tau)`` to the points at ``g >= start``.

    Parameters
    ----------
    generations, scores : array_like
        A held-out curve (`pdlf_brian.analysis.curves.curve` of a run's log).
    start : int
        First generation of the fit.
    per : int
        The rise is reported per this many generations.

    Returns
    -------
    dict or None
        ``start``, ``last_generation``, ``points``, ``level``, ``amplitude``, ``tau``, ``fitted_last``
        (the fit at the last generation), ``rise_now`` (its rise per ``per`` generations there) and
        ``rmse``; None when fewer than 5 points lie at or after ``start`` or the fit does not converge.
    """
    g = np.asarray(generations, dtype=float)
    y = np.asarray(scores, dtype=float)
    keep = g >= start
    g, y = g[keep], y[keep]
    if len(g) < 5:
        return None
    span = max(g[-1] - g[0], 1.0)
    guess = (y[-1] + abs(y[-1] - y[0]), abs(y[-1] - y[0]) + 1.0, span / 2)

    def model(x, level, amplitude, tau):
        return level - amplitude * np.exp(-(x - start) / tau)

    try:
        (level, amplitude, tau), _ = curve_fit(model, g, y, p0=guess, maxfev=20000,
                                               bounds=([-np.inf, -np.inf, 1.0], [np.inf, np.inf, 1e6]))
    except RuntimeError:
        return None
    last = float(g[-1])
    return {"start": int(start), "last_generation": int(last), "points": int(len(g)),
            "level": float(level), "amplitude": float(amplitude), "tau": float(tau),
            "fitted_last": float(model(last, level, amplitude, tau)),
            "rise_now": float(per * amplitude / tau * np.exp(-(last - start) / tau)),
            "rmse": float(np.sqrt(np.mean((model(g, level, amplitude, tau) - y) ** 2)))}


def generation_rise_below(fit, threshold, per=PER):
    """The generation at which the fitted rise per ``per`` generations falls to ``threshold``.

    The fit's own last generation or earlier when it is already there (or the fit falls); None for no fit.
    """
    if fit is None:
        return None
    rate0 = per * fit["amplitude"] / fit["tau"]            # the fitted rise at the start generation
    if rate0 <= threshold:
        return fit["start"]
    return int(round(fit["start"] + fit["tau"] * np.log(rate0 / threshold)))


def mean_curve(logs):
    """The mean held-out curve over seeds (`curve_statistics`, as the held-out curves figure draws it),
    at the generations every seed logged."""
    stats = curve_statistics(logs, "heldout")
    full = np.asarray(stats["n_per_point"]) == stats["n_seeds"]
    return np.asarray(stats["x"], dtype=float)[full], np.asarray(stats["mean"], dtype=float)[full]


def plateau_projection(out, learner="plastic", starts=(300, 400, 500, 600), threshold=5.0, per=PER):
    """Fits of every ``OUT/runs/<learner>_s*`` held-out curve, and of their mean, from each start.

    Returns
    -------
    dict
        ``learner``, ``threshold``, ``per``, ``starts`` and ``rows``: one per curve and start, with
        `fit_saturating`'s fields (None where no fit) plus ``curve`` (the run's name or ``"mean"``) and
        ``generation_below`` (`generation_rise_below`).
    """
    runs = sorted(glob.glob(os.path.join(out, "runs", f"{learner}_s*")))
    if not runs:
        raise FileNotFoundError(f"no {learner}_s* run directories under {os.path.join(out, 'runs')}")
    logs = {os.path.basename(r): read_log(r) for r in runs}
    curves = {name: curve(log, "heldout") for name, log in logs.items()}
    curves["mean"] = mean_curve(list(logs.values()))
    rows = []
    for name, (g, y) in curves.items():
        for start in starts:
            fit = fit_saturating(g, y, start, per=per)
            rows.append({"curve": name, "start": int(start), **(fit or {}),
                         "generation_below": generation_rise_below(fit, threshold, per=per)})
    return {"learner": learner, "threshold": threshold, "per": per, "starts": list(starts), "rows": rows}


def projection_table(result):
    """Markdown lines of `plateau_projection`: one row per curve and start generation."""
    per, thr = result["per"], result["threshold"]
    lines = [f"| curve | fit from | last gen. | fitted level | tau | rise per {per} now | rise below {thr:g} at | rmse |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if "level" not in r:
            lines.append(f"| {r['curve']} | {r['start']} | no fit | | | | | |")
            continue
        lines.append(f"| {r['curve']} | {r['start']} | {r['last_generation']} | {r['level']:,.0f} | {r['tau']:,.0f} | "
                     f"{r['rise_now']:+.1f} | {r['generation_below']:,} | {r['rmse']:.1f} |")
    return lines
