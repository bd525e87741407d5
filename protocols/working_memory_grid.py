"""Grid of delayed-copy runs: L x Lat x seeds x {plastic, weights} at equal budget, one summary.

Usage (the committed results were made with the command in results/working_memory/README.md)::

    python -m pdlf_brian.protocols.working_memory_grid --lengths 4 8 16 --delays 0 8 16 \
        --seeds 0 1 2 --generations 150 --out results/working_memory

Each (L, Lat, learner) group runs in its own worker process, its seeds one after another, so the
compiled standalone project is built once per network shape and reused. Writes ``summary.json``
(one row per (L, Lat, learner)), ``runs.json`` (one row per run), the logs, and figures.
"""
import argparse
import json
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from pdlf_brian.analysis.working_memory import plot_grid

LEARNERS = ("plastic", "weights")


def run_group(length, delay, learner, seeds, args):
    """Train and evaluate every seed of one (L, Lat, learner) group; returns one row per run."""
    from pdlf_brian.evolution.config import TrainConfig
    from pdlf_brian.evolution.trainer import Trainer, generation_seed
    from pdlf_brian.protocols.working_memory import WorkingMemoryProblem

    rows = []
    for seed in seeds:
        config = TrainConfig(
            protocol="working_memory", learner=learner, optimizer=args.optimizer, population=args.population,
            generations=args.generations, seed=seed, eval_every=args.eval_every, device=args.device,
            progress=False,
            task={"length": length, "delay": delay, "batch": args.batch, "n_hidden": args.hidden,
                  "heldout_sequences": args.heldout,
                  "recurrent": {"auto": "auto", "true": True, "false": False}[args.recurrent]},
        )
        problem = WorkingMemoryProblem(config)
        run_dir = os.path.join(args.runs, f"L{length}_D{delay}_{learner}_s{seed}")
        shutil.rmtree(run_dir, ignore_errors=True)
        start = time.perf_counter()
        problem.network(config.population)            # build (and compile) outside the timed loop
        build_s = time.perf_counter() - start
        log = Trainer(config, run_dir, problem).run()
        final_seed = generation_seed(seed, 10**6, 2)
        genome = np.load(os.path.join(run_dir, "best_genome.npy"))
        final = problem.heldout(genome, final_seed)
        reset = problem.heldout(genome, final_seed, reset=True)
        rows.append({
            "L": length, "Lat": delay, "learner": learner, "seed": seed,
            "accuracy": final["accuracy"], "accuracy_after_reset": reset["accuracy"],
            "accuracy_by_position": final["accuracy_by_position"],
            "majority_baseline": final["majority_baseline"],
            "rate_hz_by_phase": final["rate_hz_by_phase"],
            "rate_hz_by_phase_after_reset": reset["rate_hz_by_phase"],
            "seconds_per_generation": log[-1]["wall_time"] / len(log),
            "build_seconds": build_s,
            "generations": len(log), "population": config.population, "batch": args.batch,
            "heldout_curve": [(r["generation"], r["heldout"]) for r in log if r["heldout"] is not None],
            "genome_size": problem.genome_size,
            "recurrent": problem.shape.recurrent,
        })
        shutil.copy(os.path.join(run_dir, "log.jsonl"),
                    os.path.join(args.out, "logs", f"L{length}_D{delay}_{learner}_s{seed}.jsonl"))
    return rows


def _mean_or_none(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summarise(rows):
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
            "rate_hz_by_phase": {p: _mean_or_none([r["rate_hz_by_phase"][p] for r in group]) for p in phases},
            "rate_hz_by_phase_after_reset": {p: _mean_or_none([r["rate_hz_by_phase_after_reset"][p] for r in group])
                                             for p in phases},
            "generations": group[0]["generations"], "population": group[0]["population"],
            "batch": group[0]["batch"],
            "seconds_per_generation": float(np.mean([r["seconds_per_generation"] for r in group])),
            "seeds": [r["seed"] for r in group],
            "recurrent": group[0]["recurrent"], "genome_size": group[0]["genome_size"],
        })
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[4, 8, 16])
    p.add_argument("--delays", type=int, nargs="+", default=[0, 8, 16])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=LEARNERS)
    p.add_argument("--generations", type=int, default=150)
    p.add_argument("--population", type=int, default=64)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--heldout", type=int, default=256)
    p.add_argument("--eval-every", type=int, default=25)
    p.add_argument("--optimizer", default="PGPE")
    p.add_argument("--device", default="cpp_standalone")
    p.add_argument("--recurrent", choices=("auto", "true", "false"), default="auto",
                   help="hidden->hidden projection: auto = for the weights learner only")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default="results/working_memory")
    p.add_argument("--runs", default="runs/working_memory_grid")
    p.add_argument("--replot", action="store_true", help="only redraw the figures from --out's JSON files")
    args = p.parse_args(argv)
    if args.replot:
        with open(os.path.join(args.out, "summary.json")) as fh:
            summary = json.load(fh)["rows"]
        with open(os.path.join(args.out, "runs.json")) as fh:
            plot_grid(summary, json.load(fh), args.out)
        return
    os.makedirs(os.path.join(args.out, "logs"), exist_ok=True)
    os.makedirs(args.runs, exist_ok=True)
    groups = [(L, d, learner) for L in args.lengths for d in args.delays for learner in args.learners]
    # longest groups first so the two workers finish together
    groups.sort(key=lambda g: -(2 * g[0] + g[1]) * (4 if g[2] == "weights" else 1))
    rows = []
    start = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=ctx) as pool:
        futures = {pool.submit(run_group, L, d, learner, args.seeds, args): (L, d, learner) for L, d, learner in groups}
        for fut in futures:
            group_rows = fut.result()
            rows += group_rows
            for r in group_rows:
                print(f"L={r['L']:3d} Lat={r['Lat']:3d} {r['learner']:8s} seed {r['seed']}: "
                      f"acc {r['accuracy']:.3f} after reset {r['accuracy_after_reset']:.3f} "
                      f"({r['seconds_per_generation']:.3f} s/gen)", flush=True)
    summary = summarise(rows)
    meta = {"command": "python -m pdlf_brian.protocols.working_memory_grid " + " ".join(argv or []),
            "args": vars(args), "wall_seconds": time.perf_counter() - start}
    with open(os.path.join(args.out, "summary.json"), "w") as fh:
        json.dump({"meta": meta, "rows": summary}, fh, indent=1)
    with open(os.path.join(args.out, "runs.json"), "w") as fh:
        json.dump(rows, fh, indent=1)
    plot_grid(summary, rows, args.out)
    print(f"wrote {args.out}/summary.json in {meta['wall_seconds']:.0f} s")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
