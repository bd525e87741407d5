"""Control results campaign (spec 5.2, issue 10): plastic vs weights, trivial policies, unseen tasks, steering.

Both learners train at equal budget; trivial policies give the scale; every run's chosen genome is
scored on the training and on 72 unseen task values; on ant_dir the direction input is steered online.

Usage (a campaign; every command resumes where it stopped: rerun it, or raise ``--generations`` to
continue every run further)::

    FLAGS="--population 64 --generations 500 --episode-steps 500 --heldout-episodes 4 --eval-every 10 \
        --device cpp_standalone --set task.nthread=1 --jobs 2"
    python -m pdlf_brian.protocols.control_study train halfcheetah_vel --seeds 0 1 2 3 4 $FLAGS \
        --out results/control/halfcheetah_vel
    python -m pdlf_brian.protocols.control_study trivial halfcheetah_vel --seeds 0 1 2 3 4 --agnostic-seeds 0 \
        $FLAGS --out results/control/halfcheetah_vel
    python -m pdlf_brian.protocols.control_study summarise --out results/control/halfcheetah_vel
    pdlf report results/control/halfcheetah_vel

    python -m pdlf_brian.protocols.control_study train ant_dir --seeds 0 1 2 $FLAGS --out results/control/ant_dir
    python -m pdlf_brian.protocols.control_study trivial ant_dir --seeds 0 1 2 --agnostic-seeds 0 $FLAGS \
        --out results/control/ant_dir
    python -m pdlf_brian.protocols.control_study steer --out results/control/ant_dir
    python -m pdlf_brian.protocols.control_study summarise --out results/control/ant_dir
    pdlf report results/control/ant_dir

Subcommands
-----------
``train FAMILY``
    Learners {plastic, weights} x ``--seeds``, the same config otherwise (equal budget: generations x
    population x task values x episodes x steps, the same action map); each is an ordinary run
    directory ``OUT/runs/<learner>_s<seed>`` (`pdlf_brian.rundir`). A run directory that holds a
    checkpoint is continued to ``--generations`` (its saved config is kept; other budget flags that
    differ from it are reported and ignored). Each run's chosen genome (``RunDir.genome``) is then
    scored by `pdlf_brian.cli.evaluate_run` (``eval.json``: training and 72 unseen task values on
    held-out episodes); ``eval.json`` also records the ``generations`` it was made at, so a rerun
    only re-evaluates runs that trained further.
``trivial FAMILY``
    Trivial policies on the same tasks and held-out episodes: the zero action (the weights learner
    with an all-zero genome: readout 0, action 0 under both action maps for symmetric bounds; checked
    on one episode and recorded as ``max_abs_action``), scored with the held-out stream of every seed
    in ``--seeds`` (the stream `evaluate_run` gives that seed's runs), in ``OUT/trivial.json``; and a
    task-agnostic policy: the weights learner trained with ``task.task_input=false`` (it never sees
    the task value) at the same budget, ``OUT/runs/agnostic_s<seed>`` for ``--agnostic-seeds``.
``steer``
    Direction families only (ant_dir): the chosen genome of one run per learner (``--seed``, default
    the lowest evaluated seed) runs one episode (the run's length, or ``--steps``) per schedule with
    the direction input changed during the episode (`schedule_values`): ``triangle`` (0, 2pi/3,
    -2pi/3, equal thirds: a closed triangle),
    ``rectangle`` (0, pi/2, pi, -pi/2, equal quarters) and ``arc`` (from 0 to pi linearly over the
    episode). All schedules and learners share one reset seed. ``OUT/steering.json`` holds per step
    the torso x, y, the direction the environment used, and the reward. With ``--seed S`` the file is
    ``OUT/steering_sS.json`` instead, so the seeds of one study sit side by side. It prints, per
    schedule, each segment's displacement, turn and final heading
    (`pdlf_brian.analysis.control.segment_progress`).
``separability``
    Whether the hidden states separate the tasks (the paper's task manifolds, spec 5.2): every
    evaluated run's chosen genome plays ``--episodes`` held-out episodes per training task value
    (`ControlProblem.episode_recording`); a linear readout of the task value from the hidden traces
    (every 5th step from step 50) is cross-validated on held-out episodes
    (`pdlf_brian.analysis.embedding.separability` with groups). ``OUT/separability.json``: per run and
    per learner (mean, std over seeds), with the chance level and the runs' generations.
``summarise``
    ``OUT/summary.json`` from the run directories and ``trivial.json`` alone (``train`` and
    ``trivial`` also write it when they finish); see `write_summary`.
``stages``
    A campaign continued in stages keeps each finished stage's summary in ``OUT/gen<N>/``; this
    prints them as one markdown table, a line per stage (`pdlf_brian.analysis.stages`), writes
    the rows to ``OUT/stages.json``, and draws them (``OUT/stages_trend.png``: scores and their change
    over the last 50 generations against the stages' generations; ``--since N`` leaves out earlier stages).
    Where stages kept steering episodes (``OUT/gen<N>/steering*.json``), ``OUT/stages_steering.png``
    draws, per stage and plastic run, the turn after each schedule's last change and how far from the
    command the agent heads at the end (`pdlf_brian.analysis.steering_stages`). Where the campaign
    stated its own stopping rule (``OUT/stopping_rule.json``: the change over the last 50 generations
    below a threshold at two stages some generations apart, `pdlf_brian.analysis.stages.stopping_rule`),
    the table ends with its verdict, ``stages.json`` holds it and the trend figure draws it.
``status``
    Writes the stage-dependent numbers into READMEs (`pdlf_brian.analysis.campaign_status`): between
    ``<!-- status:NAME -->`` and ``<!-- /status:NAME -->`` (``NAME`` the campaign folder's name) where the
    latest stage stands (scores, budget, stopping rule, fits, walking, steering), with ``-brief`` one
    paragraph of it, with ``-table`` the stage table. ``--check`` writes nothing and fails where a block
    is not what the committed files give.

Scores are mean episode returns; means and standard deviations over seeds use ddof=0, as the other
study summaries. ``--set KEY=VALUE`` applies to every run (learners, agnostic, zero action).
"""
import argparse
import json
import os
import time

