"""Lesion studies of trained runs (spec 5.4, paper Fig. 4): the same lesions for both learners.

Usage::

    python -m pdlf_brian.protocols.lesion_study neurons results/working_memory/runs/L4_D0_* \
        --out results/lesions/working_memory_L4_D0
    python -m pdlf_brian.protocols.lesion_study temporary runs/ant_* --start 500 --length 50 \
        --out results/lesions/ant_dir

``neurons``: a permanent neuron lesion (`NeuronLesion`, a fraction r of the hidden neurons blocked
from the start) for r in ``--fractions`` on each run's chosen genome (the one ``eval.json`` reports),
scored on the protocol's held-out episodes, ``--lesion-seeds`` lesion draws per run.
``temporary``: control runs only; all weights of ``--projections`` held at zero from step
``--start`` for ``--length`` steps (`TemporaryLesion`), reward per step around the lesion against
the same episodes without a lesion, and the recovery time (first step after the lesion from which a
``--window``-step moving average of the reward is back within 10% of the intact run's), and the lasting
effect: lesioned minus intact reward per step from 50 steps after the lesion to the episode's end. Episodes last
``--episode-steps`` env steps (default: the run's training episodes; a lesion at step 500 needs longer
ones than the 500 steps a run may have trained on), ``--episodes`` per task value (default: the run's
``task.heldout_episodes``), on held-out reset seeds shared by both conditions.

Both learners are lesioned by the same intervention objects, applied by the network builder, so the
weight-trained baseline is treated exactly like the plastic network (the reference implementation's
baseline lesions were not: spec 5.4). Writes ``lesions.json`` (the curves, drawn by
``pdlf report``) and ``summary.json`` (per learner and condition: mean, std, seeds, budget) to ``--out``.
"""
import argparse
import json
import os
import time

import numpy as np

from pdlf_brian.interventions import NeuronLesion, TemporaryLesion, to_dict


def _load(run_dir):
    from pdlf_brian.protocols import problem_for_run
    from pdlf_brian.rundir import RunDir

    d = RunDir(run_dir)
    config = d.config()
    return d, config, problem_for_run(run_dir, config), d.genome()


def _budget(d, config):
    log = d.log()
    return {"generations": len(log), "population": config.population, "env_steps": log[-1]["env_steps"]}


def neuron_sweep(run_dirs, fractions, lesion_seeds, eval_seed=20261125):
    """Held-out score of every run's genome with a fraction r of hidden neurons blocked."""
    scores, runs, majority = {}, [], []
    for run_dir in run_dirs:
        d, config, problem, genome = _load(run_dir)
        per_fraction = []
        for r in fractions:
            metrics = [problem.heldout(genome, eval_seed, interventions=(NeuronLesion(r, seed=s),))
                       for s in lesion_seeds]
            per_fraction.append(float(np.mean([m["score"] for m in metrics])))
            majority += [m["majority_baseline"] for m in metrics if "majority_baseline" in m]
        scores.setdefault(config.learner, []).append(per_fraction)
        runs.append({"run": os.path.basename(d.path), "learner": config.learner, "seed": config.seed,
                     "scores": per_fraction, **_budget(d, config)})
    levels = {"chance": 0.5, "majority bit": float(np.mean(majority))} if majority else {}
    if hasattr(problem, "rollout"):
        levels = {"zero action": _zero_action_score(config, eval_seed)}
    return scores, runs, levels


def _zero_action_score(config, eval_seed):
    """Held-out score of the zero-action policy (every weight 0; also what r = 1 gives) on the sweep's episodes."""
    from pdlf_brian.evolution.config import TrainConfig
    from pdlf_brian.protocols import problem_for

    problem = problem_for(TrainConfig.from_dict({**config.to_dict(), "learner": "weights", "ablation": "full"}))
    return problem.heldout(np.zeros(problem.genome_size), eval_seed)["score"]


