"""``pdlf report PATH...``: every figure that applies to the given runs, and one HTML page.

A PATH is a run directory (`pdlf_brian.rundir`), or a results folder holding run directories under
``runs/`` and optionally ``summary.json`` (a grid), ``lesions.json`` (a lesion study) or
``ablations.json`` (an ablation study). For each, the report draws what applies:

* training curves (fitness and held-out score) of every run, grouped by learner/ablation with the
  spread over seeds, against generations and against env steps;
* the held-out evaluation of each run (``eval.json``) as a table;
* the evolved rule parameters of a few synapses across the run's genome snapshots (plastic runs);
* the effective plasticity window of those synapses under the final genome (plastic runs);
* the working-memory grid figures (``summary.json`` of a working-memory grid);
* the control study's figures (``summary.json`` of `pdlf_brian.protocols.control_study`): score per
  task value (trained and unseen) with the trivial policies, held-out curves, and the steering
  trajectories of every ``steering.json`` / ``steering_s<seed>.json`` (``control_steering[_s<seed>]``);
* lesion curves (``lesions.json``) and ablation curves (``ablations.json``).

Figures are written as PNG and SVG to ``OUT/`` (default: ``PATH/figures``) with a JSON file of the
numbers behind each, and ``OUT/report.html`` embeds every PNG and its numbers in one file.
"""
import base64
import html
import json
import os
import re

import numpy as np

from pdlf_brian.analysis.figures import close, save_figure, to_jsonable

#: Steering files of a control study (`pdlf_brian.protocols.control_study.steering_file`).
STEERING_FILE = re.compile(r"^steering(_s\d+)?\.json$")


def _run_dirs(path):
    from pdlf_brian.rundir import CONFIG

    if os.path.exists(os.path.join(path, CONFIG)):
        return [path]
    runs = os.path.join(path, "runs")
    if os.path.isdir(runs):
        return sorted(os.path.join(runs, n) for n in os.listdir(runs)
                      if os.path.exists(os.path.join(runs, n, CONFIG)))
    return []


def _label(config):
    label = config.learner
    if config.learner == "plastic" and config.ablation != "full":
        label += f" {config.ablation}"
    if config.task.get("task_input", True) is False:
        label += " task-agnostic"
    return label


def _group_key(config):
    task = {k: v for k, v in sorted(config.task.items()) if k in ("length", "delay", "values")}
    return f"{config.protocol} " + " ".join(f"{k}={v}" for k, v in task.items())


#: Numbers longer than this (characters of JSON) are linked, not embedded, in report.html.
MAX_INLINE_NUMBERS = 20000


class Report:
    """Collects figures (saved as PNG + SVG + numbers JSON) and writes one HTML page."""

    def __init__(self, out):
        self.out = out
        self.items = []
        os.makedirs(out, exist_ok=True)

    def add(self, name, fig_numbers, caption=""):
        fig, numbers = fig_numbers
        paths = save_figure(fig, os.path.join(self.out, name))
        close(fig)
        with open(os.path.join(self.out, f"{name}.json"), "w") as fh:
            json.dump(to_jsonable(numbers), fh, indent=1)
        self.items.append(("figure", name, caption, paths[0], numbers))

    def table(self, name, data, caption=""):
        self.items.append(("table", name, caption, None, data))

    def write_html(self, title):
        parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
                 "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}img{max-width:100%}"
                 "pre{background:#f4f4f4;padding:6px;max-height:300px;overflow:auto;font-size:11px}</style>",
                 f"<h1>{html.escape(title)}</h1>"]
        for kind, name, caption, png, numbers in self.items:
            parts.append(f"<h2>{html.escape(name)}</h2><p>{html.escape(caption)}</p>")
            if kind == "figure":
                with open(png, "rb") as fh:
                    data = base64.b64encode(fh.read()).decode()
                parts.append(f"<img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>")
            text = json.dumps(to_jsonable(numbers), indent=1)
            if len(text) > MAX_INLINE_NUMBERS:      # long per-generation series: keep the page small
                parts.append(f"<p>numbers: <code>{html.escape(name)}.json</code> beside this page "
                             f"({len(text) // 1000} kB)</p>")
            else:
                parts.append(f"<details><summary>numbers</summary><pre>{html.escape(text)}</pre></details>")
        path = os.path.join(self.out, "report.html")
        with open(path, "w") as fh:
            fh.write("\n".join(parts))
        return path


