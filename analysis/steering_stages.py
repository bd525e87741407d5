"""Steering at each stage of a campaign: how far each agent turns when the direction input changes.

A control campaign keeps, at its full stages, the steering episodes of its chosen genomes
(``OUT/gen<N>/steering.json`` and ``steering_s<S>.json``, written by ``control_study steer``). This
module reads them all and, per stage, run and schedule, takes the last segment of the schedule (the
last change of the direction input) through `pdlf_brian.analysis.control.segment_progress`: how far
the path turned after the change (``turn_deg``, left positive) and how far from the command the agent
heads over the segment's last steps (``exit_error_deg``). A turn from the previous command to the last
one can go either way: to the left by ``left_deg`` or to the right by ``right_deg`` (one of them the
long way round); the figure draws both.
"""
import json
import os

import numpy as np

from pdlf_brian.analysis.control import segment_progress
from pdlf_brian.analysis.report import STEERING_FILE
from pdlf_brian.analysis.stages import STAGE_DIR

#: Turns beyond this many degrees (an agent spinning where it stands) are drawn at the axis' edge.
TURN_AXIS = 400.0
#: Metres over a segment's last steps below which the agent is drawn as standing (hollow): its heading is noise.
MOVING = 1.0
#: Schedules drawn by default: the piecewise ones, whose last change turns the agent back.
TURN_BACK_SCHEDULES = ("triangle", "rectangle")


def stage_steering(out, learner="plastic"):
    """One row per stage, run and schedule, from every ``OUT/gen<N>/steering*.json``, oldest stage first.

    Parameters
    ----------
    out : str
        The campaign directory.
    learner : str
        Whose steering to read (``plastic`` or ``weights``).

    Returns
    -------
    list of dict
        ``generations`` (the stage), ``run``, ``seed``, ``schedule``, ``previous_deg`` and
        ``command_deg`` (the intended directions before and after the last change), ``left_deg`` and
        ``right_deg`` (the turn from one to the other to the left, positive, and to the right,
        negative), ``turn_deg``, ``exit_heading_deg``, ``exit_distance`` (m; the segment's last steps)
        and ``exit_error_deg`` (|exit heading - command|, in [0, 180]), ``distance`` and ``heading_deg``
        (m and degrees: the whole segment's net displacement) and ``alive_steps``. A run steered twice
        at one stage (in two files) counts once.
    """
    if not os.path.isdir(out):
        raise FileNotFoundError(f"out: no campaign directory {out!r}")
    stages = sorted((int(m.group(1)), os.path.join(out, name)) for name in os.listdir(out)
                    if (m := STAGE_DIR.match(name)) and os.path.isdir(os.path.join(out, name)))
    rows = []
    for generations, stage_dir in stages:
        seen = set()
        for file_name in sorted(n for n in os.listdir(stage_dir) if STEERING_FILE.match(n)):   # steering.json first
            with open(os.path.join(stage_dir, file_name)) as fh:
                steering = json.load(fh)
            result = steering["learners"].get(learner)
            if result is None or result["run"] in seen:
                continue
            seen.add(result["run"])
            for name, schedule in steering["schedules"].items():
                run = result["schedules"][name]
                segments = segment_progress(run["x"], run["y"], run["direction"], schedule["marks"])
                if len(segments) < 2:
                    continue
                before, last = segments[-2], segments[-1]
                previous, command = np.degrees(before["intended"]), np.degrees(last["intended"])
                left = (command - previous) % 360.0
                exit_heading = np.degrees(last["exit_heading"])
                rows.append({"generations": generations, "run": result["run"], "seed": result.get("seed"),
                             "schedule": name, "previous_deg": float(previous), "command_deg": float(command),
                             "left_deg": float(left), "right_deg": float(left - 360.0),
                             "turn_deg": last["turn_deg"], "exit_heading_deg": float(exit_heading),
                             "exit_distance": last["exit_distance"],
                             "exit_error_deg": float(abs((exit_heading - command + 180.0) % 360.0 - 180.0)),
                             "distance": last["distance"], "heading_deg": float(np.degrees(last["heading"])),
                             "alive_steps": run["alive_steps"]})
    return rows


