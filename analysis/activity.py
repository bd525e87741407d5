"""Hidden-layer activity per task phase: spike rasters, firing rates and traces.

Inputs are plain arrays shaped like the fields of `pdlf_brian.recording.Recording`: ``(T, B, H)``
(steps, copies, hidden units) or ``(T, P, B, H)`` (with individuals), and phases as a dict
``{name: slice of steps}``, e.g. ``{"presentation": slice(0, 8), "delay": slice(8, 24),
"recall": slice(24, 32)}``. Spikes are ternary (+1, -1, 0); a unit "fires" at a step when its spike
is non-zero.
"""
import numpy as np

from pdlf_brian.analysis.figures import pyplot, shade_phases, to_jsonable


def _check_activity(array, name):
    array = np.asarray(array, dtype=float)
    if array.ndim not in (3, 4):
        raise ValueError(f"{name}: expected shape (T, B, H) or (T, P, B, H), got {array.shape}")
    return array


def _check_phases(phases, n_steps):
    """``{name: slice}`` of the non-empty phases inside ``n_steps``; ``None`` means the whole run.

    An empty phase (e.g. the delay of a task with Lat = 0) is left out, not an error."""
    if phases is None:
        return {"all": slice(0, n_steps)}
    out = {}
    for name, sl in phases.items():
        if not isinstance(sl, slice):
            raise ValueError(f"phase {name!r}: expected a slice of steps, got {sl!r}")
        start, stop, step = sl.indices(n_steps)
        if len(range(start, stop, step)):
            out[name] = slice(start, stop, step)
    if not out:
        raise ValueError(f"phases: none of {list(phases)} selects a step of a recording with {n_steps} steps")
    return out


def select_copy(array, individual=0, copy=0):
    """The ``(T, H)`` activity of one network copy from a ``(T, B, H)`` or ``(T, P, B, H)`` array."""
    array = _check_activity(array, "activity")
    if array.ndim == 4:
        array = array[:, individual]
    return array[:, copy]


def phase_rates(spikes, phases=None, step_seconds=None):
    """Firing rates per task phase, pooled over individuals, copies and units.

    Parameters
    ----------
    spikes : array (T, B, H) or (T, P, B, H)
        Ternary spikes.
    phases : dict, optional
        Phase name to slice of steps (default: one phase ``"all"``).
    step_seconds : float, optional
        Duration of one step; if given, rates are also reported in Hz.

    Returns
    -------
    dict
        Per phase: ``rate`` (fraction of unit-steps with a spike of either sign), ``rate_pos``,
        ``rate_neg`` (signed parts), ``rate_per_unit`` (list over H, pooled over copies),
        ``silent_fraction`` and ``saturated_fraction`` (units that never / always spike in the
        phase, per copy, pooled), ``n_steps`` and, with ``step_seconds``, ``rate_hz``.
    """
    spikes = _check_activity(spikes, "spikes")
    phases = _check_phases(phases, len(spikes))
    out = {}
    for name, sl in phases.items():
        seg = spikes[sl]
        fired = seg != 0
        per_copy_unit = fired.mean(axis=0)               # (..., H)
        row = {
            "rate": fired.mean(),
            "rate_pos": (seg > 0).mean(),
            "rate_neg": (seg < 0).mean(),
            "rate_per_unit": fired.reshape(-1, spikes.shape[-1]).mean(axis=0),
            "silent_fraction": np.mean(per_copy_unit == 0),
            "saturated_fraction": np.mean(per_copy_unit == 1),
            "n_steps": len(range(*sl.indices(len(spikes)))),
        }
        if step_seconds:
            row["rate_hz"] = row["rate"] / step_seconds
        out[name] = row
    return to_jsonable(out)


def phase_traces(trace, phases=None):
    """Mean signed trace and mean absolute trace per phase, and the mean trace over steps.

    Parameters
    ----------
    trace : array (T, B, H) or (T, P, B, H)
        A per-unit trace (hidden trace ``h``, voltage...).
    phases : dict, optional

    Returns
    -------
    dict
        ``{"by_phase": {name: {"mean", "mean_abs", "std"}}, "over_time": {"mean", "std"}}`` where
        ``over_time`` holds one value per step, pooled over everything but time.
    """
    trace = _check_activity(trace, "trace")
    phases = _check_phases(phases, len(trace))
    flat = trace.reshape(len(trace), -1)
    by_phase = {name: {"mean": flat[sl].mean(), "mean_abs": np.abs(flat[sl]).mean(), "std": flat[sl].std()}
                for name, sl in phases.items()}
    return to_jsonable({"by_phase": by_phase,
                        "over_time": {"mean": flat.mean(axis=1), "std": flat.std(axis=1)}})


