"""A staged campaign's state in words: the stage-dependent numbers of its READMEs, generated.

A campaign continued in stages (`pdlf_brian.analysis.stages`) is written up at every stage. The
numbers that change with each stage (scores, budget, the stopping rule's state, the saturating fits,
walking and steering at the latest full stage, how often each agent turned back) are collected here from
the committed files (``OUT/gen<N>/summary.json``, ``OUT/stopping_rule.json``, ``OUT/plateau_fit.json``,
``OUT/gen<N>/early_dynamics.json``, ``OUT/gen<N>/steering*.json``) by `status_facts`, written as Markdown
by `status_markdown` and `status_brief`, and put between a README's markers by `replace_block`::

    <!-- status:ant_dir -->
    ...generated...
    <!-- /status:ant_dir -->

``control_study status`` does all three; with ``--check`` it only says whether the READMEs are current.
Interpretation stays in the READMEs' own words, around the blocks.
"""
import json
import os
import re

import numpy as np

from pdlf_brian.analysis.stages import campaign_stopping_rule, stage_rows
from pdlf_brian.analysis.steering_stages import MOVING, TURN_BACK_SCHEDULES, stage_steering

#: An agent told to turn back has done so when it ends within this many degrees of the command
#: (over the segment's last steps) while still moving (``MOVING`` m over them).
TURNED_BACK_WITHIN = 45.0
#: Generations over which the average rise of the scored mean is given.
AVERAGE_OVER = 500


def turned_back(row, within=TURNED_BACK_WITHIN):
    """Did a `stage_steering` row end heading within ``within`` degrees of the command, moving?"""
    return row["exit_distance"] >= MOVING and row["exit_error_deg"] <= within


def earliest_pair(verdict, latest, step):
    """The two stages at which the stopping rule can be met soonest, as ``[first, second]``.

    A future stage ``g`` (after ``latest``, every ``step`` generations) completes the rule at once when
    the stage ``apart`` before it was below; otherwise the soonest is ``g`` and ``g + apart``.
    """
    apart, low = verdict["apart"], set(verdict["stages_below"])
    best = None
    for g in range(latest + step, latest + verdict["apart"] + 2 * step, step):
        pair = [g - apart, g] if g - apart in low else [g, g + apart]
        if best is None or pair[1] < best[1]:
            best = pair
    return best


def _read(path):
    with open(path) as fh:
        return json.load(fh)


def _rule_facts(rows, verdict):
    by_stage = {r["generations"]: r for r in rows}
    change = {g: r["learners"][verdict["learner"]]["change_last_50_mean"] for g, r in by_stage.items()
              if verdict["learner"] in r["learners"]}
    latest = rows[0]["generations"]
    step = latest - rows[1]["generations"] if len(rows) > 1 else verdict["apart"]
    below = [{"stage": g, "change": change[g],
              "after": (None if g + verdict["apart"] not in change else
                        {"stage": g + verdict["apart"], "change": change[g + verdict["apart"]]})}
             for g in verdict["stages_below"]]
    last_seen = max([b["stage"] for b in below] + [b["after"]["stage"] for b in below if b["after"]], default=None)
    since = [{"stage": g, "change": change[g]} for g in verdict["judged"]
             if last_seen is not None and g > last_seen]
    return {**verdict, "latest": latest, "step": step, "below_detail": below, "since_last": since,
            "earliest": None if verdict["met"] else earliest_pair(verdict, latest, step)}


def lead_since(rows, learner, other):
    """The earliest stage from which, at every later stage, every seed of ``learner`` scored above every
    seed of ``other`` (None where the latest stage does not have it)."""
    since = None
    for row in sorted(rows, key=lambda r: r["generations"]):
        a, b = row["learners"].get(learner), row["learners"].get(other)
        ahead = a is not None and b is not None and min(a["per_seed"]) > max(b["per_seed"])
        since = (since if since is not None else row["generations"]) if ahead else None
    return since


