"""How far a rising training curve is from levelling off: saturating fits, what they project, and how
well they have predicted the part of the curve they did not see.

The campaigns' stopping rule (`pdlf_brian.analysis.curves.flattened`) compares a curve's change over
its last 50 generations with the spread over seeds. It says when more budget stops mattering for the
ranking, not when a curve has levelled off. This module fits one of two saturating forms

    exponential:  score(g) = level - amplitude * exp(-(g - start) / tau)
    power:        score(g) = level - amplitude * (g / start) ** -exponent

to a run's logged held-out scores from generation ``start`` on (least squares, `scipy.optimize.curve_fit`)
and reports the fitted level, the fitted rise per 50 generations at the last logged generation, and
the generation at which that rise would fall below a threshold. The two forms can fit the seen curve
equally well and still disagree on when it levels off, because the power law's rise decays more slowly.
`backtest` measures which has predicted better: it fits the curve without its last generations and
compares the prediction with what was then logged. Fits from several start generations show how
firmly the data pin a form down; they are reported side by side rather than averaged.
"""
import glob
import os

import numpy as np
from scipy.optimize import curve_fit

from pdlf_brian.analysis.curves import curve, curve_statistics, read_log, window_change
from pdlf_brian.analysis.figures import pyplot

#: Generations over which a rise is counted (as in the stage table's "change over the last 50").
PER = 50

#: The saturating forms, with the name of each one's shape parameter and its bounds.
FORMS = {"exponential": ("tau", (1.0, 1e6)), "power": ("exponent", (0.01, 20.0))}

#: Generations held back from the end of the mean curve by `plateau_projection`'s backtests.
HOLDOUTS = (100, 200, 300, 400)


def _check_form(form):
    if form not in FORMS:
        raise ValueError(f"form must be one of {sorted(FORMS)}, got {form!r}")


def _model(form, start):
    if form == "exponential":
        return lambda x, level, amplitude, tau: level - amplitude * np.exp(-(x - start) / tau)
    return lambda x, level, amplitude, exponent: level - amplitude * (x / start) ** -exponent


def _slope(fit, g):
    """The fitted curve's derivative at generation ``g`` (points per generation)."""
    start, amplitude, shape = fit["start"], fit["amplitude"], fit[FORMS[fit["form"]][0]]
    if fit["form"] == "exponential":
        return amplitude / shape * np.exp(-(g - start) / shape)
    return amplitude * shape / start * (g / start) ** (-shape - 1)


def fit_saturating(generations, scores, start, per=PER, form="exponential"):
    """Fit a saturating ``form`` (see the module docstring) to the points at ``g >= start``.

    Parameters
    ----------
    generations, scores : array_like
        A held-out curve (`pdlf_brian.analysis.curves.curve` of a run's log).
    start : int
        First generation of the fit (the power form's reference generation; must be positive for it).
    per : int
        The rise is reported per this many generations.
    form : {"exponential", "power"}
        The fitted function.

    Returns
    -------
    dict or None
        ``form``, ``start``, ``last_generation``, ``points``, ``level``, ``amplitude``, the shape
        parameter (``tau`` or ``exponent``), ``at_bound`` (the shape parameter stopped at a bound of
        `FORMS`, so the level is not pinned down), ``fitted_last`` (the fit at the last generation),
        ``rise_now`` (its rise per ``per`` generations there) and ``rmse``; None when fewer than 5
        points lie at or after ``start`` or the fit does not converge.
    """
    _check_form(form)
    if form == "power" and start <= 0:
        raise ValueError(f"start must be positive for the power form, got {start}")
    g = np.asarray(generations, dtype=float)
    y = np.asarray(scores, dtype=float)
    keep = g >= start
    g, y = g[keep], y[keep]
    if len(g) < 5:
        return None
    span = max(g[-1] - g[0], 1.0)
    name, (low, high) = FORMS[form]
    guess = (y[-1] + abs(y[-1] - y[0]), abs(y[-1] - y[0]) + 1.0, span / 2 if form == "exponential" else 1.0)
    model = _model(form, start)
    try:
        (level, amplitude, shape), _ = curve_fit(model, g, y, p0=guess, maxfev=20000,
                                                 bounds=([-np.inf, -np.inf, low], [np.inf, np.inf, high]))
    except RuntimeError:
        return None
    last = float(g[-1])
    fit = {"form": form, "start": int(start), "last_generation": int(last), "points": int(len(g)),
           "level": float(level), "amplitude": float(amplitude), name: float(shape),
           "at_bound": bool(np.isclose(shape, low, rtol=1e-3) or np.isclose(shape, high, rtol=1e-3)),
           "fitted_last": float(model(last, level, amplitude, shape)),
           "rmse": float(np.sqrt(np.mean((model(g, level, amplitude, shape) - y) ** 2)))}
    fit["rise_now"] = float(per * _slope(fit, last))
    return fit


