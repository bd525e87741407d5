"""What the trainer evaluates: a `Problem` turns a population of genomes into fitnesses.

A problem is a small picklable description; it builds its network lazily, once per process, so
executors can ship it to workers (which each keep their own compiled project) and send genomes only.
"""
from dataclasses import dataclass

import numpy as np

_NETWORKS = {}


@dataclass
class Evaluation:
    """Fitness to maximise per individual, and the environment steps the evaluation cost."""

    fitness: np.ndarray
    env_steps: int


class Problem:
    """Base class of protocol problems. Subclasses define `genome_size`, `build` and `evaluate`."""

    #: Hashable description of the network this problem needs (same key -> same network).
    key = None

    def build(self, n_individuals):
        raise NotImplementedError

    def network(self, n_individuals):
        """This process's network for ``n_individuals`` (built on first use, then reused)."""
        key = (self.key, n_individuals)
        if key not in _NETWORKS:
            if len(_NETWORKS) and self.standalone:
                _NETWORKS.clear()  # Brian2 keeps one standalone project per process
            _NETWORKS[key] = self.build(n_individuals)
        return _NETWORKS[key]

    standalone = False

    def evaluate(self, genomes, seed):
        """`Evaluation` of ``genomes`` (P, genome_size) on the episodes drawn from ``seed``."""
        raise NotImplementedError

    def heldout(self, genome, seed):
        """Dict of held-out metrics for one genome (must contain 'score')."""
        raise NotImplementedError