def _average_rise(rows, learner, over=AVERAGE_OVER, per=50):
    by_stage = {r["generations"]: r["learners"].get(learner) for r in rows}
    latest = rows[0]["generations"]
    start = latest - over
    if by_stage.get(start) is None:
        return None
    first, last = by_stage[start]["train_score_mean"], by_stage[latest]["train_score_mean"]
    changes = [e["change_last_50_mean"] for g, e in by_stage.items()
               if e is not None and start < g <= latest and e["change_last_50_mean"] is not None]
    return {"from": start, "to": latest, "first": first, "last": last, "per": per,
            "rise_per": (last - first) * per / over, "change_min": min(changes), "change_max": max(changes)}


def _fit_facts(out):
    path = os.path.join(out, "plateau_fit.json")
    if not os.path.isfile(path):
        return None
    fit = _read(path)
    forms = {}
    for form in fit["forms"]:
        mine = [r for r in fit["rows"] if r["curve"] == "mean" and r["form"] == form]
        if not mine:
            continue
        tests = [b for b in fit["backtests"] if b["form"] == form]
        forms[form] = {"starts": sorted(r["start"] for r in mine),
                       "last_generation": mine[0]["last_generation"],
                       "level": [min(r["level"] for r in mine), max(r["level"] for r in mine)],
                       "rmse": [min(r["rmse"] for r in mine), max(r["rmse"] for r in mine)],
                       "rise_now": [min(r["rise_now"] for r in mine), max(r["rise_now"] for r in mine)],
                       "below": [min(r["generation_below"] for r in mine), max(r["generation_below"] for r in mine)],
                       "backtests": len(tests), "backtests_high": sum(b["bias"] > 0 for b in tests)}
    return {"threshold": fit["threshold"], "per": fit["per"], "forms": forms}


def _walking_facts(out, stage):
    path = os.path.join(out, f"gen{stage}", "early_dynamics.json")
    if not os.path.isfile(path):
        return None
    runs = {}
    for row in _read(path)["rows"]:
        speeds = row["per_step_direction_reward_by_direction"]
        runs[row["run"]] = {"generations": row["generations"], "speed": [min(speeds), max(speeds)],
                            "heading": [min(row["heading_by_direction_deg"]), max(row["heading_by_direction_deg"])],
                            "mean_episode_steps": row["mean_episode_steps"],
                            "commands": [float(np.degrees(min(row["directions"]))),
                                         float(np.degrees(max(row["directions"])))]}
    return runs


def _steering_facts(rows, full, since):
    counted = sorted({r["generations"] for r in rows if r["generations"] >= since})
    schedules = {}
    for name in TURN_BACK_SCHEDULES:
        mine = [r for r in rows if r["schedule"] == name and r["generations"] >= since]
        if not mine:
            continue
        per_run = {}
        for run in sorted({r["run"] for r in mine}):
            series = [r for r in mine if r["run"] == run]
            per_run[run] = {"turned_back": [r["generations"] for r in series if turned_back(r)],
                            "stages": [r["generations"] for r in series]}
        latest = {r["run"]: {k: r[k] for k in ("turn_deg", "exit_error_deg", "exit_heading_deg", "exit_distance",
                                               "distance", "alive_steps")}
                  for r in rows if r["schedule"] == name and r["generations"] == full}
        schedules[name] = {"command_deg": mine[-1]["command_deg"], "previous_deg": mine[-1]["previous_deg"],
                           "runs": per_run, "latest": latest}
    arcs = {r["run"]: r["heading_deg"] for r in rows if r["schedule"] == "arc" and r["generations"] == full}
    arc_all = [r["heading_deg"] for r in rows if r["schedule"] == "arc" and r["generations"] >= since]
    arc_command = next((r["command_deg"] for r in rows if r["schedule"] == "arc"), None)
    episode_steps = max(r["alive_steps"] for r in rows)
    falls = sorted({(r["generations"], r["run"]) for r in rows if r["alive_steps"] < episode_steps})
    return {"since": since, "stages": counted, "schedules": schedules, "arc_latest": arcs, "arc_command": arc_command,
            "arc_range": [min(arc_all), max(arc_all)] if arc_all else None, "falls": falls}