def predict(fit, generations):
    """The fitted curve at ``generations``."""
    name = FORMS[fit["form"]][0]
    return _model(fit["form"], fit["start"])(np.asarray(generations, dtype=float), fit["level"],
                                             fit["amplitude"], fit[name])


def generation_rise_below(fit, threshold, per=PER):
    """The generation at which the fitted rise per ``per`` generations falls to ``threshold``.

    The fit's start generation when it is already there at the start (or the fit falls); None for no fit.
    """
    if fit is None:
        return None
    start, amplitude, shape = fit["start"], fit["amplitude"], fit[FORMS[fit["form"]][0]]
    rate0 = per * _slope(fit, start)                      # the fitted rise at the start generation
    if rate0 <= threshold:
        return start
    if fit["form"] == "exponential":
        return int(round(start + shape * np.log(rate0 / threshold)))
    # per * amplitude * exponent / start * (g / start) ** -(exponent + 1) = threshold
    return int(round(start * (rate0 / threshold) ** (1.0 / (shape + 1.0))))


def backtest(generations, scores, start, holdout, form="exponential", per=PER):
    """Fit the curve without its last ``holdout`` generations and score the prediction of them.

    Returns
    -------
    dict or None
        ``form``, ``start``, ``holdout``, ``cutoff`` (the last generation fitted), ``points_ahead``
        (logged points after it), ``bias`` (mean of prediction − logged, positive where the fit
        predicted too high) and ``rms`` (root mean square of that error); None where the fit fails or
        nothing lies after the cutoff.
    """
    g = np.asarray(generations, dtype=float)
    y = np.asarray(scores, dtype=float)
    cutoff = g[-1] - holdout
    seen, ahead = g <= cutoff, g > cutoff
    fit = fit_saturating(g[seen], y[seen], start, per=per, form=form)
    if fit is None or not ahead.any():
        return None
    error = predict(fit, g[ahead]) - y[ahead]
    return {"form": form, "start": int(start), "holdout": int(holdout), "cutoff": int(g[seen][-1]),
            "points_ahead": int(ahead.sum()), "bias": float(error.mean()),
            "rms": float(np.sqrt(np.mean(error ** 2)))}


def mean_curve(logs):
    """The mean held-out curve over seeds (`curve_statistics`, as the held-out curves figure draws it),
    at the generations every seed logged."""
    stats = curve_statistics(logs, "heldout")
    full = np.asarray(stats["n_per_point"]) == stats["n_seeds"]
    return np.asarray(stats["x"], dtype=float)[full], np.asarray(stats["mean"], dtype=float)[full]