def _training(report, run_dirs):
    from pdlf_brian.analysis.curves import curves_figure, training_figure
    from pdlf_brian.rundir import RunDir

    groups = {}
    for d in run_dirs:
        config = RunDir(d).config()
        groups.setdefault(_group_key(config), []).append((d, _label(config)))
    for i, (key, runs) in enumerate(sorted(groups.items())):
        dirs, labels = [d for d, _ in runs], [lab for _, lab in runs]
        wm = key.startswith("working_memory")
        levels = {"chance": 0.5} if wm else None
        report.add(f"training_{i}", training_figure(dirs, labels=labels, levels=levels, title=key,
                                                    heldout_label="held-out accuracy" if wm else "held-out score"),
                   f"{key}: population mean fitness (faint: best) and the recommendation's held-out score; "
                   "mean and spread over seeds per learner")
        by_label = {}
        for d, lab in runs:
            by_label.setdefault(lab, []).append(d)
        report.add(f"training_{i}_spread", curves_figure(by_label, key="mean", title=key,
                                                         ylabel="training fitness (population mean)"),
                   f"{key}: training fitness against generations and against env steps, mean and std over seeds")


def _evaluations(report, run_dirs):
    from pdlf_brian.rundir import EVAL, RunDir

    rows = {}
    for d in run_dirs:
        run = RunDir(d)
        if run.has(EVAL):
            rows[os.path.basename(d)] = run.eval()
    if rows:
        report.table("evaluations", rows, "eval.json of every run: the protocol's final report of its chosen genome")