def status_facts(out, steering_since=None):
    """Everything `status_markdown` and `status_brief` write, from the campaign's committed files.

    Parameters
    ----------
    out : str
        The campaign directory.
    steering_since : int, optional
        Count turns back at the full stages from this many generations on (default: every full stage).

    Returns
    -------
    dict
        ``campaign`` (the directory's name), ``rows`` (`stage_rows`), ``latest`` (its newest row), ``full`` (the
        latest stage with steering episodes, or None), ``budget`` (per learner: population, tasks and
        episode length, from the newest stage's ``summary.json``), ``lead_since`` (`lead_since` against
        each other learner), ``rule`` (`stopping_rule`'s verdict with the rise after each stage below
        and the earliest pair, or None), ``average`` (the scored mean's rise over the last
        `AVERAGE_OVER` generations), ``fits`` (``plateau_fit.json`` per form), ``walking`` and
        ``steering`` (at the latest full stage; turn-back counts since ``steering_since``).
    """
    rows = stage_rows(out)
    verdict = campaign_stopping_rule(out, rows)
    learner = verdict["learner"] if verdict else "plastic"
    steering = stage_steering(out)
    full_stages = sorted({r["generations"] for r in steering})
    full = full_stages[-1] if full_stages else None
    latest = rows[0]
    kept = os.path.join(out, f"gen{latest['generations']}", "summary.json")
    summary = _read(kept if os.path.isfile(kept) else os.path.join(out, "summary.json"))
    tasks = len((summary.get("per_task") or {}).get("train_values") or []) or None
    budget = {r["learner"]: {"population": r["population"], "episode_steps": r.get("episode_steps"), "tasks": tasks}
              for r in summary["rows"]}
    return {"campaign": os.path.basename(os.path.normpath(out)), "learner": learner, "rows": rows, "latest": latest,
            "full": full, "budget": budget,
            "lead_since": {name: lead_since(rows, learner, name) for name in latest["learners"] if name != learner},
            "rule": None if verdict is None else _rule_facts(rows, verdict),
            "average": _average_rise(rows, learner), "fits": _fit_facts(out),
            "walking": None if full is None else _walking_facts(out, full),
            "steering": None if full is None else _steering_facts(
                steering, full, full_stages[0] if steering_since is None else steering_since)}


# -- words ---------------------------------------------------------------------------------------
def _n(value, digits=0):
    """``1,524``, ``−8``: thousands separated, a true minus sign."""
    return f"{value:,.{digits}f}".replace("-", "\u2212")


def _signed_1(value):
    return f"{value:+.1f}".replace("-", "\u2212")


def _signed(value):
    return f"{int(round(value)):+d}".replace("-", "\u2212")


def _range(lo, hi, digits=0, unit=""):
    a, b = _n(lo, digits), _n(hi, digits)
    return f"{a}{unit}" if a == b else f"{a}-{b}{unit}" if lo >= 0 else f"{a}{unit} … {b}{unit}"


def _list(items):
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


#: How a learner is named in prose.
LEARNER_WORDS = {"plastic": "plastic", "weights": "weight-trained"}


def _word(learner):
    return LEARNER_WORDS.get(learner, learner)


def _seed(run):
    return "seed " + run.rsplit("_s", 1)[-1]


def _scores(entry):
    return ", ".join(_n(s) for s in entry["per_seed"])