import numpy as np

from pdlf_brian.analysis.control import segment_line, segment_progress
from pdlf_brian.analysis.curves import TREND_WINDOW, flattened, trend_verdict
from pdlf_brian.evolution.executors import process_pool

LEARNERS = ("plastic", "weights")
AGNOSTIC = "agnostic"
SCHEDULES = ("triangle", "rectangle", "arc")
#: Directions of the piecewise-constant steering schedules (radians; 0 = +x, pi/2 = +y).
PIECEWISE = {"triangle": (0.0, 2 * np.pi / 3, -2 * np.pi / 3), "rectangle": (0.0, np.pi / 2, np.pi, -np.pi / 2)}
#: First and last direction of the ``arc`` schedule.
ARC = (0.0, np.pi)
#: Seed of the steering episodes' reset (one for every schedule and learner).
STEER_SEED = 20261125
#: Keys of a run's config that must agree between runs compared at equal budget.
BUDGET_KEYS = ("population", "optimizer", "optimizer_options", "generations")
TASK_KEYS = ("episode_steps", "episodes", "values", "action_map", "n_hidden", "heldout_episodes", "recurrent")


# -- configs -------------------------------------------------------------------------------------
def study_config(family, learner, seed, args, task_input=True):
    """The `TrainConfig` of one run of the study, from the budget flags and ``--set``.

    Parameters
    ----------
    family : str
        Task family (the protocol name), e.g. ``"ant_dir"``.
    learner : {"plastic", "weights"}
    seed : int
    args : argparse.Namespace
        The parsed budget flags (see `main`).
    task_input : bool
        False: the task value input is held at 0 (the task-agnostic baseline).
    """
    from pdlf_brian.evolution.config import TrainConfig, apply_overrides

    data = dict(population=args.population, generations=args.generations, optimizer=args.optimizer,
                eval_every=args.eval_every, snapshot_every=args.snapshot_every, device=args.device,
                task={"episode_steps": args.episode_steps, "n_hidden": args.hidden, "episodes": args.episodes,
                      "heldout_episodes": args.heldout_episodes, "action_map": args.action_map})
    apply_overrides(data, args.set)
    data.update(protocol=family, learner=learner, seed=seed, progress=False)
    if not task_input:
        data["task"] = dict(data.get("task", {}), task_input=False)
    return TrainConfig.from_dict(data)


def run_name(learner, seed, task_input=True):
    """``<learner>_s<seed>``, or ``agnostic_s<seed>`` for the task-agnostic weights learner."""
    return f"{learner if task_input else AGNOSTIC}_s{seed}"


def _config_differences(saved, wanted):
    """Config keys (dotted for ``task``) where ``wanted`` differs from a run's saved config."""
    a, b = saved.to_dict(), wanted.to_dict()
    skip = {"generations", "progress"} | ({"device"} if b["device"] == "auto" else set())
    out = [k for k in a if k not in skip and k != "task" and a[k] != b[k]]
    out += [f"task.{k}" for k in sorted(set(a["task"]) | set(b["task"])) if a["task"].get(k) != b["task"].get(k)]
    return out


# -- training ------------------------------------------------------------------------------------
def _evaluated(run):
    """True when ``eval.json`` exists and was made after the run's last generation."""
    from pdlf_brian.rundir import EVAL

    return run.has(EVAL) and run.eval().get("generations") == len(run.log())


def evaluate(run, problem):
    """`evaluate_run` without figure, then record in ``eval.json`` the generations it was made at."""
    from pdlf_brian.cli import evaluate_run
    from pdlf_brian.rundir import EVAL

    evaluate_run(run.path, problem, figure=False)
    report = run.eval()
    report["generations"] = len(run.log())
    run.write_json(EVAL, report)
    return report


