"""Stages of a campaign: one row per finished stage, from the summaries it kept.

A control campaign is continued in stages (``--generations`` raised each time); the summary of each
finished stage is kept as ``OUT/gen<N>/summary.json`` (`pdlf_brian.protocols.control_study`
writes ``OUT/summary.json``; the campaign copies it there). This module reads those summaries into
one table, newest stage first: per learner the held-out and unseen scores (mean ± std over seeds),
the per-seed scores, how far the held-out curve moved over its last 50 generations and whether it
has flattened, the env steps and wall time per run, and the trivial policies' scores.

Summaries written before the trend was recorded lack it; it is then recomputed from the runs' logs
(``OUT/runs/<run>/log.jsonl``, cut at the stage's generation: the logs only ever grow), so every
stage is judged by the same rule.
"""
import json
import os
import re

import numpy as np

from pdlf_brian.analysis.curves import TREND_WINDOW, flattened, read_log, recent_change, trend_verdict

#: Name of a stage's directory: ``gen`` and its number of generations.
STAGE_DIR = re.compile(r"^gen(\d+)$")


def stage_summaries(out):
    """``[(generations, summary)]`` of every ``OUT/gen<N>/summary.json``, newest first.

    ``OUT/summary.json`` is added when its generations are not among the stages (the current state).
    """
    if not os.path.isdir(out):
        raise FileNotFoundError(f"out: no campaign directory {out!r}")
    found = {}
    for name in os.listdir(out):
        match = STAGE_DIR.match(name)
        path = os.path.join(out, name, "summary.json")
        if match and os.path.isfile(path):
            found[int(match.group(1))] = _read(path)
    current = os.path.join(out, "summary.json")
    if os.path.isfile(current):
        summary = _read(current)
        generations = _generations(summary)
        if generations is not None and generations not in found:
            found[generations] = summary
    if not found:
        raise FileNotFoundError(f"out: {out!r} holds no gen<N>/summary.json and no summary.json")
    return sorted(found.items(), reverse=True)


def _read(path):
    with open(path) as fh:
        return json.load(fh)


def _generations(summary):
    rows = summary.get("rows") or []
    return min(r["generations"] for r in rows) if rows else None


def _trend(row, generations, logs):
    """Mean and std over seeds of the trend, from the summary or else from the logs cut at ``generations``."""
    if row.get("heldout_change_last_50_mean") is not None:
        return row["heldout_change_last_50_mean"], row.get("heldout_change_last_50_std"), \
            [s.get("heldout_change_last_50") for s in row["per_seed"]]
    per_seed = []
    for run in row.get("runs", []):
        log = logs.get(run)
        per_seed.append(recent_change(log[:generations], "heldout", TREND_WINDOW) if log else None)
    values = [v for v in per_seed if v is not None]
    if not values:
        return None, None, per_seed
    return float(np.mean(values)), float(np.std(values)), per_seed


def stage_row(generations, summary, logs=None):
    """One stage's row: ``generations``, ``learners`` (per learner: scores, per-seed scores, trend,
    ``flattened``, env steps and wall time per run) and ``zero_action``/``task_agnostic`` (trained and
    unseen scores, or None when not run)."""
    logs = logs or {}
    learners = {}
    for row in summary.get("rows", []):
        change, change_std, change_per_seed = _trend(row, generations, logs)
        learners[row["learner"]] = {
            "train_score_mean": row["train_score_mean"], "train_score_std": row["train_score_std"],
            "unseen_score_mean": row.get("unseen_score_mean"), "unseen_score_std": row.get("unseen_score_std"),
            "per_seed": [s["train_score"] for s in row["per_seed"]],
            "change_last_50_mean": change, "change_last_50_std": change_std,
            "change_last_50_per_seed": change_per_seed,
            "flattened": flattened(change, row["train_score_std"], len(row.get("seeds", []))),
            "env_steps": row["env_steps"], "wall_seconds": row["wall_seconds"], "seeds": row.get("seeds")}
    trivial = summary.get("trivial") or {}
    scores = {name: (None if not trivial.get(name) else
                     {"train_score": trivial[name]["train_score_mean"],
                      "unseen_score": trivial[name].get("unseen_score_mean")})
              for name in ("zero_action", "task_agnostic")}
    return {"generations": generations, "learners": learners, **scores}