def raster_figure(spikes, phases=None, individual=0, copy=0, ax=None, max_steps=None):
    """Ternary spike raster of one network copy (red +1, blue -1), task phases shaded.

    Parameters
    ----------
    spikes : array (T, B, H) or (T, P, B, H)
    phases : dict, optional
    individual, copy : int
        Which network copy to draw.
    ax : matplotlib.axes.Axes, optional
        Draw into this axes instead of a new figure.
    max_steps : int, optional
        Draw only the first ``max_steps`` steps (long episodes are unreadable whole); the counts
        per phase still cover every step.

    Returns
    -------
    fig : matplotlib.figure.Figure
    numbers : dict
        ``counts`` per phase (``{"pos", "neg"}`` spike counts of the copy drawn) and the drawn
        ``spike_steps``/``spike_units``/``spike_signs`` lists.
    """
    s = select_copy(spikes, individual, copy)
    phases_checked = _check_phases(phases, len(s))
    plt = pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 3.2))
    else:
        fig = ax.figure
    shown = s[:max_steps] if max_steps else s
    steps, units = np.nonzero(shown)
    signs = shown[steps, units]
    for sign, color, label in ((1, "tab:red", "+1"), (-1, "tab:blue", "-1")):
        sel = signs == sign
        ax.scatter(steps[sel], units[sel], s=25, marker="|", color=color, label=label, lw=1, rasterized=True)
    ax.set(xlim=(-0.5, len(shown) - 0.5), ylim=(-0.5, s.shape[1] - 0.5), xlabel="step", ylabel="hidden unit")
    if phases:
        shade_phases(ax, phases_checked)
    ax.legend(fontsize=7, loc="upper right")
    counts = {name: {"pos": int(np.sum(s[sl] > 0)), "neg": int(np.sum(s[sl] < 0))}
              for name, sl in phases_checked.items()}
    numbers = {"counts": counts, "spike_steps": steps, "spike_units": units, "spike_signs": signs}
    return fig, to_jsonable(numbers)


def activity_figure(spikes, trace=None, phases=None, step_seconds=None, individual=0, copy=0, raster_steps=None):
    """Raster of one copy, firing rate per phase (all copies) and the mean trace over time.

    Parameters
    ----------
    spikes : array (T, B, H) or (T, P, B, H)
    trace : array of the same shape, optional
        Hidden trace ``h`` (or voltage); its panel is omitted when ``None``.
    phases : dict, optional
        Phase name to slice of steps.
    step_seconds : float, optional
        Step duration; rates are drawn in Hz when given, else as spikes per unit-step.
    individual, copy : int
        Copy drawn in the raster.
    raster_steps : int, optional
        The raster shows only the first ``raster_steps`` steps (`raster_figure`'s ``max_steps``).

    Returns
    -------
    fig : matplotlib.figure.Figure
    numbers : dict
        ``{"rates": phase_rates(...), "traces": phase_traces(...) or None, "raster": counts}``.
    """
    spikes = _check_activity(spikes, "spikes")
    plt = pyplot()
    n_panels = 3 if trace is not None else 2
    fig, axes = plt.subplots(1, n_panels, figsize=(5 * n_panels, 3.4),
                             gridspec_kw={"width_ratios": [2, 1] + ([2] if trace is not None else [])})
    _, raster = raster_figure(spikes, phases, individual, copy, ax=axes[0], max_steps=raster_steps)
    shown = f", first {raster_steps} steps" if raster_steps and raster_steps < len(spikes) else ""
    axes[0].set_title(f"spikes (individual {individual}, copy {copy}{shown})")
    rates = phase_rates(spikes, phases, step_seconds)
    names = list(rates)
    key = "rate_hz" if step_seconds else "rate"
    scale = 1 / step_seconds if step_seconds else 1.0
    pos = [rates[n]["rate_pos"] * scale for n in names]
    neg = [rates[n]["rate_neg"] * scale for n in names]
    axes[1].bar(names, pos, color="tab:red", label="+1")
    axes[1].bar(names, neg, bottom=pos, color="tab:blue", label="-1")
    axes[1].set(ylabel="rate (Hz)" if step_seconds else "spikes per unit-step", title="firing per phase")
    axes[1].legend(fontsize=7)
    traces = None
    if trace is not None:
        traces = phase_traces(trace, phases)
        mean = np.asarray(traces["over_time"]["mean"])
        std = np.asarray(traces["over_time"]["std"])
        t = np.arange(len(mean))
        axes[2].plot(t, mean, color="k", lw=1.2, label="mean")
        axes[2].fill_between(t, mean - std, mean + std, color="k", alpha=0.15, lw=0, label="+- std")
        axes[2].set(xlabel="step", ylabel="trace", xlim=(-0.5, len(mean) - 0.5), title="trace over units")
        if phases:
            shade_phases(axes[2], _check_phases(phases, len(mean)))
        axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig, to_jsonable({"rates": rates, "rate_key": key, "traces": traces, "raster": raster["counts"]})