def _rule_sentence(rule, brief=False):
    head = (f"the {rule['learner']} mean's change over the last 50 generations below {_signed(rule['below'])} "
            f"at two stages {rule['apart']} apart, stated at {rule['stated_at']}")
    state = (f"met at {rule['pair'][0]} and {rule['pair'][1]}" if rule["met"]
             else f"not yet met at {rule['latest']}")
    lows = _list(f"{b['stage']} ({_signed(b['change'])})" for b in rule["below_detail"]) or "none"
    text = f"**Stopping rule** ({head}): **{state}**. Stages below {_signed(rule['below'])}: {lows}"
    followed = [b for b in rule["below_detail"] if b["after"] is not None]
    if followed and not rule["met"]:
        text += (f"; the stage {rule['apart']} generations after " + _list(str(b["stage"]) for b in followed)
                 + " rose: "
                 + _list(f"{b['after']['stage']} ({_signed(b['after']['change'])})" for b in followed))
    if rule["since_last"] and not rule["met"] and not brief:
        text += "; since then " + _list(f"{s['stage']} ({_signed(s['change'])})" for s in rule["since_last"])
    text += "."
    if rule["earliest"]:
        text += f" The earliest the rule can now be met is at {rule['earliest'][0]} and {rule['earliest'][1]}."
    return text


def _average_sentence(avg):
    return (f"**Average rise:** over the last {AVERAGE_OVER} generations the scored mean went from "
            f"{_n(avg['first'])} ({avg['from']}) to {_n(avg['last'])} ({avg['to']}), "
            f"{_signed(avg['rise_per'])} per {avg['per']} on average, "
            f"while single stages changed by {_signed(avg['change_min'])} to {_signed(avg['change_max'])}.")


def _fit_sentence(fits):
    names = {"exponential": "exponential", "power": "power law"}
    parts = []
    for form, f in fits["forms"].items():
        lo, hi = f["below"]
        when = (f"{_n(lo)}-{_n(hi)}" if lo != hi else _n(lo))
        parts.append(f"{names.get(form, form)} (from {f['starts'][0]}-{f['starts'][-1]}, "
                     f"rms {_range(*f['rmse'], 1)}): level {_range(*f['level'])}, rise now "
                     f"{_signed_1(f['rise_now'][0])} to {_signed_1(f['rise_now'][1])} per {fits['per']}, "
                     f"below {_signed(fits['threshold'])} at {when} generations; "
                     f"backtests too high in {f['backtests_high']} of {f['backtests']}")
    return ("**Saturating fits** to the mean curve (to " + str(next(iter(fits["forms"].values()))["last_generation"])
            + ", `plateau_fit.json`): " + "; ".join(parts) + ".")


def _walking_sentence(walking, full, learner):
    mine = {run: w for run, w in walking.items() if run.startswith(learner + "_")}
    others = {run: w for run, w in walking.items() if not run.startswith(learner + "_")}
    text = (f"**Walking** (`gen{full}/early_dynamics.json`, one episode per direction): "
            + "; ".join(f"{_seed(run)} {_range(*w['speed'], 2)} m/s, headings {_n(w['heading'][0])}° … "
                        f"{_n(w['heading'][1])}°" for run, w in sorted(mine.items()))
            + " (for commands of {} … {})".format(*(f"{_n(c)}°" for c in next(iter(walking.values()))["commands"])))
    if others:
        lo = min(w["speed"][0] for w in others.values())
        hi = max(w["speed"][1] for w in others.values())
        text += f"; the other runs ({', '.join(sorted(others))}) {_n(lo, 2)} to {_n(hi, 2)} m/s"
    short = [f"{run} ({w['mean_episode_steps']:.0f} steps)" for run, w in sorted(walking.items())
             if w["mean_episode_steps"] < max(v["mean_episode_steps"] for v in walking.values())]
    if short:
        text += "; episodes ended early (a fall) for " + _list(short) + " on average"
    return text + "."