def train_run(out, name, config):
    """Train (or continue) ``OUT/runs/<name>`` with ``config``, then evaluate its chosen genome.

    Returns
    -------
    dict
        ``run`` (path), ``generations``, ``train_score``, ``unseen_score`` and ``ignored`` (config keys of
        the request that differ from an existing run's saved config, which is kept).
    """
    from pdlf_brian.evolution.config import resume_config
    from pdlf_brian.evolution.trainer import Trainer
    from pdlf_brian.protocols import problem_for
    from pdlf_brian.rundir import CHECKPOINT, RunDir

    run = RunDir(os.path.join(out, "runs", name))
    resume, ignored = run.has(CHECKPOINT), []
    if resume:
        saved = run.config(config.protocol)
        ignored = _config_differences(saved, config)
        config = resume_config(saved.to_dict(), [f"generations={config.generations}"])
    problem = problem_for(config)
    log = Trainer(config, run.path, problem).run(resume=resume)
    report = run.eval() if _evaluated(run) else evaluate(run, problem)
    return {"run": run.path, "generations": len(log), "train_score": report["final"]["score"],
            "unseen_score": report.get("unseen", {}).get("score"), "ignored": ignored}


def _run_jobs(jobs, n_workers):
    """Run ``[(function, args)]`` in ``n_workers`` spawned processes (in this one when 1); results in order."""
    if n_workers <= 1:
        return [fn(*a) for fn, a in jobs]
    with process_pool(n_workers) as pool:
        futures = [pool.submit(fn, *a) for fn, a in jobs]
        return [f.result() for f in futures]


def _print_run(result):
    unseen = "-" if result["unseen_score"] is None else f"{result['unseen_score']:.3f}"
    print(f"{result['run']}: {result['generations']} generations, held-out {result['train_score']:.3f}, "
          f"unseen {unseen}", flush=True)
    if result["ignored"]:
        print(f"  kept the run's saved config; the request differs in {result['ignored']}", flush=True)


def train(args):
    """``train``: every (learner, seed) run directory, trained or continued, then evaluated."""
    jobs = [(train_run, (args.out, run_name(learner, seed), study_config(args.family, learner, seed, args)))
            for seed in args.seeds for learner in args.learners]
    for result in _run_jobs(jobs, args.jobs):
        _print_run(result)


# -- trivial policies ----------------------------------------------------------------------------
def zero_action_report(config, seed):
    """The zero-action policy scored like a run of seed ``seed``: its `final_report` on that held-out stream.

    The policy is the weights learner with an all-zero genome (every weight 0: readout 0). One
    training episode is also run with its actions recorded, and their largest magnitude returned.

    Returns
    -------
    dict
        ``seed``, ``max_abs_action`` and the protocol's report (``final``, ``unseen``).
    """
    from pdlf_brian.evolution.trainer import generation_seed
    from pdlf_brian.protocols import problem_for

    if config.learner != "weights":
        raise ValueError(f"zero action: expected a weights-learner config, got learner {config.learner!r}")
    problem = problem_for(config)
    genome = np.zeros(problem.genome_size)
    net = problem.evaluation_network(1, 1)
    check = problem.rollout(net, genome[None], problem.task_values[:1], [seed], record_steps=True)
    report = problem.final_report(genome, generation_seed(seed, 10**6, 2))
    return {"seed": seed, "max_abs_action": float(np.abs(check["action"]).max()), **report}


def _settings(config):
    """What makes two zero-action reports comparable: the task settings (no learner, no budget)."""
    return {"protocol": config.protocol, "task": dict(config.task)}


def _read_json(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path) as fh:
        return json.load(fh)


def _write_json(path, data):
    from pdlf_brian.rundir import atomic_write

    atomic_write(path, (json.dumps(data, indent=1) + "\n").encode())


def trivial(args):
    """``trivial``: zero-action reports (``trivial.json``) and the task-agnostic runs."""
    path = os.path.join(args.out, "trivial.json")
    stored = _read_json(path, {})
    zero_configs = {s: study_config(args.family, "weights", s, args) for s in args.seeds}
    current = _settings(zero_configs[args.seeds[0]])
    # reports made with other task settings are dropped; those with the same are kept (any seed)
    keep = [r for r in stored.get("zero_action", []) if r.get("settings") == current]
    todo = [s for s in args.seeds if s not in {r["seed"] for r in keep}]
    agnostic_seeds = args.seeds[:1] if args.agnostic_seeds is None else args.agnostic_seeds
    jobs = [(train_run, (args.out, run_name("weights", s, False), study_config(args.family, "weights", s, args, False)))
            for s in agnostic_seeds]
    jobs += [(zero_action_report, (zero_configs[s], s)) for s in todo]
    results = _run_jobs(jobs, args.jobs)
    for result in results[:len(agnostic_seeds)]:
        _print_run(result)
    fresh = [dict(r, settings=current) for r in results[len(agnostic_seeds):]]
    for r in fresh:
        print(f"zero action, seed {r['seed']}: held-out {r['final']['score']:.3f} "
              f"(max |action| {r['max_abs_action']:g})", flush=True)
    agnostic = set(stored.get("agnostic_runs", [])) | {run_name("weights", s, False) for s in agnostic_seeds}
    _write_json(path, {"family": args.family, "zero_action": sorted(keep + fresh, key=lambda r: r["seed"]),
                       "agnostic_runs": sorted(agnostic)})


