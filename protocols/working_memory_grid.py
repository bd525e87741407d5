"""Grid of delayed-copy runs: L x Lat x seeds x {plastic, weights} at equal budget, one summary.

Usage (the committed results were made with the command in results/working_memory/README.md)::

    python -m pdlf_brian.protocols.working_memory_grid --lengths 4 8 --delays 0 16 \
        --seeds 0 1 2 3 --generations 2000 --out results/working_memory

Every run is an ordinary run directory (`pdlf_brian.rundir`) under ``OUT/runs/``, named
``L{L}_D{Lat}_{learner}_s{seed}``; a run directory that already holds a checkpoint is continued
(``--generations`` may be raised to extend a campaign), so the same command resumes a killed or
unfinished grid. Each run gets the protocol's `final_report` (``eval.json``). ``summary.json`` (one
row per (L, Lat, learner)), ``runs.json`` (one row per run) and the figures are computed from the
run directories alone (``--summarise`` redoes only that).
"""
import argparse
import json
import os
import time

import numpy as np

from pdlf_brian.evolution.executors import process_pool

LEARNERS = ("plastic", "weights")


def run_name(length, delay, learner, seed):
    return f"L{length}_D{delay}_{learner}_s{seed}"


def grid_config(length, delay, learner, seed, args):
    """The `TrainConfig` of one grid cell and seed."""
    from pdlf_brian.evolution.config import apply_overrides, TrainConfig

    data = dict(protocol="working_memory", learner=learner, optimizer=args.optimizer, population=args.population,
                generations=args.generations, seed=seed, eval_every=args.eval_every, device=args.device,
                progress=False, snapshot_every=args.snapshot_every,
                task={"length": length, "delay": delay, "batch": args.batch, "n_hidden": args.hidden,
                      "heldout_sequences": args.heldout,
                      "recurrent": {"auto": "auto", "true": True, "false": False}[args.recurrent]})
    apply_overrides(data, args.set)
    return TrainConfig.from_dict(data)


def run_group(length, delay, learner, seeds, args):
    """Train (or continue) and evaluate every seed of one (L, Lat, learner) group in this process."""
    from pdlf_brian.cli import evaluate_run
    from pdlf_brian.evolution.config import resume_config
    from pdlf_brian.evolution.trainer import Trainer
    from pdlf_brian.protocols.working_memory import WorkingMemoryProblem
    from pdlf_brian.rundir import CHECKPOINT, RunDir

    done = []
    for seed in seeds:
        config = grid_config(length, delay, learner, seed, args)
        run_dir = RunDir(os.path.join(args.out, "runs", run_name(length, delay, learner, seed)))
        resume = run_dir.has(CHECKPOINT)
        if resume:
            config = resume_config(run_dir.config("working_memory").to_dict(), [f"generations={args.generations}"])
        problem = WorkingMemoryProblem(config)
        log = Trainer(config, run_dir.path, problem).run(resume=resume)
        evaluate_run(run_dir.path, problem, figure=False)
        print(f"{run_dir.path}: {len(log)} generations, held-out {run_dir.eval()['final']['accuracy']:.3f}",
              flush=True)
        done.append(run_dir.path)
    return done


