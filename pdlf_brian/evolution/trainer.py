"""The ask/tell training loop, its run directory and its checkpoints.

A run directory holds:

* ``config.json``: the resolved configuration;
* ``log.jsonl``: one line per generation (generation, best, mean, std, heldout, env_steps, wall_time);
* ``best_genome.npy``: the recommendation with the best held-out score so far;
* ``checkpoint.pkl``: optimizer (with its random state), generation and the whole log, replaced
  atomically after every generation.

A run killed at any moment resumes from its checkpoint and continues to exactly the numbers of an
uninterrupted run: per-generation episodes are drawn from ``(seed, generation)`` alone, the optimizer's
random state travels in the checkpoint, and the log is rewritten from the checkpoint on resume.
"""
import json
import os
import pickle
import time

import numpy as np

from pdlf_brian.errors import ConfigError
from pdlf_brian.evolution.config import TrainConfig
from pdlf_brian.evolution.executors import make_executor
from pdlf_brian.evolution.optimizers import make_optimizer


def generation_seed(seed, generation, stream):
    """Seed of the episodes of one generation; stream 0 = training, 1 = held-out."""
    return int(np.random.SeedSequence([seed, generation, stream]).generate_state(1)[0])


def _atomic_write(path, data: bytes):
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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
        self.run_dir = os.path.abspath(run_dir)
        self.problem = problem
        self.callbacks = list(callbacks)
        self.paths = {name: os.path.join(self.run_dir, name)
                      for name in ("config.json", "log.jsonl", "checkpoint.pkl", "best_genome.npy")}

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
        os.makedirs(self.run_dir, exist_ok=True)
        checkpoint = self.paths["checkpoint.pkl"]
        if resume:
            if not os.path.exists(checkpoint):
                raise ConfigError(f"--resume {self.run_dir}: no checkpoint.pkl in this run directory")
            with open(self.paths["config.json"]) as fh:
                saved = json.load(fh)
            if saved != self.config.to_dict():
                raise ConfigError(f"--resume {self.run_dir}: the configuration differs from the run's "
                                  "config.json; resume with the saved configuration")
            with open(checkpoint, "rb") as fh:
                state = pickle.load(fh)
            self._write_log(state["log"])     # lines written after the checkpoint are recomputed
            return state
        if os.path.exists(checkpoint):
            raise ConfigError(f"run directory {self.run_dir} already holds a run; pass --resume to continue it "
                              "or choose another directory")
        with open(self.paths["config.json"], "w") as fh:
            json.dump(self.config.to_dict(), fh, indent=1)
        self._write_log([])
        return self._fresh_state()

    def _write_log(self, log):
        _atomic_write(self.paths["log.jsonl"], "".join(json.dumps(r) + "\n" for r in log).encode())

    def _checkpoint(self, state):
        _atomic_write(self.paths["checkpoint.pkl"], pickle.dumps(state))

    # ------------------------------------------------------------------------------------------
    def evaluate_population(self, genomes, seed, executor):
        shards = np.split(genomes, self.config.shards)
        results = executor.map(self.problem, shards, seed)
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
        heldout = None
        if c.eval_every and ((gen + 1) % c.eval_every == 0 or gen + 1 == c.generations):
            genome = np.asarray(opt.recommend().value)
            metrics = self.problem.heldout(genome, generation_seed(c.seed, gen, 1))
            heldout = float(metrics["score"])
            if heldout > state["best_heldout"]:
                state["best_heldout"], state["best_genome"] = heldout, genome
                _atomic_write(self.paths["best_genome.npy"], _npy_bytes(genome))
        state["env_steps"] += int(steps)
        state["wall_time"] += time.perf_counter() - start
        record = {
            "generation": gen,
            "best": float(fitness.max()),
            "mean": float(fitness.mean()),
            "std": float(fitness.std()),
            "heldout": heldout,
            "env_steps": state["env_steps"],
            "wall_time": round(state["wall_time"], 3),
        }
        state["log"].append(record)
        state["generation"] = gen + 1
        self._checkpoint(state)
        with open(self.paths["log.jsonl"], "a") as fh:
            fh.write(json.dumps(record) + "\n")
        return record


def _npy_bytes(array):
    import io

    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def load_run(run_dir):
    """``(config, log, best_genome or None, recommendation)`` of a run directory."""
    with open(os.path.join(run_dir, "config.json")) as fh:
        config = TrainConfig.from_dict(json.load(fh))
    with open(os.path.join(run_dir, "log.jsonl")) as fh:
        log = [json.loads(line) for line in fh if line.strip()]
    best = os.path.join(run_dir, "best_genome.npy")
    with open(os.path.join(run_dir, "checkpoint.pkl"), "rb") as fh:
        state = pickle.load(fh)
    return config, log, (np.load(best) if os.path.exists(best) else None), np.asarray(
        state["optimizer"].recommend().value)