# -- steering ------------------------------------------------------------------------------------
def schedule_values(name, n_steps):
    """The direction per env step of a steering schedule, and the steps to mark on a figure.

    Parameters
    ----------
    name : {"triangle", "rectangle", "arc"}
    n_steps : int
        Env steps of the episode.

    Returns
    -------
    values : numpy.ndarray, shape (n_steps,)
        Direction (radians) applied at each env step.
    marks : list of int
        Piecewise schedules: the first step of each segment (0 and every change). ``arc``: 0 and the
        steps at each quarter of the episode.
    """
    if name == "arc":
        values = np.linspace(ARC[0], ARC[1], n_steps)
        return values, sorted({int(q * n_steps) // 4 for q in range(4)})
    if name not in PIECEWISE:
        raise ValueError(f"schedule {name!r}: expected one of {list(SCHEDULES)}")
    directions = np.asarray(PIECEWISE[name])
    segment = np.arange(n_steps) * len(directions) // n_steps
    marks = [int(np.argmax(segment == s)) for s in range(len(directions)) if np.any(segment == s)]
    return directions[segment], marks


def steer_run(run_dir, schedules=SCHEDULES, steps=None, reset_seed=STEER_SEED):
    """One episode per schedule of a run's chosen genome, the direction input changed during it.

    Parameters
    ----------
    run_dir : str
        A trained run of a direction family (ant_dir, swimmer_dir).
    schedules : sequence of str
    steps : int, optional
        Env steps of the episode (default: the run's ``task.episode_steps``).
    reset_seed : int
        Reset seed of every episode.

    Returns
    -------
    dict
        ``run``, ``learner``, ``seed``, ``generations`` and ``schedules``: per schedule ``x``, ``y``
        (torso position after each env step), ``direction`` (the task value the environment used at
        each step), ``reward`` (per step), ``return`` and ``alive_steps`` (steps before termination).
    """
    from pdlf_brian.protocols.control import control_problem_for_run
    from pdlf_brian.rundir import RunDir

    d = RunDir(run_dir)
    saved = d.config()
    problem = control_problem_for_run(run_dir, steps)
    if problem is None or problem.family.task_name != "direction":
        raise SystemExit(f"{run_dir}: steering needs a direction family (ant_dir, swimmer_dir), "
                         f"not {saved.protocol!r}")
    n = problem.settings.episode_steps
    table = np.stack([schedule_values(s, n)[0] for s in schedules], axis=1)        # (n, schedules)
    net = problem.evaluation_network(1, len(schedules))
    out = problem.rollout(net, np.asarray(d.genome())[None], table[0], [reset_seed] * len(schedules),
                          schedule=lambda k: table[k], record_steps=True)
    alive = problem.environments(len(schedules)).steps.copy()
    per = {}
    for b, name in enumerate(schedules):
        per[name] = {"x": np.round(out["position"][:, b, 0], 4).tolist(),
                     "y": np.round(out["position"][:, b, 1], 4).tolist(),
                     "direction": out["task_value"][:, b].tolist(),
                     "reward": np.round(out["reward"][:, b], 4).tolist(),
                     "return": float(out["returns"][0, b]), "alive_steps": int(alive[b])}
    return {"run": os.path.basename(d.path), "learner": saved.learner, "seed": saved.seed,
            "generations": len(d.log()), "schedules": per}


def _steer_seed(out, learner, seed):
    """The run of ``learner`` to steer: seed ``seed``, else the lowest evaluated seed."""
    from pdlf_brian.rundir import EVAL, RunDir

    if seed is not None:
        return os.path.join(out, "runs", run_name(learner, seed))
    runs = [r for r in _study_runs(out) if r[1] == learner and RunDir(r[0]).has(EVAL)]
    if not runs:
        raise SystemExit(f"steer: no evaluated {learner} run under {out}/runs (run `train` first)")
    return min(runs, key=lambda r: r[2])[0]


def steer(args):
    """``steer``: `steering_file` for one run per learner."""
    learners = {}
    for learner in args.learners:
        result = steer_run(_steer_seed(args.out, learner, args.seed), steps=args.steps)
        learners[learner] = result
        returns = ", ".join(f"{k} {v['return']:.1f}" for k, v in result["schedules"].items())
        print(f"steer {result['run']}: {returns}", flush=True)
        for name, run in result["schedules"].items():
            marks = schedule_values(name, len(run["x"]))[1]
            print(f"  {name}: {segment_line(segment_progress(run['x'], run['y'], run['direction'], marks))}")
    n = len(next(iter(learners.values()))["schedules"][SCHEDULES[0]]["x"])
    schedules = {}
    for name in SCHEDULES:
        values, marks = schedule_values(name, n)
        schedules[name] = {"direction": values.tolist(), "marks": marks}
    data = {"family": _family(args.out), "episode_steps": n, "reset_seed": STEER_SEED, "schedules": schedules,
            "learners": learners}
    _write_json(os.path.join(args.out, steering_file(args.seed)), data)


def steering_file(seed=None):
    """``steering.json`` (the default run per learner) or ``steering_s<seed>.json`` (``--seed``)."""
    return "steering.json" if seed is None else f"steering_s{seed}.json"


# -- summary -------------------------------------------------------------------------------------
def _study_runs(out):
    """``[(path, kind, seed)]`` of the run directories under ``OUT/runs`` (kind: learner or 'agnostic')."""
    from pdlf_brian.rundir import CONFIG, RunDir

    root = os.path.join(out, "runs")
    found = []
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        if not os.path.exists(os.path.join(root, name, CONFIG)):
            continue
        config = RunDir(os.path.join(root, name)).config()
        kind = config.learner if config.task.get("task_input", True) else AGNOSTIC
        found.append((os.path.join(root, name), kind, config.seed))
    return found


#: Seed of the held-out episodes the separability study records.
SEPARABILITY_SEED = 20261125


def separability_study(out, episodes=4, stride=5):
    """``OUT/separability.json``: cross-validated linear readout of the task value from hidden states."""
    from pdlf_brian.analysis.embedding import separability
    from pdlf_brian.protocols import problem_for_run
    from pdlf_brian.rundir import EVAL, RunDir

    runs, by_kind = [], {}
    for path, kind, seed in _study_runs(out):
        run = RunDir(path)
        if not run.has(EVAL):
            continue
        rec = problem_for_run(path).episode_recording(run.genome(), SEPARABILITY_SEED, episodes=episodes)
        trace = rec["trace"][rec["states_from"]::stride]                  # (samples per copy, copies, hidden)
        states = trace.transpose(1, 0, 2).reshape(-1, trace.shape[2])
        score = separability(states, np.repeat(rec["labels"], len(trace)), groups=np.repeat(rec["groups"], len(trace)))
        runs.append({"run": os.path.basename(path), "kind": kind, "seed": seed, "generations": len(run.log()),
                     "accuracy": score["accuracy"], "chance": score["chance"], "n_samples": score["n_samples"]})
        by_kind.setdefault(kind, []).append(runs[-1])
        print(f"{path}: {score['accuracy']:.3f} (chance {score['chance']:.3f})", flush=True)
    summary = {kind: {"mean": float(np.mean([r["accuracy"] for r in rows])),
                      "std": float(np.std([r["accuracy"] for r in rows])),
                      "seeds": [r["seed"] for r in rows], "generations": sorted({r["generations"] for r in rows})}
               for kind, rows in by_kind.items()}
    data = {"meta": {"episodes_per_value": episodes, "stride": stride, "seed": SEPARABILITY_SEED,
                     "readout": "logistic regression on standardised hidden traces, GroupKFold over episodes"},
            "chance": runs[0]["chance"] if runs else None, "learners": summary, "runs": runs}
    _write_json(os.path.join(out, "separability.json"), data)
    return data


def _family(out):
    from pdlf_brian.rundir import RunDir

    runs = _study_runs(out)
    families = sorted({RunDir(p).config().protocol for p, _, _ in runs})
    if len(families) > 1:
        raise SystemExit(f"{out}/runs holds runs of several families {families}; one study per family")
    return families[0] if families else None


def run_row(run_dir):
    """One row per run: scores of its chosen genome (``eval.json``) and its budget, or None if not evaluated."""
    from pdlf_brian.analysis.curves import recent_change  # looked up per call: tests replace it
    from pdlf_brian.rundir import EVAL, RunDir

    d = RunDir(run_dir)
    if not (d.has(EVAL) and d.has("log.jsonl")):
        return None
    config, log, report = d.config(), d.log(), d.eval()
    if not log:
        return None
    unseen = report.get("unseen") or {}
    return {"run": os.path.basename(d.path), "learner": config.learner, "seed": config.seed,
            "task_input": config.task.get("task_input", True),
            "train_score": report["final"]["score"], "unseen_score": unseen.get("score"),
            "train_values": report["final"]["task_values"], "train_per_task": report["final"]["per_task_mean"],
            "unseen_values": unseen.get("task_values"), "unseen_per_task": unseen.get("per_task_mean"),
            "generations": len(log), "evaluated_at": report.get("generations"),
            "heldout_change_last_50": recent_change(log, "heldout", TREND_WINDOW),
            "population": config.population, "env_steps": log[-1]["env_steps"],
            "wall_seconds": log[-1]["wall_time"],
            "config": {**{k: getattr(config, k) for k in BUDGET_KEYS},
                       "task": {k: config.task.get(k) for k in TASK_KEYS}}}


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return float(np.mean(values)), float(np.std(values))


def group_row(label, rows):
    """Summary row of one group of runs (a learner or the agnostic baseline): means and stds over seeds."""
    train_m, train_s = _mean_std([r["train_score"] for r in rows])
    unseen_m, unseen_s = _mean_std([r["unseen_score"] for r in rows])
    change_m, change_s = _mean_std([r["heldout_change_last_50"] for r in rows])
    return {"learner": label, "train_score_mean": train_m, "train_score_std": train_s,
            "unseen_score_mean": unseen_m, "unseen_score_std": unseen_s,
            "heldout_change_last_50_mean": change_m, "heldout_change_last_50_std": change_s,
            "flattened": flattened(change_m, train_s, len(rows)),
            "generations": min(r["generations"] for r in rows), "population": rows[0]["population"],
            "env_steps": int(np.mean([r["env_steps"] for r in rows])),
            "wall_seconds": float(np.mean([r["wall_seconds"] for r in rows])),
            "wall_seconds_total": float(np.sum([r["wall_seconds"] for r in rows])),
            "seeds": [r["seed"] for r in rows], "runs": [r["run"] for r in rows],
            "per_seed": [{k: r[k] for k in ("seed", "train_score", "unseen_score", "generations", "env_steps",
                                            "heldout_change_last_50")}
                         for r in rows],
            "episode_steps": rows[0]["config"]["task"]["episode_steps"],
            "action_map": rows[0]["config"]["task"]["action_map"]}


def per_task_stats(rows, key):
    """Mean and std over runs (seeds) of one per-task-value list (``train_per_task`` or ``unseen_per_task``)."""
    values = [r[key] for r in rows if r.get(key) is not None]
    if not values:
        return None
    arr = np.asarray(values, dtype=float)
    return {"mean": arr.mean(axis=0).tolist(), "std": arr.std(axis=0).tolist(), "n_seeds": len(values)}


def zero_action_section(stored):
    """The ``trivial.zero_action`` entry from ``trivial.json``'s reports (one per held-out seed)."""
    reports = stored.get("zero_action", []) if stored else []
    if not reports:
        return None, None
    train_m, train_s = _mean_std([r["final"]["score"] for r in reports])
    unseen_m, unseen_s = _mean_std([(r.get("unseen") or {}).get("score") for r in reports])
    section = {"train_score_mean": train_m, "train_score_std": train_s, "unseen_score_mean": unseen_m,
               "unseen_score_std": unseen_s, "seeds": [r["seed"] for r in reports],
               "max_abs_action": max(r["max_abs_action"] for r in reports),
               "settings": reports[0].get("settings")}
    rows = [{"train_per_task": r["final"]["per_task_mean"],
             "unseen_per_task": (r.get("unseen") or {}).get("per_task_mean")} for r in reports]
    return section, {"train": per_task_stats(rows, "train_per_task"), "unseen": per_task_stats(rows, "unseen_per_task")}


def agnostic_section(rows):
    """The ``trivial.task_agnostic`` entry: its runs' scores, budget and the best run (by training score)."""
    if not rows:
        return None
    section = group_row("task_agnostic", rows)
    best = max(rows, key=lambda r: r["train_score"])
    section["best"] = {k: best[k] for k in ("run", "seed", "train_score", "unseen_score")}
    return section


def budget_warnings(groups):
    """Differences in budget or task settings between the groups' runs (they should be none)."""
    reference, warnings = None, []
    for label, rows in groups.items():
        for r in rows:
            settings = dict(r["config"], generations=r["generations"])
            if reference is None:
                reference = (r["run"], settings)
            elif settings != reference[1]:
                diff = sorted(k for k in settings if settings[k] != reference[1][k])
                warnings.append(f"{r['run']} differs from {reference[0]} in {diff}")
            if r["evaluated_at"] != r["generations"]:
                warnings.append(f"{r['run']}: eval.json is from generation {r['evaluated_at']}, the run has "
                                f"{r['generations']} (rerun `train` or `trivial` to re-evaluate)")
    return warnings


def zero_action_warnings(zero, groups):
    """Differences between the zero-action reports' task settings and the runs' (they should be none)."""
    if not zero or not zero.get("settings"):
        return []
    task = zero["settings"]["task"]
    out = []
    for rows in groups.values():
        for r in rows:
            diff = sorted(k for k in TASK_KEYS if k != "n_hidden" and task.get(k) != r["config"]["task"].get(k))
            if diff:
                out.append(f"zero action (trivial.json) differs from {r['run']} in task settings {diff}")
    return out


def write_summary(out, command=None):
    """``OUT/summary.json`` from the run directories under ``OUT/runs`` and ``OUT/trivial.json``.

    Returns
    -------
    dict
        ``kind`` ("control"), ``family``, ``task_name``, ``rows`` (one per learner: ``learner``,
        ``train_score_mean``/``_std``, ``unseen_score_mean``/``_std``, ``generations``, ``population``,
        ``env_steps`` (mean per run), ``wall_seconds`` (mean training wall time per run), ``seeds``, runs
        and per-seed scores, ``heldout_change_last_50_mean``/``_std``: how far the runs' held-out
        curves moved over their last 50 generations, `pdlf_brian.analysis.curves.recent_change`),
        ``trivial`` (``zero_action`` and ``task_agnostic``, each None when not
        run), ``per_task`` (task values and, per learner and trivial policy, the mean and std over seeds
        of the score per task value, trained and unseen), ``runs`` (one row per run), ``incomplete``
        (run directories not evaluated yet) and ``warnings`` (budget mismatches, stale evaluations).
    """
    from pdlf_brian.envs.tasks import get_family

    family = _family(out)
    rows, incomplete = [], []
    for path, kind, _ in _study_runs(out):
        row = run_row(path)
        if row is None:
            incomplete.append(os.path.basename(path))
        else:
            rows.append(dict(row, kind=kind))
    groups = {k: [r for r in rows if r["kind"] == k] for k in (*LEARNERS, AGNOSTIC)}
    groups = {k: sorted(v, key=lambda r: r["seed"]) for k, v in groups.items() if v}
    zero, zero_per_task = zero_action_section(_read_json(os.path.join(out, "trivial.json")))
    spec = get_family(family) if family else None
    per_task = {"train_values": None, "unseen_values": None, "learners": {}, "trivial": {}}
    if rows:
        per_task["train_values"], per_task["unseen_values"] = rows[0]["train_values"], rows[0]["unseen_values"]
    for label, group in groups.items():
        stats = {"train": per_task_stats(group, "train_per_task"), "unseen": per_task_stats(group, "unseen_per_task")}
        if label == AGNOSTIC:
            per_task["trivial"]["task_agnostic"] = stats
        else:
            per_task["learners"][label] = stats
    if zero_per_task:
        per_task["trivial"]["zero_action"] = zero_per_task
    summary = {"kind": "control", "family": family, "task_name": spec.task_name if spec else None,
               "meta": {"command": command, "written": time.strftime("%Y-%m-%d %H:%M:%S")},
               "rows": [group_row(label, groups[label]) for label in LEARNERS if label in groups],
               "trivial": {"zero_action": zero, "task_agnostic": agnostic_section(groups.get(AGNOSTIC))},
               "per_task": per_task,
               "runs": [{k: v for k, v in r.items() if not k.endswith(("_per_task", "_values"))} for r in rows],
               "incomplete": incomplete, "warnings": budget_warnings(groups) + zero_action_warnings(zero, groups)}
    _write_json(os.path.join(out, "summary.json"), summary)
    return summary


def stages(out, since=None):
    """``OUT/stages.json`` (`pdlf_brian.analysis.stages.stage_rows`), ``OUT/stages_trend.png``,
    ``OUT/stages_steering.png`` where stages kept steering episodes
    (`pdlf_brian.analysis.steering_stages`), and the markdown table, ending with the verdict of the
    campaign's stopping rule where ``OUT/stopping_rule.json`` states one."""
    from pdlf_brian.analysis.report import Report
    from pdlf_brian.analysis.stages import (campaign_stopping_rule, stage_rows, stage_table, stage_trend_figure,
                                            stopping_rule_line)
    from pdlf_brian.analysis.steering_stages import stage_steering, steering_stages_figure

    try:
        rows = stage_rows(out)
        verdict = campaign_stopping_rule(out, rows)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"control_study stages: error: {exc}") from None
    written = {"meta": {"written": time.strftime("%Y-%m-%d %H:%M:%S")}, "stages": rows}
    if verdict is not None:
        written["stopping_rule"] = verdict
    _write_json(os.path.join(out, "stages.json"), written)
    try:
        trend = stage_trend_figure(rows, since=since, rule=verdict,
                                   title=f"{os.path.basename(os.path.normpath(out))}: the campaign's stages")
    except ValueError as exc:
        raise SystemExit(f"control_study stages: error: {exc}") from None
    report = Report(out)
    report.add("stages_trend", trend)
    turns = stage_steering(out)
    if turns:
        report.add("stages_steering", steering_stages_figure(
            turns, title=f"{os.path.basename(os.path.normpath(out))}: the last turn of each steering episode, per stage"))
    return stage_table(rows) + ("" if verdict is None else "\n\n" + stopping_rule_line(verdict))


def status(out, readmes, steering_since=None, check=False):
    """Fill (or with ``check``, compare) every status block of the campaign in ``out`` that ``readmes`` hold.

    Returns the lines to print; raises `SystemExit` where a README holds none of the campaign's blocks,
    or, with ``check``, where one is stale.
    """
    from pdlf_brian.analysis.campaign_status import fill_blocks, render_blocks

    try:
        rendered = render_blocks(out, steering_since=steering_since)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"control_study status: error: {exc}") from None
    lines, stale = [], []
    for path in readmes:
        if not os.path.isfile(path):
            raise SystemExit(f"control_study status: error: readme: no file {path!r}")
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        try:
            new, names = fill_blocks(text, rendered)
        except ValueError as exc:
            raise SystemExit(f"control_study status: error: {path}: {exc}") from None
        if not names:
            raise SystemExit(f"control_study status: error: {path} holds no block of {', '.join(rendered)} "
                             f"(markers <!-- status:NAME --> ... <!-- /status:NAME -->)")
        if new != text:
            stale.append(path)
            if not check:
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(new)
        lines.append(f"{path}: {', '.join(names)}: " + ("stale" if new != text and check else
                                                          "written" if new != text else "current"))
    if check and stale:
        raise SystemExit("\n".join(lines) + f"\ncontrol_study status: error: stale blocks in {', '.join(stale)}; "
                         f"run without --check to write them")
    return lines