def _synapses(layout, n=3):
    """A few synapses spread over the projections: the first ``n`` of each."""
    chosen = []
    for proj, pre, post in layout.shape.projections:
        for k in range(min(n, pre * post)):
            chosen.append((proj, *divmod(k * max(1, (pre * post) // n), post)))
    return chosen


def _rules(report, run_dirs, max_runs=2):
    from pdlf_brian.analysis.plasticity_window import plasticity_window_figure, window_from_genome
    from pdlf_brian.analysis.rule_params import rule_params_figure
    from pdlf_brian.layout import GenomeLayout
    from pdlf_brian.protocols import problem_for
    from pdlf_brian.rundir import RunDir

    done = 0
    for d in run_dirs:
        run = RunDir(d)
        config = run.config()
        if config.learner != "plastic" or done >= max_runs:
            continue
        problem = problem_for(config)
        layout = GenomeLayout(problem.shape, problem.synapse)
        synapses = [s for s in _synapses(layout) if s[0] in ("in", "out")][:4]
        name = os.path.basename(d)
        snapshots = run.snapshots()
        if len(snapshots) >= 2:
            report.add(f"rule_params_{name}", rule_params_figure(snapshots, layout, synapses, effective=True),
                       f"{name}: evolved rule parameters (times the rate) of a few synapses across snapshots")
        try:
            genome = run.genome()
        except Exception:         # an unfinished run: no genome yet
            continue
        windows = {}
        for proj, i, j in synapses:
            windows[f"{proj} {i}->{j}"] = window_from_genome(genome, layout, proj, i, j)
        report.add(f"plasticity_window_{name}", plasticity_window_figure(windows, title=name),
                   f"{name}: weight change against the pre/post interval, simulated through the reference network")
        done += 1


#: seed of the held-out episodes the report records inside the network
INSIDE_SEED = 20261125
#: at most this many hidden-state samples go into one embedding
MAX_EMBEDDED = 1500


def _inside(report, run_dirs, max_runs=4):
    """Spikes, hidden-state embedding and weights after different stimuli, for the first evaluated run
    of each (task, learner): held-out episodes recorded through `Problem.episode_recording`."""
    from pdlf_brian.analysis.activity import activity_figure
    from pdlf_brian.analysis.embedding import embedding_figure
    from pdlf_brian.analysis.weights import weights_figure
    from pdlf_brian.protocols import problem_for_run
    from pdlf_brian.rundir import EVAL, RunDir

    seen = set()
    for d in run_dirs:
        run = RunDir(d)
        config = run.config()
        key = (_group_key(config), _label(config))
        if key in seen or len(seen) >= max_runs or not run.has(EVAL):
            continue
        seen.add(key)
        name = os.path.basename(d)
        rec = problem_for_run(d).episode_recording(run.genome(), INSIDE_SEED)
        report.add(f"activity_{name}", activity_figure(rec["spikes"], rec["trace"], phases=rec["phases"],
                                                       step_seconds=rec["step_seconds"], raster_steps=100),
                   f"{name}: spikes of one held-out copy, firing rate per phase and mean trace")
        trace = rec["trace"][rec["states_from"]:]                     # (steps, copies, hidden)
        stride = max(1, trace.shape[0] * trace.shape[1] // MAX_EMBEDDED)
        states = trace[::stride].transpose(1, 0, 2).reshape(-1, trace.shape[2])
        labels = np.repeat(rec["labels"], trace[::stride].shape[0])
        groups = np.repeat(rec["groups"], trace[::stride].shape[0])
        report.add(f"embedding_{name}", embedding_figure(states, labels, seed=0, groups=groups,
                                                         title=f"{name}: hidden states by {rec['label_name']}"),
                   f"{name}: t-SNE of hidden states from step {rec['states_from']} on, coloured by "
                   f"{rec['label_name']}; its numbers hold a linear readout of the {rec['label_name']} from "
                   "the states, cross-validated on held-out episodes (independent of the embedding's randomness)")
        first = {}
        for b, stimulus in enumerate(rec["stimuli"]):
            first.setdefault(stimulus, b)
        chosen = list(first.items())[:4]
        weights = {stimulus: rec["weights"]["in"][b] for stimulus, b in chosen}
        report.add(f"weights_{name}", weights_figure(weights, reference=chosen[0][0], projection="in"),
                   f"{name}: input weights at the end of held-out episodes with different stimuli, and their "
                   f"differences from the first")


def _grid(report, path):
    from pdlf_brian.analysis.working_memory import (
        accuracy_grid_figure, heldout_curves_figure, position_and_rates_figure,
    )

    summary_path, runs_path = os.path.join(path, "summary.json"), os.path.join(path, "runs.json")
    if not (os.path.exists(summary_path) and os.path.exists(runs_path)):
        return
    with open(summary_path) as fh:
        data = json.load(fh)
    if not isinstance(data, dict) or data.get("kind") == "control":
        return
    summary = data.get("rows")
    with open(runs_path) as fh:
        rows = json.load(fh)
    if not summary or "accuracy_mean" not in summary[0]:
        return
    report.add("accuracy_grid", accuracy_grid_figure(summary), "held-out accuracy per (L, Lat), mean +- std over seeds")
    report.add("heldout_curves", heldout_curves_figure(summary, rows), "held-out accuracy against generations")
    report.add("by_position_and_rates", position_and_rates_figure(summary), "accuracy per recall position; rates")


def _control(report, path):
    """The control study's figures (`pdlf_brian.protocols.control_study`) when ``summary.json`` is one."""
    from pdlf_brian.analysis.control import budget_text, steering_figure, task_value_figure
    from pdlf_brian.analysis.curves import curves_figure

    summary_path = os.path.join(path, "summary.json")
    if not os.path.exists(summary_path):
        return
    with open(summary_path) as fh:
        summary = json.load(fh)
    if not isinstance(summary, dict) or summary.get("kind") != "control":
        return
    family = summary.get("family")
    if summary["per_task"].get("train_values") and summary["per_task"]["train_values"][0] is not None:
        report.add("control_task_values", task_value_figure(summary),
                   f"{family}: held-out score per task value of each run's chosen genome, trained (points) and "
                   "unseen (line), mean +- std over seeds; trivial policies in black")
    levels = {name: section["train_score_mean"] for name, section in summary["trivial"].items() if section}
    groups = {row["learner"]: [os.path.join(path, "runs", r) for r in row["runs"]] for row in summary["rows"]}
    if groups:
        budget = budget_text(summary)
        title = f"{family}\n{budget}" if budget else family
        report.add("control_heldout_curves", curves_figure(groups, key="heldout", levels=levels, title=title,
                                                           ylabel="held-out score (recommendation)"),
                   f"{family}: held-out score of the recommendation during training against generations and env "
                   "steps, mean +- std over seeds; trivial policies' held-out scores as lines")
    for name in sorted(n for n in os.listdir(path) if STEERING_FILE.match(n)):
        with open(os.path.join(path, name)) as fh:
            steering = json.load(fh)
        runs = ", ".join(f"{r['run']} at {r['generations']} generations" for r in steering["learners"].values())
        report.add("control_" + name[:-len(".json")], steering_figure(steering, title=f"{family} steering: {runs}"),
                   f"{family}: torso paths of {runs} with the direction input changed during one episode "
                   "(triangle, rectangle, arc); squares and grey arrows mark the intended direction from each change")


def _lesions(report, path):
    from pdlf_brian.analysis.lesions import ablation_figure, lesion_fraction_figure, temporary_lesion_figure
    from pdlf_brian.rundir import RunDir

    lesions = os.path.join(path, "lesions.json")
    if os.path.exists(lesions):
        with open(lesions) as fh:
            data = json.load(fh)
        if "neuron_sweep" in data:
            sweep = data["neuron_sweep"]
            report.add("neuron_lesion_sweep", lesion_fraction_figure(
                sweep["fractions"], {k: np.asarray(v) for k, v in sweep["scores"].items()},
                levels=sweep.get("levels"), ylabel=sweep.get("ylabel", "score"), title=sweep.get("title")),
                "score against the fraction of hidden neurons blocked, mean +- std over seeds")
        if "temporary" in data:
            tmp = data["temporary"]
            report.add("temporary_lesion", temporary_lesion_figure(
                {k: np.asarray(v) for k, v in tmp["rewards"].items()}, lesion_start=tmp["start"],
                lesion_length=tmp["length"], smooth=tmp.get("smooth", 1), title=tmp.get("title"),
                intact={k: np.asarray(v) for k, v in tmp.get("intact", {}).items()}),
                "reward per step around a temporary lesion (shaded) of all weights, mean +- std over seeds; "
                "dashed: the same episodes without the lesion")
    ablations = os.path.join(path, "ablations.json")
    if os.path.exists(ablations):
        with open(ablations) as fh:
            data = json.load(fh)
        runs = {name: [os.path.join(path, "runs", r) for r in dirs] for name, dirs in data["runs"].items()}
        report.add("ablations", ablation_figure(runs, title=data.get("title", "ablations")),
                   "training curves per ablation of the rule, mean +- std over seeds")
        if any(row.get("heldout") is not None for row in RunDir(next(iter(runs.values()))[0]).log()):
            report.add("ablations_heldout", ablation_figure(runs, key="heldout", title=data.get("title", "ablations")),
                       "held-out score of each generation's recommendation per ablation, mean +- std over seeds")


def make_report(paths, out=None, title=None):
    """Write the figures that apply to ``paths`` and ``report.html``; returns the HTML path."""
    from pdlf_brian.errors import ConfigError

    paths = [os.path.abspath(p) for p in paths]
    for p in paths:
        if not os.path.isdir(p):
            raise ConfigError(f"report: {p} is not a directory (expected a run directory or a results folder)")
    out = out or os.path.join(paths[0], "figures")
    report = Report(out)
    run_dirs = [d for p in paths for d in _run_dirs(p)]
    for p in paths:
        _grid(report, p)
        _control(report, p)
        _lesions(report, p)
    if run_dirs:
        _training(report, run_dirs)
        _evaluations(report, run_dirs)
        _rules(report, run_dirs)
        _inside(report, run_dirs)
    if not report.items:
        raise ConfigError(f"report: nothing to draw in {paths}: no run directories (config.json), runs/ folder, "
                          "summary.json, lesions.json or ablations.json")
    return report.write_html(title or "pdlf report: " + ", ".join(os.path.basename(p) for p in paths))
