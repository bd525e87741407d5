"""Control results figures (spec 5.2, issue 10): score per task value and steering trajectories.

Both functions read the plain dicts written by `pdlf_brian.protocols.control_study`:

* ``summary.json`` (``kind == "control"``): ``per_task`` holds the training and unseen task values and,
  per learner and trivial policy, the mean and std over seeds of the score per task value;
* ``steering.json``: per learner and schedule the torso path (``x``, ``y`` per env step), the
  direction used per step and the reward; per schedule the intended direction and the steps to mark.

Each returns ``(fig, numbers)``; no backend is forced (`pdlf_brian.analysis.figures.pyplot`).
"""
import numpy as np

from pdlf_brian.analysis import figures
from pdlf_brian.analysis.figures import pyplot, to_jsonable

LEARNER_COLORS = {"plastic": "C0", "weights": "C1"}
#: Trivial policy -> (label, line style).
TRIVIAL_STYLES = {"zero_action": ("zero action", ":"), "task_agnostic": ("task-agnostic", "--")}


def _color(learner, n):
    return LEARNER_COLORS.get(learner, f"C{n + 2}")


def _merged(values_a, stats_a, values_b, stats_b):
    """Training and unseen points of one policy on one sorted axis: ``(x, mean)``."""
    xs, ys = [], []
    for values, stats in ((values_a, stats_a), (values_b, stats_b)):
        if values is not None and stats is not None:
            xs += list(values)
            ys += list(stats["mean"])
    order = np.argsort(xs, kind="stable")
    return np.asarray(xs, float)[order], np.asarray(ys, float)[order]


def budget_text(summary):
    """One line naming the budget of a control summary's learners: seeds, generations, population, episode."""
    return figures.budget_text(summary.get("rows") or [], ("episode_steps", "{}-step episodes"))


def task_value_figure(summary, title=None):
    """Score per task value, trained and unseen, per learner, with the trivial policies as lines.

    Parameters
    ----------
    summary : dict
        A control ``summary.json``.
    title : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
        Per learner: the unseen values as a line with a band (mean +- std over seeds) and the training
        values as points with error bars; each trivial policy as one black line over both.
    numbers : dict
        ``train_values``, ``unseen_values``, ``learners`` and ``trivial`` (the ``per_task`` section), and
        per learner the gap ``unseen_mean - train_mean`` of the means over task values.
    """
    per = summary["per_task"]
    train_x, unseen_x = per["train_values"], per["unseen_values"]
    if not train_x or train_x[0] is None:
        raise ValueError("task_value_figure: the summary's family has no task values")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    gaps = {}
    for n, (learner, stats) in enumerate(per["learners"].items()):
        color = _color(learner, n)
        seeds = (stats["train"] or {}).get("n_seeds", 0)
        if unseen_x and stats.get("unseen"):
            mean, std = np.asarray(stats["unseen"]["mean"]), np.asarray(stats["unseen"]["std"])
            ax.plot(unseen_x, mean, color=color, lw=1.2, label=f"{learner} unseen (n={seeds})")
            if stats["unseen"]["n_seeds"] > 1:
                ax.fill_between(unseen_x, mean - std, mean + std, color=color, alpha=0.2, lw=0)
        if stats.get("train"):
            ax.errorbar(train_x, stats["train"]["mean"], yerr=stats["train"]["std"], fmt="o", color=color,
                        ms=5, capsize=3, label=f"{learner} trained")
        if stats.get("train") and stats.get("unseen"):
            gaps[learner] = float(np.mean(stats["unseen"]["mean"]) - np.mean(stats["train"]["mean"]))
    for name, stats in per["trivial"].items():
        label, style = TRIVIAL_STYLES.get(name, (name, "-."))
        x, y = _merged(train_x, stats.get("train"), unseen_x, stats.get("unseen"))
        if len(x):
            ax.plot(x, y, style, color="k", lw=1, label=label)
    budget = budget_text(summary)
    ax.set(xlabel=summary.get("task_name") or "task value", ylabel="held-out score (mean return)",
           title=title or f"{summary.get('family')}: score per task value" + (f"\n{budget}" if budget else ""))
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    numbers = {"train_values": train_x, "unseen_values": unseen_x, "learners": per["learners"],
               "trivial": per["trivial"], "unseen_minus_train": gaps}
    return fig, to_jsonable(numbers)


