"""Benchmark PGPE (pdlf_brian.evolution.pgpe) against Nevergrad optimizers.

Usage::

    /work/venv/bin/python benchmarks/optimizers.py            # full run (~3-6 min on 2 cores)
    /work/venv/bin/python benchmarks/optimizers.py --quick    # smoke test

(a) Ask/tell overhead: seconds per generation of 64 candidates spent inside
    ``ask()`` and ``tell()`` only (the loss is computed between the two timed
    blocks and excluded), at 500 and 20,000 dimensions.  One warm-up generation
    (which includes e.g. CMA's initialisation) is reported separately; the table
    gives the mean (and std) over the following ``--overhead-generations``.
(b) Quality: loss of ``recommend()`` after a fixed budget (generations x 64
    evaluations) on a 1,000-dimensional shifted sphere and a shifted, rotated
    ellipsoid (condition 1e3, rotation = QR of a Gaussian matrix from a fixed
    seed), over 3 optimizer seeds (mean, std, min, max).  The best loss ever
    evaluated is recorded too.

All optimizers run with population 64: PGPE (registry "PGPE", popsize 64),
DiagonalCMA (ParametrizedCMA(diagonal=True, popsize=64)), TBPSA
(ParametrizedTBPSA(naive=False, initial_popsize=16), i.e. lambda = 64 initially;
TBPSA adapts it), TwoPointsDE (DifferentialEvolution(crossover="twopoints",
popsize=64); DE is steady-state, a "generation" is just 64 asks + 64 tells).
In (b) the registry-default DiagonalCMA (popsize 4 + 3 ln d = 24 at d = 1000)
is added as a reference (same number of evaluations, asked/told in batches of 24).

Results are printed as a table and written to benchmarks/results/optimizers.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import nevergrad as ng
from nevergrad.optimization.differentialevolution import DifferentialEvolution
from nevergrad.optimization.optimizerlib import ParametrizedCMA, ParametrizedTBPSA

import pdlf_brian.evolution.pgpe  # noqa: F401  (registers "PGPE")

POPSIZE = 64
RESULTS = Path(__file__).resolve().parent / "results" / "optimizers.json"


def optimizer_families() -> dict:
    return {
        "PGPE": ng.optimizers.registry["PGPE"],
        "DiagonalCMA": ParametrizedCMA(diagonal=True, popsize=POPSIZE),
        "TBPSA": ParametrizedTBPSA(naive=False, initial_popsize=POPSIZE // 4),
        "TwoPointsDE": DifferentialEvolution(crossover="twopoints", popsize=POPSIZE),
    }


def make_optimizer(family, dim: int, seed: int):
    param = ng.p.Array(shape=(dim,))
    param.random_state.seed(seed)
    return family(param)


# --------------------------------------------------------------- overhead
def measure_overhead(family, dim: int, generations: int, seed: int = 0) -> dict:
    opt = make_optimizer(family, dim, seed)
    times = []
    for _ in range(generations + 1):  # first generation = warm-up
        t0 = time.perf_counter()
        cands = [opt.ask() for _ in range(POPSIZE)]
        t_ask = time.perf_counter() - t0
        losses = [float(np.dot(c.value, c.value)) for c in cands]  # not timed
        t0 = time.perf_counter()
        for c, loss in zip(cands, losses):
            opt.tell(c, loss)
        t_tell = time.perf_counter() - t0
        times.append(t_ask + t_tell)
    timed = np.array(times[1:])
    return {
        "warmup_generation_s": times[0],
        "mean_s": float(timed.mean()),
        "std_s": float(timed.std(ddof=1)) if len(timed) > 1 else 0.0,
        "generations_timed": len(timed),
    }


# ---------------------------------------------------------------- quality
class Sphere:
    name = "sphere"

    def __init__(self, optimum: np.ndarray):
        self.optimum = optimum

    def __call__(self, x: np.ndarray) -> np.ndarray:  # x: (n, d)
        diff = x - self.optimum
        return np.einsum("ij,ij->i", diff, diff)


class RotatedEllipsoid:
    name = "rotated_ellipsoid"

    def __init__(self, optimum: np.ndarray, condition: float, rotation_seed: int):
        dim = optimum.size
        self.optimum = optimum
        q, r = np.linalg.qr(np.random.RandomState(rotation_seed).normal(size=(dim, dim)))
        self.rotation = q * np.sign(np.diag(r))  # Haar-distributed orthogonal matrix
        self.weights = condition ** (np.arange(dim) / (dim - 1))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = (x - self.optimum) @ self.rotation.T
        return (y * y) @ self.weights


def run_quality(family, func, dim: int, budget: int, seed: int) -> dict:
    opt = make_optimizer(family, dim, seed)
    # ask/tell in batches of the optimizer's own population (64, except for the
    # registry-default DiagonalCMA whose pycma instance needs batches of its popsize)
    batch = int(getattr(opt, "_popsize", POPSIZE))
    best = np.inf
    t0 = time.perf_counter()
    while opt.num_tell < budget:
        cands = [opt.ask() for _ in range(min(batch, budget - opt.num_tell))]
        losses = func(np.array([c.value for c in cands]))
        best = min(best, float(losses.min()))
        for c, loss in zip(cands, losses):
            opt.tell(c, float(loss))
    rec = np.asarray(opt.recommend().value, dtype=float)
    return {
        "seed": seed,
        "batch": batch,
        "final_loss": float(func(rec[None, :])[0]),
        "best_evaluated_loss": best,
        "wall_s": time.perf_counter() - t0,
    }


def summarise(values) -> dict:
    arr = np.asarray(values, dtype=float)
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        "min": float(arr.min()),
        "max": float(arr.max()),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny budget, for a smoke test")
    parser.add_argument("--overhead-generations", type=int, default=5)
    parser.add_argument("--generations", type=int, default=300, help="generations of 64 in (b)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.overhead_generations, args.generations, args.seeds = 2, 10, 2
    t_start = time.perf_counter()
    families = optimizer_families()

    # (a) overhead
    overhead = {}
    print(f"(a) ask+tell overhead per generation of {POPSIZE} (s), mean +- std over "
          f"{args.overhead_generations} generations after 1 warm-up; loss evaluation excluded")
    print(f"{'optimizer':<14}{'dim':>7}{'mean [s]':>11}{'std [s]':>10}{'warm-up [s]':>13}")
    for dim in (500, 20_000):
        for name, fam in families.items():
            res = measure_overhead(fam, dim, args.overhead_generations)
            overhead.setdefault(name, {})[str(dim)] = res
            print(f"{name:<14}{dim:>7}{res['mean_s']:>11.4f}{res['std_s']:>10.4f}{res['warmup_generation_s']:>13.4f}",
                  flush=True)

    # (b) quality
    dim = 1000
    optimum = np.random.RandomState(12345).uniform(-1.0, 1.0, size=dim)
    funcs = [Sphere(optimum), RotatedEllipsoid(optimum, condition=1e3, rotation_seed=2024)]
    quality_families = dict(families)
    quality_families["DiagonalCMA(default popsize)"] = ng.optimizers.registry["DiagonalCMA"]
    seeds = list(range(args.seeds))
    budget = args.generations * POPSIZE
    quality = {}
    print()
    print(f"(b) loss of recommend() after {args.generations} x {POPSIZE} = {budget} evaluations, d = {dim}, "
          f"seeds {seeds}: mean +- std [min, max]")
    for func in funcs:
        start_loss = float(func(np.zeros((1, dim)))[0])
        print(f"-- {func.name} (loss at the initial point 0: {start_loss:.4g})")
        quality[func.name] = {"initial_loss": start_loss, "optimizers": {}}
        for name, fam in quality_families.items():
            runs = [run_quality(fam, func, dim, budget, s) for s in seeds]
            final = summarise([r["final_loss"] for r in runs])
            best = summarise([r["best_evaluated_loss"] for r in runs])
            quality[func.name]["optimizers"][name] = {"runs": runs, "final_loss": final, "best_evaluated_loss": best}
            print(f"   {name:<30}{final['mean']:>11.4g} +- {final['std']:<9.3g}[{final['min']:.4g}, {final['max']:.4g}]"
                  f"   best evaluated {best['mean']:.4g}   ({np.mean([r['wall_s'] for r in runs]):.1f} s/run)",
                  flush=True)

    total = time.perf_counter() - t_start
    out = {
        "description": __doc__,
        "popsize": POPSIZE,
        "overhead": {"dims": [500, 20_000], "generations_timed": args.overhead_generations,
                     "warmup_generations": 1, "results": overhead},
        "quality": {
            "dim": dim,
            "generations": args.generations,
            "budget_evaluations": budget,
            "seeds": seeds,
            "optimum": "uniform(-1, 1) from RandomState(12345)",
            "ellipsoid": {"condition": 1e3, "rotation_seed": 2024},
            "results": quality,
        },
        "optimizer_configs": {name: repr(fam) for name, fam in quality_families.items()},
        "total_wall_s": total,
        "environment": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "nevergrad": ng.__version__,
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "quick": args.quick,
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2))
    print(f"\ntotal {total:.0f} s; wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