def _print_summary(summary):
    for row in summary["rows"]:
        change = row["heldout_change_last_50_mean"]
        verdict = trend_verdict(change, row["train_score_std"], len(row["seeds"]))
        print(f"{row['learner']}: held-out {row['train_score_mean']:.3f} +- {row['train_score_std']:.3f}, "
              f"unseen {row['unseen_score_mean']}, {row['generations']} generations, seeds {row['seeds']}"
              + (f", held-out curve moved {change:+.1f} over the last {TREND_WINDOW} generations"
                 if change is not None else "")
              + (f" ({verdict})" if verdict else ""))
    for name, section in summary["trivial"].items():
        if section:
            print(f"{name}: held-out {section['train_score_mean']:.3f}, unseen {section['unseen_score_mean']}")
    for w in summary["warnings"]:
        print(f"warning: {w}")


# -- command line --------------------------------------------------------------------------------
def _budget_flags(p):
    p.add_argument("family", help="task family (protocol), e.g. halfcheetah_vel or ant_dir")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--generations", type=int, default=200)
    p.add_argument("--population", type=int, default=64)
    p.add_argument("--episode-steps", type=int, default=500)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--episodes", type=int, default=1, help="episodes per training task value per generation")
    p.add_argument("--heldout-episodes", type=int, default=2, help="per task value, held-out and unseen")
    p.add_argument("--action-map", choices=("clip", "tanh"), default="clip")
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--snapshot-every", type=int, default=50)
    p.add_argument("--optimizer", default="PGPE")
    p.add_argument("--device", default="auto")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any config key, every run")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (spawned; 1: this process)")
    p.add_argument("--out", required=True)