def stage_rows(out):
    """Rows of every stage of the campaign in ``out`` (`stage_row`), newest first."""
    logs = {}
    runs = os.path.join(out, "runs")
    if os.path.isdir(runs):
        for name in sorted(os.listdir(runs)):
            if os.path.isfile(os.path.join(runs, name, "log.jsonl")):
                logs[name] = read_log(os.path.join(runs, name))
    return [stage_row(generations, summary, logs) for generations, summary in stage_summaries(out)]


#: Fields of ``OUT/stopping_rule.json``, the rule a campaign states for itself (`read_stopping_rule`).
RULE_FIELDS = ("learner", "below", "apart", "stated_at")


def read_stopping_rule(out):
    """The stopping rule a campaign stated in ``OUT/stopping_rule.json``, or None where it has none.

    The file holds ``learner`` (whose curve the rule judges), ``below`` (the change over the last 50
    generations that counts as level), ``apart`` (generations between the two stages that must both
    be below it) and ``stated_at`` (the stage at which the rule was written down: only later stages are
    judged), and may hold ``why``. Raises `ValueError` naming a missing or bad field.
    """
    path = os.path.join(out, "stopping_rule.json")
    if not os.path.isfile(path):
        return None
    rule = _read(path)
    missing = [f for f in RULE_FIELDS if f not in rule]
    if missing:
        raise ValueError(f"{path}: missing field(s) {', '.join(missing)}; a rule has {', '.join(RULE_FIELDS)}")
    if not isinstance(rule["learner"], str):
        raise ValueError(f"{path}: learner must be a learner's name such as 'plastic', got {rule['learner']!r}")
    if isinstance(rule["below"], bool) or not isinstance(rule["below"], (int, float)):
        raise ValueError(f"{path}: below must be a number (a change over the last {TREND_WINDOW} generations), "
                         f"got {rule['below']!r}")
    for field, least in (("apart", 1), ("stated_at", 0)):
        value = rule[field]
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{path}: {field} must be a whole number of generations of at least {least}, got {value!r}")
    return rule


def campaign_stopping_rule(out, rows):
    """`stopping_rule`'s verdict on ``rows`` for the rule in ``OUT/stopping_rule.json``, or None where the
    campaign states none (`read_stopping_rule`)."""
    rule = read_stopping_rule(out)
    return None if rule is None else stopping_rule(rows, **{field: rule[field] for field in RULE_FIELDS})


def stopping_rule(rows, learner, below, apart=TREND_WINDOW, stated_at=0):
    """Has a campaign met its stopping rule? The learner's mean change over the last 50 generations
    below ``below`` at two stages ``apart`` generations apart.

    For curves that the `flattened` rule passes too early (seeds that differ by more than a window
    adds, while every one still rises): two stages ``apart`` = 50 generations apart judge windows that do
    not overlap, so one low window does not end a campaign. Only stages after ``stated_at`` count.

    Parameters
    ----------
    rows : list of dict
        `stage_rows` (any order).
    learner : str
    below : float
        A change (raw, not rounded) under this counts as level.
    apart : int
    stated_at : int
        The stage at which the rule was stated; it and earlier stages are not judged.

    Returns
    -------
    dict
        The rule's fields and ``judged`` (generations of the judged stages with a change),
        ``stages_below`` (those below ``below``), ``met`` and ``pair`` (the first two stages below it
        ``apart`` generations apart, earlier first, or None).
    """
    if not any(learner in r["learners"] for r in rows):
        learners = sorted({name for r in rows for name in r["learners"]})
        raise ValueError(f"learner: no stage has {learner!r}; the stages have {', '.join(learners)}")
    changes = {r["generations"]: r["learners"][learner]["change_last_50_mean"] for r in rows
               if learner in r["learners"] and r["generations"] > stated_at
               and r["learners"][learner]["change_last_50_mean"] is not None}
    low = sorted(g for g, change in changes.items() if change < below)
    pair = next(([g, g + apart] for g in low if g + apart in low), None)
    return {"learner": learner, "below": below, "apart": apart, "stated_at": stated_at,
            "judged": sorted(changes), "stages_below": low, "met": pair is not None, "pair": pair}


def stopping_rule_line(verdict):
    """One sentence of `stopping_rule`'s verdict, for the stage table's reader."""
    rule = (f"stopping rule ({verdict['learner']}'s change over the last {TREND_WINDOW} generations below "
            f"{verdict['below']:+g} at two stages {verdict['apart']} apart, stated at {verdict['stated_at']})")
    below = ", ".join(str(g) for g in verdict["stages_below"]) or "none"
    if verdict["met"]:
        return f"{rule}: met at {verdict['pair'][0]} and {verdict['pair'][1]} (stages below: {below})"
    latest = max(verdict["judged"], default=None)
    return f"{rule}: not met at {latest} (stages below: {below})"


