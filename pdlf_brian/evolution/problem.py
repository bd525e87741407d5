"""What the trainer evaluates: a `Problem` turns a population of genomes into fitnesses.

A problem is a small picklable description; it builds its network lazily, once per process, so
executors can ship it to workers (which each keep their own compiled project) and send genomes only.
"""
from dataclasses import dataclass

import numpy as np

_NETWORKS = {}


def cached_network(key, build, standalone=False):
    """This process's network for ``key``, built with ``build()`` on first use.

    Brian2 holds one standalone project per process, so building a standalone network drops any
    other standalone network from the cache (runtime and NumPy networks are kept).
    """
    if key not in _NETWORKS:
        if standalone:
            for old in [k for k, (_, was_standalone) in _NETWORKS.items() if was_standalone]:
                del _NETWORKS[old]
        _NETWORKS[key] = (build(), standalone)
    return _NETWORKS[key][0]


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
        return cached_network((self.key, n_individuals), lambda: self.build(n_individuals), self.standalone)

    standalone = False

    def evaluate(self, genomes, seed):
        """`Evaluation` of ``genomes`` (P, genome_size) on the episodes drawn from ``seed``."""
        raise NotImplementedError

    def heldout(self, genome, seed):
        """Dict of held-out metrics for one genome (must contain 'score')."""
        raise NotImplementedError