def temporary(run_dirs, start, length, projections, episode_steps=None, episodes=None, eval_seed=20261125):
    """Reward per env step of every control run's genome with and without a temporary lesion.

    Each run plays ``episodes`` episodes per training task value (held-out reset seeds drawn from
    ``eval_seed``, the same with and without the lesion) of ``episode_steps`` env steps, on the
    evaluation device; the rewards are averaged over those episodes per step. Returns ``rewards`` and
    ``intact`` (learner -> list of per-step curves, one per run) and ``runs``.
    """
    from pdlf_brian.protocols.control import control_problem_for_run
    from pdlf_brian.rundir import RunDir

    rewards, intact, runs = {}, {}, []
    for run_dir in run_dirs:
        d, problem = RunDir(run_dir), control_problem_for_run(run_dir, episode_steps)
        if problem is None:
            raise SystemExit(f"{run_dir}: the temporary-lesion study needs a control run, not "
                             f"{d.config().protocol!r}")
        config = d.config()
        n_episodes = episodes or problem.settings.heldout_episodes
        values = [v for v in problem.task_values for _ in range(n_episodes)]
        seeds = np.random.default_rng(eval_seed).integers(0, 2**31 - 1, size=len(values))
        lesion = TemporaryLesion(projections, start, length)
        lesion.check(problem.shape, problem.n_steps)
        per = {}
        for name, interventions in (("lesioned", (lesion,)), ("intact", ())):
            net = problem.evaluation_network(1, len(values), interventions=interventions)
            out = problem.rollout(net, np.asarray(d.genome())[None, :], values, seeds, record_steps=True)
            per[name] = out["reward"].mean(axis=1)      # mean over task values and episodes, per env step
        rewards.setdefault(config.learner, []).append(per["lesioned"].tolist())
        intact.setdefault(config.learner, []).append(per["intact"].tolist())
        runs.append({"run": os.path.basename(d.path), "learner": config.learner, "seed": config.seed,
                     "episode_steps": problem.settings.episode_steps, "episodes_per_value": n_episodes,
                     **_budget(d, config)})
    return rewards, intact, runs


def recovery_steps(lesioned, intact, start, length, window, tolerance=0.1):
    """Steps after the lesion ends until the moving average is back within ``tolerance`` of intact."""
    kernel = np.ones(window) / window
    a = np.convolve(lesioned, kernel, mode="valid")
    b = np.convolve(intact, kernel, mode="valid")
    for t in range(start + length, len(a)):
        if abs(a[t] - b[t]) <= tolerance * max(abs(b[t]), 1e-9):
            return t - (start + length)
    return None


#: steps after a temporary lesion before its lasting effect is measured (reward_difference_after)
SETTLE = 50


def _difference(lesioned, intact, steps):
    """Mean reward per step of the lesioned minus the intact episodes over ``steps`` (None if empty)."""
    a, b = np.asarray(lesioned)[steps], np.asarray(intact)[steps]
    return float(a.mean() - b.mean()) if len(a) else None


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _std(values):
    values = [v for v in values if v is not None]
    return float(np.std(values)) if values else None


def _learner_budget(runs, learner):
    """Training budget of a learner's runs: generations, population and env steps (a list where runs differ)."""
    out = {}
    for key in ("generations", "population", "env_steps"):
        values = sorted({r[key] for r in runs if r["learner"] == learner})
        out[key] = values[0] if len(values) == 1 else values
    return out


def _count(runs):
    counts = {}
    for r in runs:
        counts[r["learner"]] = counts.get(r["learner"], 0) + 1
    return counts