def plateau_projection(out, learner="plastic", starts=(300, 400, 500, 600), threshold=5.0, per=PER,
                       forms=tuple(FORMS), holdouts=HOLDOUTS):
    """Fits of every ``OUT/runs/<learner>_s*`` held-out curve, and of their mean, per form and start;
    backtests of the mean curve.

    Returns
    -------
    dict
        ``learner``, ``threshold``, ``per``, ``starts``, ``forms``, ``holdouts``, ``rows`` (one per
        curve, form and start, with `fit_saturating`'s fields, None where no fit, plus ``curve``, the
        run's name or ``"mean"``, and ``generation_below``, `generation_rise_below`), ``backtests``
        (one per form, start and holdout, `backtest` of the mean curve) and ``mean_curve``
        (``generations`` and ``scores``).
    """
    for form in forms:
        _check_form(form)
    runs = sorted(glob.glob(os.path.join(out, "runs", f"{learner}_s*")))
    if not runs:
        raise FileNotFoundError(f"no {learner}_s* run directories under {os.path.join(out, 'runs')}")
    logs = {os.path.basename(r): read_log(r) for r in runs}
    curves = {name: curve(log, "heldout") for name, log in logs.items()}
    curves["mean"] = mean_curve(list(logs.values()))
    rows, backtests = [], []
    for name, (g, y) in curves.items():
        for form in forms:
            for start in starts:
                fit = fit_saturating(g, y, start, per=per, form=form)
                rows.append({"curve": name, "form": form, "start": int(start), **(fit or {}),
                             "generation_below": generation_rise_below(fit, threshold, per=per)})
    g, y = curves["mean"]
    for form in forms:
        for start in starts:
            for holdout in holdouts:
                result = backtest(g, y, start, holdout, form=form, per=per)
                backtests.append(result or {"form": form, "start": int(start), "holdout": int(holdout)})
    return {"learner": learner, "threshold": threshold, "per": per, "starts": list(starts), "forms": list(forms),
            "holdouts": list(holdouts), "rows": rows, "backtests": backtests,
            "mean_curve": {"generations": g.tolist(), "scores": y.tolist()}}


def trailing_rise(generations, scores, per=PER, min_points=3):
    """The measured rise per ``per`` generations at each logged generation: the least-squares slope of
    the points in the ``per`` generations up to it, times ``per`` (`curves.window_change`, as the stage
    table's change).

    Returns
    -------
    (ndarray, ndarray)
        The generations with at least ``min_points`` points in their window, and the rises there.
    """
    g, y = np.asarray(generations, dtype=float), np.asarray(scores, dtype=float)
    rises = [(last, window_change(g, y, last, per, min_points)) for last in g]
    kept = [(last, rise) for last, rise in rises if rise is not None]
    return np.asarray([r[0] for r in kept]), np.asarray([r[1] for r in kept])