def steering_stages_figure(rows, schedules=TURN_BACK_SCHEDULES, title=None):
    """Does an agent turn back when told to? Each stage's last steering turn, per run, against generations.

    Top row: the turn after the schedule's last change (left positive), beside the two ways to make it
    (dashed: to the left, dotted: to the right; a turn beyond ±400°, an agent spinning, is drawn as a
    triangle at the edge). Bottom row: how far from the command the agent heads
    at the end of the episode (0: at the command). One column per schedule, one colour per run; a
    hollow marker where the agent moved less than ``MOVING`` m over the segment's last steps (its
    heading there says little).

    Parameters
    ----------
    rows : list of dict
        `stage_steering`.
    schedules : sequence of str
    title : str, optional

    Returns
    -------
    tuple
        ``(figure, numbers)`` (saved by `pdlf_brian.analysis.report.Report`): per schedule
        ``left_deg``, ``right_deg`` and, per run, ``generations``, ``turn_deg``, ``exit_error_deg`` and
        ``exit_distance``.
    """
    from pdlf_brian.analysis.figures import pyplot

    present = [s for s in schedules if any(r["schedule"] == s for r in rows)]
    if not present:
        raise ValueError(f"schedules: no steering of {list(schedules)} at any stage "
                         f"(found {sorted({r['schedule'] for r in rows})})")
    runs = sorted({r["run"] for r in rows})
    plt = pyplot()
    fig, axes = plt.subplots(2, len(present), figsize=(5.2 * len(present), 6.4), sharex=True, squeeze=False)
    numbers = {"schedules": {}}
    for column, name in enumerate(present):
        mine = sorted((r for r in rows if r["schedule"] == name), key=lambda r: r["generations"])
        turn_ax, error_ax = axes[0][column], axes[1][column]
        left, right = mine[-1]["left_deg"], mine[-1]["right_deg"]
        entry = numbers["schedules"][name] = {"previous_deg": mine[-1]["previous_deg"],
                                              "command_deg": mine[-1]["command_deg"],
                                              "left_deg": left, "right_deg": right, "runs": {}}
        turn_ax.axhline(left, color="grey", ls="--", lw=1, label=f"to the left: {left:+.0f}°")
        turn_ax.axhline(right, color="grey", ls=":", lw=1.2, label=f"to the right: {right:+.0f}°")
        turn_ax.axhline(0.0, color="black", lw=0.6)
        for n, run in enumerate(runs):
            series = [r for r in mine if r["run"] == run]
            if not series:
                continue
            gens = [r["generations"] for r in series]
            turns, errors = [r["turn_deg"] for r in series], [r["exit_error_deg"] for r in series]
            entry["runs"][run] = {"generations": gens, "turn_deg": turns, "exit_error_deg": errors,
                                  "exit_distance": [r["exit_distance"] for r in series]}
            shown = np.clip(turns, -TURN_AXIS, TURN_AXIS)
            turn_ax.plot(gens, shown, "-", color=f"C{n}", lw=1, label=run)
            error_ax.plot(gens, errors, "-", color=f"C{n}", lw=1, label=run)
            moving = np.array([r["exit_distance"] >= MOVING for r in series])
            for ax, values in ((turn_ax, shown), (error_ax, np.asarray(errors))):
                ax.plot(np.asarray(gens)[moving], values[moving], "o", color=f"C{n}", ms=4.5)
                ax.plot(np.asarray(gens)[~moving], values[~moving], "o", mfc="white", color=f"C{n}", ms=4.5)
            off = np.abs(np.asarray(turns)) > TURN_AXIS
            if off.any():                     # a spinning agent's turn: marked at the edge, not off the axis
                turn_ax.plot(np.asarray(gens)[off], shown[off], "^", color=f"C{n}", ms=7)
        turn_ax.set(title=f"{name}: {entry['previous_deg']:.0f}° → {entry['command_deg']:.0f}°",
                    ylabel="turn after the last change (°, left +)", ylim=(-TURN_AXIS - 20, TURN_AXIS + 20))
        error_ax.set(xlabel="generations", ylabel="|heading − command| at the end (°)", ylim=(0, 185))
        turn_ax.legend(fontsize=7)
    fig.suptitle(title or "steering at each stage: the turn after the last change of the direction input")
    fig.tight_layout()
    return fig, numbers