def _stats(rows):
    arr = np.asarray(rows, dtype=float)
    return arr.mean(axis=0).tolist(), arr.std(axis=0).tolist()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study", choices=("neurons", "temporary"))
    p.add_argument("runs", nargs="+", help="trained run directories (both learners)")
    p.add_argument("--out", required=True)
    p.add_argument("--fractions", type=float, nargs="+", default=[round(0.1 * k, 1) for k in range(9)])
    p.add_argument("--lesion-seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--start", type=int, default=500)
    p.add_argument("--length", type=int, default=50)
    p.add_argument("--projections", nargs="+", default=["in", "out"])
    p.add_argument("--window", type=int, default=20)
    p.add_argument("--episode-steps", type=int, default=None, help="temporary: env steps per episode")
    p.add_argument("--episodes", type=int, default=None, help="temporary: episodes per task value")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    meta = {"command": "python -m pdlf_brian.protocols.lesion_study " + " ".join(argv or []), "study": args.study}
    if args.study == "neurons":
        scores, runs, levels = neuron_sweep(args.runs, args.fractions, args.lesion_seeds)
        budget = sorted({(r["generations"], r["population"]) for r in runs})
        title = (f"{len(runs)} runs ({', '.join(f'{n} {k}' for k, n in _count(runs).items())}), "
                 f"{len(args.lesion_seeds)} lesion seeds each\n"
                 + "; ".join(f"{g} generations, population {p}" for g, p in budget))
        lesions = {"neuron_sweep": {"fractions": args.fractions, "scores": scores, "ylabel": "held-out score",
                                    "levels": levels, "title": title,
                                    "lesions": [to_dict(NeuronLesion(r, seed=s)) for r in args.fractions
                                                for s in args.lesion_seeds]}}
        summary = {learner: {"fractions": args.fractions, "mean": _stats(v)[0], "std": _stats(v)[1],
                             "seeds": [r["seed"] for r in runs if r["learner"] == learner]}
                   for learner, v in scores.items()}
    else:
        rewards, intact, runs = temporary(args.runs, args.start, args.length, tuple(args.projections),
                                          args.episode_steps, args.episodes)
        budget = sorted({(r["generations"], r["population"]) for r in runs})
        title = (f"{len(runs)} runs ({', '.join(f'{n} {k}' for k, n in _count(runs).items())}), "
                 f"{runs[0]['episodes_per_value']} episodes per task value of {runs[0]['episode_steps']} steps\n"
                 + "; ".join(f"{g} generations, population {p}" for g, p in budget))
        lesions = {"temporary": {"rewards": rewards, "intact": intact, "start": args.start, "length": args.length,
                                 "smooth": args.window, "title": title,
                                 "lesion": to_dict(TemporaryLesion(tuple(args.projections), args.start, args.length))}}
        summary = {}
        for learner in rewards:
            rec = [recovery_steps(np.asarray(a), np.asarray(b), args.start, args.length, args.window)
                   for a, b in zip(rewards[learner], intact[learner])]
            during = slice(args.start, args.start + args.length)
            after = slice(args.start + args.length + SETTLE, None)
            drop = [_difference(a, b, during) for a, b in zip(rewards[learner], intact[learner])]
            late = [_difference(a, b, after) for a, b in zip(rewards[learner], intact[learner])]
            summary[learner] = {"recovery_steps": rec, "reward_drop_in_window_mean": float(np.mean(drop)),
                                "reward_drop_in_window_std": float(np.std(drop)),
                                "reward_difference_after_mean": _mean(late), "reward_difference_after_std": _std(late),
                                "after_steps": [after.start, len(rewards[learner][0])],
                                "intact_reward_mean": float(np.mean([np.mean(b) for b in intact[learner]])),
                                "seeds": [r["seed"] for r in runs if r["learner"] == learner]}
    for learner, row in summary.items():
        row["budget"] = _learner_budget(runs, learner)
    meta["wall_seconds"] = time.perf_counter() - started
    with open(os.path.join(args.out, "lesions.json"), "w") as fh:
        json.dump({"meta": meta, **lesions}, fh, indent=1)
    with open(os.path.join(args.out, "summary.json"), "w") as fh:
        json.dump({"meta": meta, "runs": runs, "learners": summary}, fh, indent=1)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