def plateau_figure(result, until=None, title=None):
    """The mean curve with its fits drawn on, and the fitted rise beside the measured one.

    Parameters
    ----------
    result : dict
        `plateau_projection`'s result (it holds the mean curve).
    until : int, optional
        Last generation drawn; default: past the latest generation at which a fit of the mean says
        the rise falls below the threshold.
    title : str, optional

    Returns
    -------
    (Figure, dict)
        Left: the logged mean held-out curve and each form's fit from each start, drawn on to
        ``until``. Right, from the earliest start: each fit's rise per ``per`` generations with a tick
        where it crosses the threshold, the measured rise of the mean curve (`trailing_rise`) and the
        threshold. ``numbers``: per form and start the drawn span, the fit and
        its rise at the end of it (the curves' parameters are `plateau_projection`'s rows), and the measured rises.
    """
    per, thr = result["per"], result["threshold"]
    g = np.asarray(result["mean_curve"]["generations"], dtype=float)
    y = np.asarray(result["mean_curve"]["scores"], dtype=float)
    fits = [r for r in result["rows"] if r["curve"] == "mean" and "level" in r]
    if until is None:
        ends = [r["generation_below"] for r in fits if r["generation_below"] is not None]
        until = int(max([g[-1] + 200] + [1.1 * e for e in ends]))
    grid = np.linspace(g[0], until, 400)
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.plot(g, y, ".", color="black", ms=3, label="mean held-out score (logged)")
    first = min((f["start"] for f in fits), default=g[0])
    measured_x, measured = trailing_rise(g, y, per)
    keep = measured_x >= first
    measured_x, measured = measured_x[keep], measured[keep]
    right.plot(measured_x, measured, ".", color="black", ms=3, label=f"measured: slope over the last {per} gen.")
    right.axhline(thr, color="grey", ls=":", label=f"+{thr:g} per {per}")
    styles = {"exponential": ("tab:blue", "-"), "power": ("tab:orange", "--")}
    drawn = []
    for i, fit in enumerate(fits):
        color, ls = styles.get(fit["form"], ("tab:green", "-."))
        x = grid[grid >= fit["start"]]
        curve_y = predict(fit, x)
        rise = per * _slope(fit, x)
        label = fit["form"] if all(f["form"] != fit["form"] for f in fits[:i]) else None
        alpha = 0.5 + 0.5 * (fit["start"] == min(f["start"] for f in fits if f["form"] == fit["form"]))
        left.plot(x, curve_y, color=color, ls=ls, lw=1.2, alpha=alpha, label=label)
        right.plot(x, rise, color=color, ls=ls, lw=1.2, alpha=alpha, label=label)
        if fit["generation_below"] is not None and fit["generation_below"] <= until:
            right.plot([fit["generation_below"]], [thr], "|", color=color, ms=12, alpha=alpha)
        drawn.append({"form": fit["form"], "start": fit["start"], "from": float(x[0]), "to": float(x[-1]),
                      "fitted_at_end": float(curve_y[-1]), "rise_at_end": float(rise[-1]),
                      "generation_below": fit["generation_below"]})
    for ax in (left, right):
        ax.axvline(g[-1], color="grey", lw=0.8, label="last logged generation" if ax is left else None)
        ax.set_xlabel("generations")
    left.set_ylabel("held-out score")
    right.set_ylabel(f"rise per {per} generations")
    right.set_xlim(left=first - 50)
    if len(measured):
        right.set_ylim(min(0.0, float(np.min(measured))) - 2, 1.2 * float(np.max(measured)))
    left.legend(fontsize=8, loc="lower right")
    right.legend(fontsize=8, loc="upper right")
    left.set_title("fits from each start generation, drawn on")
    right.set_title(f"when the rise falls below +{thr:g} per {per}")
    fig.suptitle(title or f"{result['learner']}: how far the mean curve is from level")
    fig.tight_layout()
    numbers = {"until": until, "threshold": thr, "per": per, "fits": drawn,
               "measured": {"generations": measured_x.tolist(), "rise": measured.tolist()}}
    return fig, numbers


def projection_table(result):
    """Markdown lines of `plateau_projection`'s fits: one row per curve, form and start generation."""
    per, thr = result["per"], result["threshold"]
    lines = [f"| curve | form | fit from | last gen. | fitted level | shape | rise per {per} now | rise below {thr:g} at | rmse |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        form = r.get("form", "exponential")
        if "level" not in r:
            lines.append(f"| {r['curve']} | {form} | {r['start']} | no fit | | | | | |")
            continue
        name = FORMS[form][0]
        shape = f"τ = {r[name]:,.0f}" if form == "exponential" else f"b = {r[name]:.2f}"
        level = f"{r['level']:,.0f}" + (" (shape at bound)" if r.get("at_bound") else "")
        lines.append(f"| {r['curve']} | {form} | {r['start']} | {r['last_generation']} | {level} | {shape} | "
                     f"{r['rise_now']:+.1f} | {r['generation_below']:,} | {r['rmse']:.1f} |")
    return lines


def backtest_table(result):
    """Markdown lines of `plateau_projection`'s backtests of the mean curve."""
    lines = ["| form | fit from | held back | fitted to | points predicted | bias | rms |",
             "|---|---|---|---|---|---|---|"]
    for b in result.get("backtests", []):
        if "bias" not in b:
            lines.append(f"| {b['form']} | {b['start']} | {b['holdout']} | no fit | | | |")
            continue
        lines.append(f"| {b['form']} | {b['start']} | {b['holdout']} | {b['cutoff']} | {b['points_ahead']} | "
                     f"{b['bias']:+.1f} | {b['rms']:.1f} |")
    return lines
