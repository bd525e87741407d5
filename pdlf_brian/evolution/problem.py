"""What the trainer evaluates: a `Problem` turns a population of genomes into fitnesses.

A problem is a small picklable description; it builds its network lazily, once per process, so
executors can ship it to workers (which each keep their own compiled project) and send genomes only.
"""
import hashlib
import os
import tempfile
from dataclasses import dataclass

import numpy as np

from pdlf_brian import devices

_NETWORKS = {}


def cached_network(key, build, standalone=False):
    """This process's network for ``key``, built with ``build()`` on first use.

    Brian2 holds one standalone project per process, so building a standalone network drops any
    other standalone network from the cache (runtime and NumPy networks are kept), and a cached
    standalone network whose project was replaced by one built elsewhere is built again.
    """
    if key in _NETWORKS and _NETWORKS[key][1] and _replaced(_NETWORKS[key][0]):
        del _NETWORKS[key]
    if key not in _NETWORKS:
        if standalone:
            for old in [k for k, (_, was_standalone) in _NETWORKS.items() if was_standalone]:
                del _NETWORKS[old]
        _NETWORKS[key] = (build(), standalone)
    return _NETWORKS[key][0]


def _replaced(net):
    """True if another standalone project was started in this process after ``net``'s (it cannot run)."""
    owner = getattr(net, "_owner", None)
    return owner is not None and owner is not devices.standalone_owner()


@dataclass
class Evaluation:
    """Fitness to maximise per individual, and the environment steps the evaluation cost."""

    fitness: np.ndarray
    env_steps: int
    #: Protocol data gathered during the evaluation (e.g. observation statistics), for `Problem.update`.
    extras: object = None


class Problem:
    """Base class of protocol problems: what a genome means and how it is scored.

    Subclasses set ``config`` (a `TrainConfig`), ``shape`` (a `NetworkShape`), ``synapse`` (resolved
    once, with `pdlf_brian.rule.resolve_synapse`), ``genome_size`` and ``key`` (a hashable description
    of the training network), and define `evaluate`, `heldout` and `final_report`. Networks are
    built with `network` (training) and `evaluation_network` (held-out runs), both cached per process.
    """

    #: Hashable description of the network this problem needs (same key -> same network).
    key = None
    #: Episode length compiled into standalone projects (None: given per run).
    n_steps = None
    #: The device of ``device="auto"`` (the fastest measured for the protocol's usual sizes).
    default_device = "numpy"
    #: Keys of `heldout`'s metrics also written to the log (as ``heldout_<key>``) at each evaluation.
    logged_metrics = ()

    @property
    def standalone(self):
        return devices.device_info(self.config.device).standalone

    def make(self, n_individuals, batch, *, device=None, record=("output",), interventions=(),
             record_weights=False, n_steps=None, **device_options):
        """A network for this problem through `pdlf_brian.engine.make_network` (``device_options``:
        e.g. ``environment=`` for cpp_standalone)."""
        from pdlf_brian.engine import make_network

        device = device or self.config.device
        options = dict(device_options)
        if devices.device_info(device).standalone:
            root = os.environ.get("PDLF_BRIAN_CACHE", os.path.join(tempfile.gettempdir(), "pdlf_brian"))
            digest = hashlib.sha1(repr(self.key).encode()).hexdigest()[:8]
            name = f"{self.config.protocol}_{self.config.learner}_P{n_individuals}_B{batch}_{digest}_{os.getpid()}"
            options["directory"] = os.path.join(root, "projects", name)
        return make_network(self.shape, self.synapse, n_individuals=n_individuals, batch=batch, device=device,
                            n_steps=n_steps or self.n_steps, record=record, record_weights=record_weights,
                            interventions=interventions, **options)

    def build(self, n_individuals):
        """The training network for ``n_individuals`` (override for protocol-specific batches)."""
        return self.make(n_individuals, self.batch)

    def network(self, n_individuals):
        """This process's training network for ``n_individuals`` (built on first use, then reused)."""
        return cached_network((self.key, n_individuals), lambda: self.build(n_individuals), self.standalone)

    def evaluation_network(self, n_individuals, batch, record=("output",), interventions=()):
        """A cached network for held-out runs, on `pdlf_brian.devices.evaluation_device`."""
        device = devices.evaluation_device(self.config.device)
        key = ("eval", self.key, device, n_individuals, batch, tuple(record), tuple(interventions))
        return cached_network(key, lambda: self.make(n_individuals, batch, device=device, record=record,
                                                     interventions=interventions))

    def evaluate(self, genomes, seed):
        """`Evaluation` of ``genomes`` (P, genome_size) on the episodes drawn from ``seed``."""
        raise NotImplementedError

    def heldout(self, genome, seed):
        """Dict of held-out metrics for one genome (must contain 'score')."""
        raise NotImplementedError

    def final_report(self, genome, seed):
        """Dict written to a run's ``eval.json``: the held-out metrics of the chosen genome.

        Protocols extend it (working memory adds the state-reset test); the CLI and the grid
        runners both call this one method.
        """
        return {"final": self.heldout(genome, seed)}

    def episode_recording(self, genome, seed):
        """What happens inside the network on held-out episodes of one genome (for `pdlf report`).

        Returns
        -------
        dict
            ``spikes`` and ``trace`` (T, B, n_hidden) of B copies; ``weights`` ``{projection: (B,
            n_pre, n_post)}`` at the end; ``stimuli`` (B str: each copy's stimulus or task value);
            ``labels`` (B str: the classes the embedding colours and separates) and ``label_name``;
            ``groups`` (B ints: the cross-validation groups of the separability score, so that it
            is tested on episodes its readout never saw); ``phases`` (name to slice of steps, or None); ``states_from`` (first step
            whose hidden states the embedding uses); ``step_seconds`` (or None).
        """
        raise NotImplementedError(f"{type(self).__name__} does not record episodes for the report")

    def update(self, evaluations):
        """Called once per generation with every shard's `Evaluation`, in shard order (e.g. to merge
        observation statistics gathered by the shards). The default does nothing."""

    def state(self):
        """Protocol state that must survive a resume (e.g. observation statistics); None if none.

        The trainer keeps it in the checkpoint and writes it to ``problem_state.json`` after every
        generation; evaluation of a run directory loads it from there."""
        return None

    def load_state(self, state):
        """Restore what `state` returned."""