def _steering_sentences(st, full):
    n = len(st["stages"])
    lines = []
    for name, sched in st["schedules"].items():
        counts = []
        for run, r in sched["runs"].items():
            k = len(r["turned_back"])
            where = f" ({', '.join(str(g) for g in r['turned_back'])})" if 0 < k <= 5 else ""
            counts.append(f"{_seed(run)} at {k}{where}")
        latest = "; ".join(f"{_seed(run)} turned {_n(abs(v['turn_deg']))}° to the "
                           f"{'left' if v['turn_deg'] > 0 else 'right'}, ending {_n(v['exit_error_deg'])}° off"
                           + (" (standing)" if v["exit_distance"] < MOVING else "")
                           for run, v in sorted(sched["latest"].items()))
        lines.append(f"{name} ({_n(sched['previous_deg'])}° → {_n(sched['command_deg'])}°): turned back "
                     f"{counts[0]} of the {n} full stages from {st['since']} to {st['stages'][-1]}, "
                     + ", ".join(counts[1:]) + f"; at {full}: {latest}")
    text = (f"**Steering** (`gen{full}/steering*.json`; `stages_steering.png`). Turning back, counted where "
            f"an agent ends within {TURNED_BACK_WITHIN:.0f}° of the command over the last 40 steps while moving: "
            + "; ".join(lines) + ".")
    if st["arc_latest"]:
        text += (f" Through the arc (last command {_n(st['arc_command'])}°), net heading of its last segment: "
                 + ", ".join(f"{_seed(run)} {_n(h)}°" for run, h in sorted(st["arc_latest"].items()))
                 + f" ({_n(st['arc_range'][0])}° to {_n(st['arc_range'][1])}° at the full stages from "
                   f"{st['since']}).")
    falls = [f for f in st["falls"] if f[0] >= st["since"]]
    text += (" Falls in steering episodes since " + str(st["since"]) + ": "
             + (_list(f"{run} at {g}" for g, run in falls) if falls else "none") + ".")
    return text


def status_markdown(facts):
    """The full block: where the campaign stands at its latest stage, one point per topic."""
    latest, learner = facts["latest"], facts["learner"]
    g = latest["generations"]
    kept = (f"`gen{g}/`, a full stage: summaries, steering, early dynamics and figures" if facts["full"] == g else
            f"`gen{g}/` the summaries" + (f", `gen{facts['full']}/` the latest full stage with steering, early "
                                          f"dynamics and figures" if facts["full"] else ""))
    lines = [f"**Where it stands at {g} generations** (generated by `control_study status` from the committed "
             f"stages; {kept}):"]
    others = [name for name in latest["learners"] if name != learner]
    p = latest["learners"][learner]
    score = (f"- **Scores:** {learner} **{_n(p['train_score_mean'])} ± {_n(p['train_score_std'])}** "
             f"(seeds {_scores(p)}; unseen {_n(p['unseen_score_mean'])} ± {_n(p['unseen_score_std'])})")
    for name in others:
        e = latest["learners"][name]
        lead = facts["lead_since"].get(name)
        score += (f", {_word(name)} {_n(e['train_score_mean'])} ± {_n(e['train_score_std'])} ({_scores(e)}"
                  + ("" if lead is None else
                     f"; every {_word(learner)} seed above every {_word(name)} one at every stage since {lead}") + ")")
    if latest.get("task_agnostic"):
        score += f", task-agnostic {_n(latest['task_agnostic']['train_score'])}"
    if latest.get("zero_action"):
        score += f", zero action {_n(latest['zero_action']['train_score'], 1)}"
    score += "."
    changed = [(name, latest["learners"][name]) for name in [learner] + others
               if latest["learners"][name]["change_last_50_mean"] is not None]
    if changed:
        score += " Over the last 50 generations " + ", ".join(
            (f"the {_word(name)} mean changed by " if i == 0 else f"the {_word(name)} one by ")
            + f"{_signed(e['change_last_50_mean'])} ± {_n(e['change_last_50_std'])}"
            + ("" if name != learner or None in e["change_last_50_per_seed"] else
               " (seeds " + ", ".join(_signed(c) for c in e["change_last_50_per_seed"]) + ")")
            for i, (name, e) in enumerate(changed)) + "."
    lines.append(score)
    b = facts["budget"][learner]
    possible = None
    if b["episode_steps"] and b["tasks"]:
        possible = g * b["population"] * b["tasks"] * b["episode_steps"]
    budget = (f"- **Budget:** {g} generations of {b['population']}"
              + (f" × {b['tasks']} episodes of at most {b['episode_steps']} steps" if possible else "")
              + " per run; env steps per run " + ", ".join(
                  f"{_n(latest['learners'][name]['env_steps'] / 1e6, 1)} M ({_word(name)})"
                  for name in [learner] + others)
              + (f" of {_n(possible / 1e6, 1)} M possible" if possible else "")
              + "; wall time per run " + ", ".join(
                  f"{_n(latest['learners'][name]['wall_seconds'])} s ({_word(name)})"
                  for name in [learner] + others) + ".")
    for name in others:
        ratio = p["env_steps"] / latest["learners"][name]["env_steps"]
        budget = budget[:-1] + f"; the {_word(learner)} runs took {ratio:.0f}× the {_word(name)} runs' env steps."
    lines.append(budget)
    if facts["rule"]:
        lines.append("- " + _rule_sentence(facts["rule"]))
    if facts["average"]:
        lines.append("- " + _average_sentence(facts["average"]))
    if facts["fits"]:
        lines.append("- " + _fit_sentence(facts["fits"]))
    if facts["walking"]:
        lines.append("- " + _walking_sentence(facts["walking"], facts["full"], learner))
    if facts["steering"]:
        lines.append("- " + _steering_sentences(facts["steering"], facts["full"]))
    return "\n".join(lines)


