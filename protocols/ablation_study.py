"""Ablations of the plasticity rule at equal budget (spec 5.3, paper Fig. 3C), and whether weights diverge.

Usage::

    python -m pdlf_brian.protocols.ablation_study working_memory --ablations full no-SCP no-PDP SCP-only PDP-only \
        --seeds 0 1 2 --generations 500 --set task.length=4 --set task.delay=0 --out results/ablations/working_memory

Every (ablation, seed) is an ordinary run directory ``OUT/runs/<ablation>_s<seed>`` trained with the same
config but ``ablation`` (the ablation is part of the run's config and log); an existing run directory
is continued (``--generations`` may be raised). Afterwards each run's chosen genome is evaluated on
held-out episodes (``eval.json``) and run once more with the normalisation scale recorded: the max |w| of
each projection after each step's rule, before max-abs normalisation divides by it. The paper reports
that networks without PDP diverge; with the normalisation in the loop, divergence shows as a growing
scale. ``summary.json`` holds per ablation: final training fitness, held-out score (and, for control, the unseen task values'), the scale's median and
maximum over the episode and its growth (last step / first nonzero step), mean and std over seeds, the
seeds and the budget; ``ablations.json`` lists the run directories for ``pdlf report``.
"""
import argparse
import json
import os
import time

import numpy as np

from pdlf_brian.evolution.executors import process_pool


def train_one(protocol, ablation, seed, args):
    from pdlf_brian.cli import evaluate_run
    from pdlf_brian.evolution.config import apply_overrides, resume_config, TrainConfig
    from pdlf_brian.evolution.trainer import Trainer
    from pdlf_brian.protocols import problem_for
    from pdlf_brian.rundir import CHECKPOINT, RunDir

    run = RunDir(os.path.join(args.out, "runs", f"{ablation}_s{seed}"))
    if run.has(CHECKPOINT):
        config = resume_config(run.config(protocol).to_dict(), [f"generations={args.generations}"])
    else:
        data = dict(protocol=protocol, learner="plastic", ablation=ablation, seed=seed, generations=args.generations,
                    population=args.population, eval_every=args.eval_every, device=args.device, progress=False)
        apply_overrides(data, args.set)
        config = TrainConfig.from_dict(data)
    problem = problem_for(config)
    Trainer(config, run.path, problem).run(resume=run.has(CHECKPOINT))
    evaluate_run(run.path, problem, figure=False)
    return run.path


def weight_growth(run_dir, eval_seed=20261125):
    """The normalisation scale over one held-out episode of the run's chosen genome, per projection."""
    from pdlf_brian.devices import evaluation_device
    from pdlf_brian.protocols import problem_for_run
    from pdlf_brian.rundir import RunDir

    d = RunDir(run_dir)
    problem = problem_for_run(run_dir)
    genome = np.asarray(d.genome())[None, :]
    if hasattr(problem, "rollout"):
        values = list(problem.task_values)
        seeds = np.random.default_rng(eval_seed).integers(0, 2**31 - 1, size=len(values))
        net = problem.make(1, len(values), record=("output", "scale"),
                           device=evaluation_device(problem.config.device))      # a Python closed loop
        rec = problem.rollout(net, genome, values, seeds)["recording"]
    else:
        trials = problem.task.sample(np.random.default_rng(eval_seed), 64)
        net = problem.make(1, 64, record=("output", "scale"))
        rec = net.run(genome, trials.inputs[:, None], final_weights=False)
    out = {}
    for proj, scale in rec.scale.items():
        per_step = scale.mean(axis=(1, 2))                      # mean over copies, per step
        nonzero = per_step[per_step > 0]
        first = nonzero[0] if len(nonzero) else np.nan
        out[proj] = {"median": float(np.median(per_step)), "max": float(per_step.max()),
                     "growth": float(per_step[-1] / first) if np.isfinite(first) else None}
    return out


def _ms(values):
    values = [v for v in values if v is not None and np.isfinite(v)]
    return (float(np.mean(values)), float(np.std(values))) if values else (None, None)


def summarise(out, ablations, seeds):
    from pdlf_brian.protocols import problem_for
    from pdlf_brian.rundir import RunDir

    rows = {}
    for ablation in ablations:
        runs = [RunDir(os.path.join(out, "runs", f"{ablation}_s{s}")) for s in seeds]
        logs = [r.log() for r in runs]
        finals = [log[-1]["mean"] for log in logs]
        reports = [r.eval() for r in runs]
        heldout = [e["final"]["score"] for e in reports]
        unseen = [e["unseen"]["score"] for e in reports if "unseen" in e]
        growth = [weight_growth(r.path) for r in runs]
        row = {"train_fitness_mean": _ms(finals)[0], "train_fitness_std": _ms(finals)[1],
               "heldout_mean": _ms(heldout)[0], "heldout_std": _ms(heldout)[1], "seeds": list(seeds),
               **({"unseen_mean": _ms(unseen)[0], "unseen_std": _ms(unseen)[1]} if unseen else {}),
               "generations": min(len(log) for log in logs), "population": runs[0].config().population,
               "env_steps": int(np.mean([log[-1]["env_steps"] for log in logs])),
               "parameters": list(problem_for(runs[0].config()).synapse.parameters)}
        for proj in growth[0]:
            for key in ("median", "max", "growth"):
                m, s = _ms([g[proj][key] for g in growth])
                row[f"scale_{proj}_{key}_mean"], row[f"scale_{proj}_{key}_std"] = m, s
        rows[ablation] = row
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("protocol")
    p.add_argument("--ablations", nargs="+", default=["full", "no-SCP", "no-PDP", "SCP-only", "PDP-only"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--generations", type=int, default=500)
    p.add_argument("--population", type=int, default=64)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--device", default="numpy")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", required=True)
    p.add_argument("--summarise", action="store_true", help="only recompute summary.json from --out")
    args = p.parse_args(argv)
    os.makedirs(os.path.join(args.out, "runs"), exist_ok=True)
    started = time.perf_counter()
    if not args.summarise:
        with process_pool(args.jobs) as pool:
            futures = [pool.submit(train_one, args.protocol, a, s, args) for a in args.ablations for s in args.seeds]
            for f in futures:
                print(f.result(), flush=True)
    rows = summarise(args.out, args.ablations, args.seeds)
    command = "python -m pdlf_brian.protocols.ablation_study " + " ".join(argv or [])
    meta = {"command": command, "wall_seconds_this_invocation": time.perf_counter() - started}
    previous = os.path.join(args.out, "summary.json")
    if args.summarise and os.path.exists(previous):      # keep the command that trained the runs
        with open(previous) as fh:
            trained = json.load(fh).get("meta", {})
        meta = {**trained, "summarised_by": command}
    with open(os.path.join(args.out, "summary.json"), "w") as fh:
        json.dump({"meta": meta, "ablations": rows}, fh, indent=1)
    with open(os.path.join(args.out, "ablations.json"), "w") as fh:
        first = next(iter(rows.values()))
        budget = (f"{first['generations']} generations, population {first['population']}, "
                  f"{first['env_steps'] / 1e6:.1f} M env steps per run, {len(args.seeds)} seeds")
        json.dump({"title": f"ablations of the rule: {args.protocol}\n{budget}",
                   "runs": {a: [f"{a}_s{s}" for s in args.seeds] for a in args.ablations}}, fh, indent=1)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