def _mean_or_none(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def run_row(run_dir):
    """One row of ``runs.json`` from a finished run directory."""
    from pdlf_brian.rundir import RunDir

    d = RunDir(run_dir)
    config, log, report = d.config("working_memory"), d.log(), d.eval()
    final, reset = report["final"], report["after_reset"]
    return {
        "run": os.path.basename(d.path),
        "L": config.task["length"], "Lat": config.task["delay"], "learner": config.learner, "seed": config.seed,
        "accuracy": final["accuracy"], "accuracy_after_reset": reset["accuracy"],
        "accuracy_by_position": final["accuracy_by_position"],
        "majority_baseline": final["majority_baseline"],
        "silent_fraction": final.get("silent_fraction"),
        "rate_hz_by_phase": final["rate_hz_by_phase"],
        "rate_hz_by_phase_after_reset": reset["rate_hz_by_phase"],
        "seconds_per_generation": log[-1]["wall_time"] / len(log),
        "generations": len(log), "population": config.population, "batch": config.task.get("batch"),
        "env_steps": log[-1]["env_steps"],
        "heldout_curve": [(r["generation"], r["heldout"]) for r in log if r["heldout"] is not None],
    }


def summarise(rows):
    """One summary row per (L, Lat, learner): mean and std over seeds, and the budget."""
    summary = []
    keys = sorted({(r["L"], r["Lat"], r["learner"]) for r in rows})
    for L, Lat, learner in keys:
        group = [r for r in rows if (r["L"], r["Lat"], r["learner"]) == (L, Lat, learner)]
        acc = np.array([r["accuracy"] for r in group])
        reset = np.array([r["accuracy_after_reset"] for r in group])
        phases = group[0]["rate_hz_by_phase"].keys()
        summary.append({
            "L": L, "Lat": Lat, "learner": learner,
            "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std()),
            "accuracy_after_reset_mean": float(reset.mean()), "accuracy_after_reset_std": float(reset.std()),
            "accuracy_by_position_mean": np.mean([r["accuracy_by_position"] for r in group], axis=0).tolist(),
            "majority_baseline": float(np.mean([r["majority_baseline"] for r in group])),
            "silent_fraction_mean": _mean_or_none([r["silent_fraction"] for r in group]),
            "rate_hz_by_phase": {p: _mean_or_none([r["rate_hz_by_phase"][p] for r in group]) for p in phases},
            "rate_hz_by_phase_after_reset": {p: _mean_or_none([r["rate_hz_by_phase_after_reset"][p] for r in group])
                                             for p in phases},
            "generations": min(r["generations"] for r in group), "population": group[0]["population"],
            "batch": group[0]["batch"], "env_steps": int(np.mean([r["env_steps"] for r in group])),
            "seconds_per_generation": float(np.mean([r["seconds_per_generation"] for r in group])),
            "seeds": [r["seed"] for r in group],
        })
    return summary


def write_summary(out, meta=None):
    """Compute ``runs.json``, ``summary.json`` and the figures from the run directories under ``out/runs``."""
    from pdlf_brian.analysis.working_memory import plot_grid
    from pdlf_brian.rundir import EVAL, RunDir

    runs_root = os.path.join(out, "runs")
    run_dirs = sorted(os.path.join(runs_root, n) for n in os.listdir(runs_root))
    rows = [run_row(d) for d in run_dirs if RunDir(d).has(EVAL)]
    summary = summarise(rows)
    previous = {}
    if os.path.exists(os.path.join(out, "summary.json")):
        with open(os.path.join(out, "summary.json")) as fh:
            previous = json.load(fh).get("meta", {})
    with open(os.path.join(out, "summary.json"), "w") as fh:
        json.dump({"meta": meta or previous, "rows": summary}, fh, indent=1)
    with open(os.path.join(out, "runs.json"), "w") as fh:
        json.dump(rows, fh, indent=1)
    plot_grid(summary, rows, out)
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[4, 8])
    p.add_argument("--delays", type=int, nargs="+", default=[0, 16])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    p.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=LEARNERS)
    p.add_argument("--generations", type=int, default=2000)
    p.add_argument("--population", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--heldout", type=int, default=256)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--snapshot-every", type=int, default=500)
    p.add_argument("--optimizer", default="PGPE")
    p.add_argument("--device", default="numpy")
    p.add_argument("--recurrent", choices=("auto", "true", "false"), default="auto",
                   help="hidden->hidden projection: auto = for the weights learner only")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any other config key for every run (e.g. optimizer_options={\"init_stdev\":0.02})")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default="results/working_memory")
    p.add_argument("--summarise", action="store_true", help="only recompute the summary and figures from --out")
    p.add_argument("--replot", metavar="DIR", help="only redraw the figures of DIR's summary.json and runs.json")
    args = p.parse_args(argv)
    if args.replot:
        from pdlf_brian.analysis.working_memory import plot_grid

        with open(os.path.join(args.replot, "summary.json")) as fh:
            summary = json.load(fh)["rows"]
        with open(os.path.join(args.replot, "runs.json")) as fh:
            plot_grid(summary, json.load(fh), args.replot)
        return
    if args.summarise:
        write_summary(args.out)
        return
    os.makedirs(os.path.join(args.out, "runs"), exist_ok=True)
    groups = [(L, d, learner, [seed]) for L in args.lengths for d in args.delays for learner in args.learners
              for seed in args.seeds]
    # longest runs first so the workers finish together
    groups.sort(key=lambda g: -(2 * g[0] + g[1]) * (2 if g[2] == "weights" else 1))
    start = time.perf_counter()
    with process_pool(args.jobs) as pool:
        futures = [pool.submit(run_group, L, d, learner, seeds, args) for L, d, learner, seeds in groups]
        for fut in futures:
            fut.result()
    meta = {"command": "python -m pdlf_brian.protocols.working_memory_grid " + " ".join(argv or []),
            "args": vars(args), "wall_seconds_this_invocation": time.perf_counter() - start}
    write_summary(args.out, meta)
    print(f"wrote {args.out}/summary.json in {meta['wall_seconds_this_invocation']:.0f} s")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
