"""Seconds per training generation of a control protocol, runtime vs cpp_standalone (compiled loop).

The control campaign's set-up (results/control): halfcheetah_vel, P individuals x 8 task values,
500-step episodes, one physics thread per run (``task.nthread=1``: two runs share the 2 cores), both
learners. One generation = ``ControlProblem.evaluate`` of the whole population, timed after one
warm-up generation; the compile/build time is reported apart. Each configuration runs in its own
process (Brian2 holds one standalone project per process), one after the other.

Usage: ``python benchmarks/control_generation.py [--quick]``; prints a table and writes
``benchmarks/results/control_generation.json``.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEVICES = ("runtime", "cpp_standalone")
LEARNERS = ("plastic", "weights")


def worker(device, learner, P, E, repeats):
    import numpy as np

    from pdlf_brian.evolution.config import TrainConfig
    from pdlf_brian.protocols import problem_for

    config = TrainConfig(protocol="halfcheetah_vel", device=device, learner=learner, population=P,
                         progress=False, task={"episode_steps": E, "nthread": 1})
    problem = problem_for(config)
    genomes = np.random.default_rng(0).normal(0, 0.04, (P, problem.genome_size))
    start = time.perf_counter()
    problem.network(P)
    build = time.perf_counter() - start
    problem.evaluate(genomes, 0)
    times, steps = [], None
    for k in range(repeats):
        start = time.perf_counter()
        steps = problem.evaluate(genomes, k + 1).env_steps
        times.append(time.perf_counter() - start)
    return {"device": device, "learner": learner, "P": P, "E": E, "build_s": build,
            "seconds_per_generation": float(np.median(times)), "env_steps_per_generation": steps,
            "env_steps_per_s": steps / float(np.median(times))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="P 8, 50-step episodes, 1 repeat (a smoke run)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "control_generation.json"))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*json.loads(args.worker))))
        return
    P, E, repeats = (8, 50, 1) if args.quick else (64, 500, 2)
    rows = []
    for learner in LEARNERS:
        for device in DEVICES:
            out = subprocess.run([sys.executable, __file__, "--worker", json.dumps([device, learner, P, E, repeats])],
                                 check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(f"{learner} {device}: {rows[-1]['seconds_per_generation']:.2f} s per generation", flush=True)
    lines = ["| learner | device | s per generation | env steps/s | build s |", "|---|---|---|---|---|"]
    lines += [f"| {r['learner']} | {r['device']} | {r['seconds_per_generation']:.2f} | {r['env_steps_per_s']:.0f} | "
              f"{r['build_s']:.1f} |" for r in rows]
    print("\n".join(lines))
    result = {"benchmark": "control_generation", "quick": args.quick,
              "command": "python benchmarks/control_generation.py" + (" --quick" if args.quick else ""),
              "setup": {"family": "halfcheetah_vel", "P": P, "task_values": 8, "episode_steps": E,
                        "nthread": 1, "repeats": repeats, "genomes": "N(0, 0.04^2), seed 0",
                        "timing": "median of the repeats after one warm-up generation"},
              "rows": rows, "table": lines}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
