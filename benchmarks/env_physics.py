"""Env-steps per second: ``BatchedTaskEnv`` (mujoco.batch) against a Python loop of Gymnasium envs.

For halfcheetah_vel and ant_dir, N copies in {16, 64, 256} (N in total, one task value each, the
eight training values cycled), random actions of amplitude 0.3, ``terminate_when_unhealthy=False``
for Ant so that every copy steps every time (both paths do the same work). The loop steps N
environments built by ``pdlf_brian.envs.make`` (Gymnasium's wrappers included) one after the
other; the batch steps them in one call on ``nthread`` threads. Times include computing the
observations and rewards (and, for the loop, the per-env Python work), not the policy.

Usage: ``python benchmarks/env_physics.py [--quick]``; prints a table and writes
``benchmarks/results/env_physics.json``.
"""
import argparse
import json
import os
import platform
import time

import numpy as np

from pdlf_brian.envs import FAMILIES, BatchedTaskEnv, make

HERE = os.path.dirname(os.path.abspath(__file__))
FAMILY_KW = {"halfcheetah_vel": {}, "ant_dir": {"terminate_when_unhealthy": False}}
SIZES = (16, 64, 256)
THREADS = (1, 2)


def n_steps(n, quick):
    return max(20, (6000 if quick else 30000) // n)


def time_loop(family, n, steps, kw):
    spec = FAMILIES[family]
    envs = [make(family, spec.training_values[i % 8], max_episode_steps=steps + 1, **kw) for i in range(n)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    rng = np.random.default_rng(0)
    actions = (0.3 * rng.uniform(-1, 1, (steps, n, spec.act_dim))).astype(np.float32)
    t0 = time.perf_counter()
    for t in range(steps):
        for i, env in enumerate(envs):
            env.step(actions[t, i])
    dt = time.perf_counter() - t0
    return n * steps / dt


def time_batch(family, n, steps, kw, nthread):
    spec = FAMILIES[family]
    batch = BatchedTaskEnv(family, n, nthread=nthread, max_episode_steps=steps + 1, **kw)
    batch.reset(np.arange(n), [spec.training_values[i % 8] for i in range(n)])
    rng = np.random.default_rng(0)
    actions = (0.3 * rng.uniform(-1, 1, (steps, n, spec.act_dim))).astype(np.float32)
    t0 = time.perf_counter()
    for t in range(steps):
        batch.step(actions[t])
    dt = time.perf_counter() - t0
    assert not batch.done.any()
    return n * steps / dt


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (smoke run)")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "env_physics.json"))
    args = parser.parse_args()
    rows = []
    header = f"{'family':<16}{'N':>5}{'steps':>7}{'loop/s':>10}" + "".join(
        f"{f'batch t={t}/s':>14}{'x':>6}" for t in THREADS)
    print(header)
    print("-" * len(header))
    for family, kw in FAMILY_KW.items():
        for n in SIZES:
            steps = n_steps(n, args.quick)
            loop = time_loop(family, n, steps, kw)
            row = {"family": family, "n": n, "steps_per_copy": steps, "loop_steps_per_s": loop, "batch": {}}
            line = f"{family:<16}{n:>5}{steps:>7}{loop:>10.0f}"
            for t in THREADS:
                rate = time_batch(family, n, steps, kw, t)
                row["batch"][str(t)] = {"steps_per_s": rate, "speedup": rate / loop}
                line += f"{rate:>14.0f}{rate / loop:>6.1f}"
            print(line, flush=True)
            rows.append(row)
    import mujoco
    import gymnasium
    result = {
        "benchmark": "env_physics", "quick": args.quick,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "mujoco": mujoco.__version__, "gymnasium": gymnasium.__version__},
        "units": "env steps per second (one env step = frame_skip MuJoCo substeps + obs + reward)",
        "rows": rows,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
