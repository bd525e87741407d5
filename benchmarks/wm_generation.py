"""Seconds per generation of the working-memory problem, per device and population size.

One generation = evaluating the whole population on ``batch`` fresh sequences (what the trainer
does between ask and tell). Compile/build time is reported separately. Each configuration runs in
its own process (Brian2 holds one standalone project per process).

Usage: ``python benchmarks/wm_generation.py [--quick]``; writes ``benchmarks/results/wm_generation.json``.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def worker(device, learner, P, length, delay, batch, hidden, repeats):
    from pdlf_brian.evolution.config import TrainConfig
    from pdlf_brian.protocols.working_memory import WorkingMemoryProblem
    import numpy as np

    config = TrainConfig(device=device, learner=learner, population=P, progress=False,
                         task={"length": length, "delay": delay, "batch": batch, "n_hidden": hidden})
    problem = WorkingMemoryProblem(config)
    rng = np.random.default_rng(0)
    genomes = rng.normal(0, 0.04, (P, problem.genome_size))
    start = time.perf_counter()
    problem.network(P)
    build = time.perf_counter() - start
    problem.evaluate(genomes, 0)
    times = []
    for k in range(repeats):
        start = time.perf_counter()
        problem.evaluate(genomes, k + 1)
        times.append(time.perf_counter() - start)
    return {"device": device, "learner": learner, "P": P, "build_s": build,
            "seconds_per_generation": float(np.median(times)), "genome_size": problem.genome_size,
            "copies": P * batch, "steps": problem.task.n_steps}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--worker", nargs=8, help=argparse.SUPPRESS)
    p.add_argument("--out", default=os.path.join(HERE, "results", "wm_generation.json"))
    args = p.parse_args()
    if args.worker:
        d, learner, *nums = args.worker
        print(json.dumps(worker(d, learner, *map(int, nums))))
        return
    length, delay, batch, hidden = 8, 8, 8, 32
    pops = (16, 64) if args.quick else (16, 64, 256)
    rows = []
    for P in pops:
        for learner in ("plastic", "weights"):
            for device in ("numpy", "runtime", "cpp_standalone"):
                cmd = [sys.executable, os.path.abspath(__file__), "--worker", device, learner, str(P),
                       str(length), str(delay), str(batch), str(hidden), "3" if args.quick else "5"]
                out = subprocess.run(cmd, capture_output=True, text=True)
                if out.returncode:
                    print(out.stderr[-3000:], file=sys.stderr)
                    raise SystemExit("worker failed: " + " ".join(cmd))
                row = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(f"P={P:4d} {learner:8s} {device:15s} {row['seconds_per_generation']:8.4f} s/gen "
                      f"(build {row['build_s']:.1f} s)", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump({"task": {"length": length, "delay": delay, "batch": batch, "n_hidden": hidden},
                   "command": "python benchmarks/wm_generation.py" + (" --quick" if args.quick else ""),
                   "rows": rows}, fh, indent=1)
    print("written", args.out)


if __name__ == "__main__":
    main()