def path_turn(x, y, window=10, min_chord=0.05):
    """Signed turning of a path in degrees, counter-clockwise (to the left) positive.

    The path is cut into chords of ``window`` steps; the turn is the sum of the wrapped heading changes
    between successive chords, so a right turn the long way (say 120° to -120° through 0°, -240°)
    is told from a left turn the short way (+120°), which the net displacement cannot do.

    Parameters
    ----------
    x, y : sequence of float
        Positions, one per env step.
    window : int
        Steps per chord: long enough to average out the gait's side-to-side sway.
    min_chord : float
        Chords shorter than this (m) are left out: a standing agent's heading is noise.

    Returns
    -------
    float
        The turn in degrees (0.0 when fewer than two chords are long enough).
    """
    if window < 1:
        raise ValueError(f"window={window!r}: expected a positive number of steps")
    x, y = np.asarray(x, float), np.asarray(y, float)
    ends = np.arange(0, len(x), window)
    dx, dy = np.diff(x[ends]), np.diff(y[ends])
    keep = np.hypot(dx, dy) >= min_chord
    headings = np.arctan2(dy[keep], dx[keep])
    return float(np.degrees(np.sum(np.angle(np.exp(1j * np.diff(headings))))))


def segment_progress(x, y, direction, marks, tail=40, window=10):
    """Per segment between marks: displacement, its heading, the turn and the intended direction.

    Parameters
    ----------
    x, y : sequence of float
        Position after each env step.
    direction : sequence of float
        Direction (radians) applied at each env step.
    marks : sequence of int
        First step of each segment.
    tail : int
        Steps at the end of each segment whose displacement gives ``exit_heading`` (40: two seconds of
        ant_dir; an agent that turns late in a segment shows it only over a short tail).
    window : int
        Steps per chord of `path_turn`.

    Returns
    -------
    list of dict
        ``start``, ``stop``, ``intended`` and ``heading`` (radians), ``distance`` (m),
        ``along`` (displacement projected on the intended directions step by step, m),
        ``heading_error_deg`` (absolute, in [0, 180]), ``turn_deg`` (`path_turn` from the chord before the
        segment to its end, left positive), ``exit_heading`` (radians) and ``exit_distance`` (m): the displacement over
        the segment's last ``tail`` steps (all of them if it is shorter), where the agent ends up heading.
    """
    x, y, d = (np.asarray(v, float) for v in (x, y, direction))
    xs, ys = np.concatenate(([x[0]], x)), np.concatenate(([y[0]], y))      # no position before step 0
    bounds = list(marks) + [len(x)]
    out = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        if stop <= start:
            continue
        dx, dy = xs[stop] - xs[start], ys[stop] - ys[start]
        steps_dx, steps_dy = np.diff(xs[start:stop + 1]), np.diff(ys[start:stop + 1])
        seg = d[start:stop]
        intended = float(np.arctan2(np.sin(seg).mean(), np.cos(seg).mean()))
        heading = float(np.arctan2(dy, dx))
        error = abs((heading - intended + np.pi) % (2 * np.pi) - np.pi)
        first = max(start, stop - tail)
        lead = max(start - window, 0)        # one chord before the change: the heading it turns from
        tail_dx, tail_dy = xs[stop] - xs[first], ys[stop] - ys[first]
        out.append({"start": int(start), "stop": int(stop), "intended": intended, "heading": heading,
                    "distance": float(np.hypot(dx, dy)),
                    "along": float(np.sum(steps_dx * np.cos(seg) + steps_dy * np.sin(seg))),
                    "heading_error_deg": float(np.degrees(error)),
                    "turn_deg": path_turn(xs[lead:stop + 1], ys[lead:stop + 1], window),
                    "exit_heading": float(np.arctan2(tail_dy, tail_dx)),
                    "exit_distance": float(np.hypot(tail_dx, tail_dy))})
    return out