def parser():
    p = argparse.ArgumentParser(prog="python -m pdlf_brian.protocols.control_study",
                                description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="plastic and weights runs at equal budget (continues existing runs)")
    _budget_flags(t)
    t.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=LEARNERS)
    tr = sub.add_parser("trivial", help="zero-action scores and the task-agnostic weights runs")
    _budget_flags(tr)
    tr.add_argument("--agnostic-seeds", type=int, nargs="*", default=None,
                    help="seeds of the task-agnostic runs (default: the first of --seeds; none: no runs)")
    s = sub.add_parser("steer", help="steering episodes (direction families) -> steering.json "
                                      "(steering_s<seed>.json with --seed)")
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=None, help="the runs to steer (default: lowest evaluated seed)")
    s.add_argument("--steps", type=int, default=None, help="env steps per episode (default: the run's)")
    s.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=LEARNERS)
    se = sub.add_parser("separability", help="linear readout of the task from hidden states -> separability.json")
    se.add_argument("--out", required=True)
    se.add_argument("--episodes", type=int, default=4, help="held-out episodes per training task value")
    su = sub.add_parser("summarise", help="summary.json from the run directories and trivial.json")
    su.add_argument("--out", required=True)
    st = sub.add_parser("stages", help="one line per finished stage (OUT/gen<N>/summary.json) -> stages.json")
    st.add_argument("--out", required=True)
    st.add_argument("--since", type=int, default=None, help="draw only stages of at least this many generations")
    sa = sub.add_parser("status", help="write the latest stage's numbers into README blocks "
                                       "(<!-- status:NAME --> ... <!-- /status:NAME -->)")
    sa.add_argument("--out", required=True)
    sa.add_argument("--readme", nargs="+", required=True, help="Markdown files holding the campaign's blocks")
    sa.add_argument("--steering-since", type=int, default=None,
                    help="count turns back from this stage on (default: the first full stage)")
    sa.add_argument("--check", action="store_true", help="write nothing; fail where a block is stale")
    return p


def main(argv=None):
    from pdlf_brian.errors import ConfigError

    try:
        _main(argv)
    except ConfigError as exc:
        raise SystemExit(f"control_study: error: {exc}") from None


def _main(argv):
    args = parser().parse_args(argv)
    command = "python -m pdlf_brian.protocols.control_study " + " ".join(argv or [])
    if args.command in ("train", "trivial"):
        os.makedirs(os.path.join(args.out, "runs"), exist_ok=True)
        started = time.perf_counter()
        (train if args.command == "train" else trivial)(args)
        print(f"{args.command}: {time.perf_counter() - started:.0f} s", flush=True)
    elif args.command == "steer":
        steer(args)
        return
    elif args.command == "separability":
        separability_study(args.out, episodes=args.episodes)
        return
    elif args.command == "stages":
        print(stages(args.out, since=args.since))
        return
    elif args.command == "status":
        print("\n".join(status(args.out, args.readme, steering_since=args.steering_since, check=args.check)))
        return
    _print_summary(write_summary(args.out, command))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
