"""The ask/tell training loop, its run directory and its checkpoints.

The run directory's format is described in `pdlf_brian.rundir`. The checkpoint holds the optimizer
(its state with a pruned archive, and its random state), the generation, the whole log and the
problem's own state (e.g. observation statistics), replaced atomically after every generation.

A run killed at any moment resumes from its checkpoint and continues to exactly the numbers of an
uninterrupted run: per-generation episodes are drawn from ``(seed, generation)`` alone, the optimizer's
random state travels in the checkpoint, and the log is rewritten from the checkpoint on resume.
"""
import json
import os
import pickle
import time

import numpy as np

from pdlf_brian import rundir as rd
from pdlf_brian.errors import ConfigError
from pdlf_brian.evolution.config import TrainConfig
from pdlf_brian.evolution.executors import make_executor
from pdlf_brian.evolution.optimizers import make_optimizer


def generation_seed(seed, generation, stream):
    """Seed of the episodes of one generation; stream 0 = training, 1 = held-out."""
    return int(np.random.SeedSequence([seed, generation, stream]).generate_state(1)[0])


class Trainer:
    """Evolve genomes for ``problem`` with the optimizer named in ``config``.

    Parameters
    ----------
    config : TrainConfig
    run_dir : path
        Created if missing. An existing run directory is only continued with ``resume=True``.
    problem : Problem
        What a genome means and how it is scored (see `pdlf_brian.protocols`).
    callbacks : list of callables, optional
        Each is called as ``callback(trainer, record)`` after every generation.
    """

    def __init__(self, config: TrainConfig, run_dir, problem, callbacks=()):
        self.config = config.validate()
        self.dir = rd.RunDir(run_dir)
        self.run_dir = self.dir.path
        self.problem = problem
        self.callbacks = list(callbacks)

    # ------------------------------------------------------------------------------------------
    def _fresh_state(self):
        c = self.config
        return {
            "generation": 0,
            "optimizer": make_optimizer(c.optimizer, self.problem.genome_size, c.population,
                                        c.generations, c.seed, c.optimizer_options),
            "log": [],
            "env_steps": 0,
            "wall_time": 0.0,
            "best_heldout": -np.inf,
            "best_genome": None,
        }

    def _start(self, resume):
        d = self.dir
        if resume:
            d.require(rd.CONFIG, rd.CHECKPOINT, action="resume")
            saved = d.config(self.config.protocol, action="resume").to_dict()
            mine = self.config.to_dict()
            from pdlf_brian.evolution.config import RESUME_KEYS

            differ = sorted(k for k in mine if mine[k] != saved[k] and k not in RESUME_KEYS)
            if differ:
                raise ConfigError(f"--resume {self.run_dir}: the configuration differs from the run's "
                                  f"config.json in {differ}; resume with the saved configuration")
            d.write_json(rd.CONFIG, mine)
            with open(d / rd.CHECKPOINT, "rb") as fh:
                state = pickle.load(fh)
            if state.get("problem_state") is not None:
                self.problem.load_state(state["problem_state"])
            self._write_log(state["log"])     # lines written after the checkpoint are recomputed
            return state
        if d.has(rd.CHECKPOINT):
            raise ConfigError(f"run directory {self.run_dir} already holds a run; pass --resume to continue it "
                              "or choose another directory")
        os.makedirs(self.run_dir, exist_ok=True)
        d.write_json(rd.CONFIG, self.config.to_dict())
        self._write_log([])
        return self._fresh_state()

    def _write_log(self, log):
        rd.atomic_write(self.dir / rd.LOG, "".join(json.dumps(r) + "\n" for r in log).encode())

    def _checkpoint(self, state):
        state["problem_state"] = self.problem.state()
        if state["problem_state"] is not None:
            self.dir.write_json(rd.PROBLEM_STATE, state["problem_state"])
        rd.atomic_write(self.dir / rd.CHECKPOINT, pickle.dumps(state))

    # ------------------------------------------------------------------------------------------
    def evaluate_population(self, genomes, seed, executor):
        shards = np.split(genomes, self.config.shards)
        results = executor.map(self.problem, shards, seed)
        self.problem.update(results)
        return np.concatenate([r.fitness for r in results]), sum(r.env_steps for r in results)

    def run(self, resume=False):
        """Train until ``config.generations``; returns the final state's log."""
        c = self.config
        state = self._start(resume)
        executor = make_executor(c)
        bar = None
        if c.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=c.generations, initial=state["generation"], desc=f"{c.protocol}/{c.learner}",
                       unit="gen", dynamic_ncols=True)
        try:
            while state["generation"] < c.generations:
                record = self._generation(state, executor)
                if bar is not None:
                    bar.set_postfix(best=f"{record['best']:.4f}",
                                    heldout="-" if record["heldout"] is None else f"{record['heldout']:.4f}")
                    bar.update(1)
                for callback in self.callbacks:
                    callback(self, record)
        finally:
            executor.close()
            if bar is not None:
                bar.close()
        return state["log"]

    def _generation(self, state, executor):
        c, opt = self.config, state["optimizer"]
        gen = state["generation"]
        start = time.perf_counter()
        candidates = [opt.ask() for _ in range(c.population)]
        genomes = np.stack([cand.value for cand in candidates])
        fitness, steps = self.evaluate_population(genomes, generation_seed(c.seed, gen, 0), executor)
        if not np.all(np.isfinite(fitness)):
            raise FloatingPointError(f"generation {gen}: non-finite fitness for individuals "
                                     f"{np.flatnonzero(~np.isfinite(fitness)).tolist()}")
        for cand, f in zip(candidates, fitness):
            opt.tell(cand, -float(f))          # Nevergrad minimises
        heldout, extras = None, {}
        last = gen + 1 == c.generations
        genome = np.asarray(opt.recommend().value)
        if c.eval_every and ((gen + 1) % c.eval_every == 0 or last):
            metrics = self.problem.heldout(genome, generation_seed(c.seed, gen, 1))
            heldout = float(metrics["score"])
            extras = {f"heldout_{k}": metrics.get(k) for k in self.problem.logged_metrics}
            if heldout > state["best_heldout"]:
                state["best_heldout"], state["best_genome"] = heldout, genome
                problem_state = self.problem.state()
                if problem_state is not None:       # the state this genome was scored with
                    self.dir.write_json(rd.BEST_STATE, problem_state)
                self.dir.write_genome(rd.BEST, genome)
        if c.snapshot_every and ((gen + 1) % c.snapshot_every == 0 or last):
            self.dir.write_snapshot(gen + 1, genome)
        self.dir.write_genome(rd.RECOMMENDATION, genome)
        state["env_steps"] += int(steps)
        state["wall_time"] += time.perf_counter() - start
        record = {
            "generation": gen,
            "best": float(fitness.max()),
            "mean": float(fitness.mean()),
            "std": float(fitness.std()),
            "heldout": heldout,
            **extras,
            "env_steps": state["env_steps"],
            "wall_time": round(state["wall_time"], 3),
        }
        state["log"].append(record)
        state["generation"] = gen + 1
        self._checkpoint(state)
        with open(self.dir / rd.LOG, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        return record


def load_run(run_dir, protocol=None):
    """``(config, log, best_genome or None, recommendation)`` of a trained run directory."""
    d = rd.RunDir(run_dir)
    d.require(*rd.TRAINED, action="evaluate")
    return d.config(protocol), d.log(), d.best_genome(), d.recommendation()