def segment_line(segments):
    """One line for a schedule's `segment_progress`: per segment the command, where it went, the turn.

    Example: ``120°: 14.4 m at 98°, turned +104°, ends at 131°``.
    """
    deg = lambda a: f"{np.degrees(a):.0f}°"
    return "; ".join(f"{deg(s['intended'])}: {s['distance']:.1f} m at {deg(s['heading'])}, "
                     f"turned {s['turn_deg']:+.0f}°, ends at {deg(s['exit_heading'])}" for s in segments)


def _arrow_length(paths):
    extent = [np.ptp(np.asarray(p)) for xy in paths for p in xy if len(p)]
    return max(0.15 * max(extent, default=0.0), 0.02)


def steering_figure(steering, title=None):
    """Torso paths under the steering schedules: one panel per schedule, paths coloured by learner.

    Parameters
    ----------
    steering : dict
        A ``steering.json``.
    title : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
        Each panel: every learner's x-y path (circle: start, squares: where the intended direction
        changes, cross: where a terminated episode ended), and grey arrows pointing along the intended
        direction from each marked point.
    numbers : dict
        Per schedule: ``marks``, and per learner ``return``, ``alive_steps``, ``final_position`` and
        ``segments`` (`segment_progress`).
    """
    names = list(steering["schedules"])
    plt = pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.2), squeeze=False)
    numbers = {"family": steering.get("family"), "episode_steps": steering.get("episode_steps"), "schedules": {}}
    for ax, name in zip(axes[0], names):
        schedule = steering["schedules"][name]
        marks = schedule["marks"]
        entry = numbers["schedules"][name] = {"marks": marks, "learners": {}}
        paths = [(r["schedules"][name]["x"], r["schedules"][name]["y"]) for r in steering["learners"].values()]
        length = _arrow_length(paths)
        for n, (learner, result) in enumerate(steering["learners"].items()):
            run = result["schedules"][name]
            x, y, color = np.asarray(run["x"]), np.asarray(run["y"]), _color(learner, n)
            ended = run["alive_steps"] < len(x)          # the episode terminated (the Ant fell)
            label = f"{learner} ({result['run']}): {run['return']:.0f}" + (
                f", fell at step {run['alive_steps']}" if ended else "")
            ax.plot(x, y, color=color, lw=1.3, label=label)
            ax.plot(x[0], y[0], "o", color=color, ms=5)
            if ended:
                ax.plot(x[run["alive_steps"] - 1], y[run["alive_steps"] - 1], "x", color=color, ms=8, mew=2)
            for m in marks:
                i = max(m - 1, 0)                                  # position when the new direction starts
                ax.plot(x[i], y[i], "s", color=color, ms=4)
                theta = run["direction"][m]
                tip = (x[i] + length * np.cos(theta), y[i] + length * np.sin(theta))
                ax.annotate("", xy=tip, xytext=(x[i], y[i]), annotation_clip=False,
                            arrowprops={"arrowstyle": "->", "color": "0.5", "lw": 1})
                ax.update_datalim([tip])
            entry["learners"][learner] = {
                "run": result["run"], "return": run["return"], "alive_steps": run["alive_steps"],
                "final_position": [float(x[-1]), float(y[-1])],
                "segments": segment_progress(x, y, run["direction"], marks)}
        ax.autoscale_view()
        ax.set(xlabel="x (m)", ylabel="y (m)", title=name)
        ax.set_aspect("equal", adjustable="datalim")
        ax.legend(fontsize=7)
    fig.suptitle(title or f"{steering.get('family')}: steering by the direction input (arrows: intended direction)")
    fig.tight_layout()
    return fig, to_jsonable(numbers)