def status_brief(facts):
    """One sentence for a top-level README: the latest stage's score, budget and the rule's state."""
    latest, learner = facts["latest"], facts["learner"]
    p = latest["learners"][learner]
    text = (f"At {latest['generations']} generations ({_n(p['env_steps'] / 1e6, 1)} M env steps per {learner} run) the "
            f"{learner} mean is {_n(p['train_score_mean'])} ± {_n(p['train_score_std'])}"
            + (f" against {_n(latest['zero_action']['train_score'], 1)} for standing still"
               if latest.get("zero_action") else "")
            + ("." if p["change_last_50_mean"] is None else
               f", and changed by {_signed(p['change_last_50_mean'])} over the last 50 generations."))
    if facts["rule"]:
        rule = facts["rule"]
        text += " " + _rule_sentence(rule, brief=True)
    if facts["average"]:
        text += " " + _average_sentence(facts["average"])
    if facts["steering"]:
        st = facts["steering"]
        tri = st["schedules"].get("triangle")
        if tri:
            text += (" Turned back in the triangle: " + ", ".join(
                f"{_seed(run)} at {len(r['turned_back'])}" for run, r in tri["runs"].items())
                     + f" of the {len(st['stages'])} full stages from {st['since']} to {st['stages'][-1]}.")
    return text


def _markers(name):
    return f"<!-- status:{name} -->", f"<!-- /status:{name} -->"


def replace_block(text, name, body):
    """``text`` with what lies between the markers of block ``name`` replaced by ``body``.

    Raises `ValueError` when the markers are missing, repeated or out of order.
    """
    begin, end = _markers(name)
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"block {name!r}: expected one {begin} followed by one {end}")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def read_block(text, name):
    """What lies between the markers of block ``name`` (stripped), or None where there are none."""
    begin, end = _markers(name)
    match = re.search(re.escape(begin) + r"\n?(.*?)\n?" + re.escape(end), text, re.S)
    return None if match is None else match.group(1)


def render_blocks(out, steering_since=None):
    """``{block name: Markdown}`` for the campaign ``NAME`` in ``out``: ``NAME`` (`status_markdown`),
    ``NAME-brief`` (`status_brief`) and ``NAME-table`` (`pdlf_brian.analysis.stages.stage_table`)."""
    from pdlf_brian.analysis.stages import stage_table

    facts = status_facts(out, steering_since=steering_since)
    name = facts["campaign"]
    return {name: status_markdown(facts), name + "-brief": status_brief(facts),
            name + "-table": stage_table(facts["rows"])}


def fill_blocks(text, rendered):
    """``(text, names)``: ``text`` with every block of ``rendered`` that it holds filled, and their names."""
    names = []
    for name, body in rendered.items():
        if _markers(name)[0] in text:
            text = replace_block(text, name, body)
            names.append(name)
    return text, names