def _score(mean, std=None):
    if mean is None:
        return ""
    return f"{mean:.0f}" if std is None else f"{mean:.0f} ± {std:.0f}"


def _change(entry):
    if entry["change_last_50_mean"] is None:
        return ""
    verdict = trend_verdict(entry["change_last_50_mean"], entry["train_score_std"], len(entry["seeds"] or []))
    return (f"{_signed(entry['change_last_50_mean'])} ± {entry['change_last_50_std']:.0f}"
            + (f" {verdict}" if verdict else ""))


def _signed(value):
    """``+3``, ``−5``; a change that rounds to zero reads ``+0``, never ``−0``."""
    return f"{int(round(value)):+d}"


def _per_seed(entry):
    """Per-seed scores, each with its own trend where known: the mean trend can pass the `flattened`
    rule because the seeds drift apart while every one of them still rises."""
    changes = entry.get("change_last_50_per_seed") or [None] * len(entry["per_seed"])
    return ", ".join(f"{s:.0f}" + ("" if c is None else f" ({_signed(c)})") for s, c in zip(entry["per_seed"], changes))


def stage_table(rows, learners=("plastic", "weights")):
    """Markdown table of `stage_rows`: one line per stage, newest first.

    The trend column says ``rising`` (not flattened), ``flat`` or ``falling`` (flattened, and fallen by at
    least the spread over seeds); the per-seed column gives each seed's score and, in brackets, its own
    change over the last 50 generations.
    """
    head = ["generations"]
    for learner in learners:
        head += [f"{learner}: held-out / unseen", "per seed (change)", "change over the last 50 gen."]
    head += ["task-agnostic", "zero action", "env steps per run (" + " / ".join(learners) + ")",
             "wall time per run (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [str(row["generations"])]
        present = [row["learners"].get(learner) for learner in learners]
        for entry in present:
            if entry is None:
                cells += ["", "", ""]
                continue
            cells += [_score(entry["train_score_mean"], entry["train_score_std"]) + " / "
                      + _score(entry["unseen_score_mean"], entry["unseen_score_std"]),
                      _per_seed(entry), _change(entry)]
        for name in ("task_agnostic", "zero_action"):
            scores = row[name]
            digits = 1 if name == "zero_action" else 0
            cells.append("" if scores is None else " / ".join(
                "" if v is None else f"{v:.{digits}f}" for v in (scores["train_score"], scores["unseen_score"])))
        cells.append(" / ".join("" if e is None else f"{e['env_steps'] / 1e6:.1f} M" for e in present))
        cells.append(" / ".join("" if e is None else f"{e['wall_seconds']:,.0f}" for e in present))
        lines.append(("| " + " | ".join(cells) + " |").replace("-", "\u2212"))
    return "\n".join(lines)


def _per_seed_series(entries, key, n_seeds):
    """``n_seeds`` lists over stages of ``entry[key][seed]``, None where a stage lacks it."""
    return [[(e.get(key) or [])[s] if e and s < len(e.get(key) or []) else None for e in entries]
            for s in range(n_seeds)]


def stage_trend_figure(rows, learners=("plastic", "weights"), since=None, title=None, rule=None):
    """Has a campaign's curve levelled off? Its stages drawn against generations.

    Top: each learner's held-out score at every stage, per seed (thin) and the mean over seeds (thick),
    with the zero-action level. Bottom: each stage's change over the last 50 generations, per seed
    (dots) and its mean (line), against the spread of the scores over seeds (dashed): the `flattened`
    rule calls a curve flat where the line lies below its dashed line, but a curve has levelled off
    only when the line comes down to zero.

    Parameters
    ----------
    rows : list of dict
        `stage_rows` (any order).
    learners : sequence of str
    since : int, optional
        Leave out stages of fewer generations (the early stages' large changes squash the axis).
    title : str, optional
    rule : dict, optional
        `stopping_rule`'s verdict: its threshold is drawn in the bottom panel, the stages below it
        ringed and the pair that met it (if any) starred.

    Returns
    -------
    tuple
        ``(figure, numbers)`` as the other figure functions (saved by `pdlf_brian.analysis.report.Report`):
        ``generations``, ``zero_action`` and, per learner, ``mean``, ``per_seed``, ``change_mean``,
        ``change_per_seed`` and ``spread`` (lists over stages, None where a stage lacks the value), and
        ``score_axis``, the top panel's limits.
    """
    from pdlf_brian.analysis.figures import pyplot

    rows = sorted((r for r in rows if since is None or r["generations"] >= since), key=lambda r: r["generations"])
    if not rows:
        raise ValueError(f"since: no stage has at least {since} generations")
    gens = [r["generations"] for r in rows]
    data = {"generations": gens, "learners": {}, "zero_action": [
        None if r["zero_action"] is None else r["zero_action"]["train_score"] for r in rows]}
    for learner in learners:
        entries = [r["learners"].get(learner) for r in rows]
        if not any(entries):
            continue
        n_seeds = max(len(e["per_seed"]) for e in entries if e)
        data["learners"][learner] = {
            "mean": [e and e["train_score_mean"] for e in entries],
            "spread": [e and e["train_score_std"] for e in entries],
            "per_seed": _per_seed_series(entries, "per_seed", n_seeds),
            "change_mean": [e and e["change_last_50_mean"] for e in entries],
            "change_per_seed": _per_seed_series(entries, "change_last_50_per_seed", n_seeds)}
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    nan = lambda values: [np.nan if v is None else v for v in values]          # noqa: E731
    for colour, (learner, d) in zip(("C0", "C1", "C2", "C3"), data["learners"].items()):
        for s, seed in enumerate(d["per_seed"]):
            top.plot(gens, nan(seed), "-", color=colour, lw=0.8, alpha=0.45)
            bottom.plot(gens, nan(d["change_per_seed"][s]), "o", color=colour, ms=3.5, alpha=0.55)
        top.plot(gens, nan(d["mean"]), "o-", color=colour, lw=2.2, label=f"{learner} (mean; thin: seeds)")
        bottom.plot(gens, nan(d["change_mean"]), "-", color=colour, lw=2.2, label=f"{learner}: mean change (dots: seeds)")
        bottom.plot(gens, nan(d["spread"]), "--", color=colour, lw=1.2, label=f"{learner}: spread over seeds")
    scores = [v for d in data["learners"].values() for seed in d["per_seed"] for v in seed if v is not None]
    zero = [v for v in data["zero_action"] if v is not None]
    if zero:
        # scale, not data: a level far from the curves is named, not drawn off the curves' axis
        lo, hi = min(scores), max(scores)
        pad = 0.5 * (hi - lo) or 1.0
        inside = lo - pad <= zero[-1] <= hi + pad
        top.plot(gens, nan(data["zero_action"]), ":", color="grey",
                 label="zero action" + ("" if inside else f" at {zero[-1]:.0f}, {'below' if zero[-1] < lo else 'above'} the axis"))
        if not inside:
            top.set_ylim(lo - 0.1 * pad, hi + 0.1 * pad)
    bottom.axhline(0.0, color="black", lw=0.8)
    if rule is not None:
        _draw_rule(bottom, rule, data)
    top.set_ylabel("held-out score at the stage")
    bottom.set_ylabel(f"change over the last {TREND_WINDOW} generations")
    bottom.set_xlabel("generations")
    top.legend(fontsize=8)
    bottom.legend(fontsize=8)
    top.set_title(title or "Stages of the campaign")
    fig.tight_layout()
    data["score_axis"] = list(top.get_ylim())
    return fig, data


def _draw_rule(ax, rule, data):
    """The stopping rule's threshold, its judged stages below it (rings) and the pair that met it (stars)."""
    gens = data["generations"]
    change = data["learners"].get(rule["learner"], {}).get("change_mean") or [None] * len(gens)
    at = dict(zip(gens, change))
    ax.axhline(rule["below"], color="black", lw=0.9, ls=":",
               label=f"stopping rule: {rule['learner']} below {rule['below']:+g} at two stages {rule['apart']} apart")
    low = [g for g in rule["stages_below"] if at.get(g) is not None]
    if low:
        ax.plot(low, [at[g] for g in low], "o", mfc="none", mec="black", ms=9, mew=1.2,
                label="judged stage below it")
    if rule["met"] and all(at.get(g) is not None for g in rule["pair"]):
        ax.plot(rule["pair"], [at[g] for g in rule["pair"]], "*", color="black", ms=13,
                label=f"rule met: {rule['pair'][0]} and {rule['pair'][1]}")
    data["stopping_rule"] = rule
