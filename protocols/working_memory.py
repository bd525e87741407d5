"""Working memory: the delayed copy task (spec 5.1, paper Fig. 2) as a training problem.

Run it from a shell::

    pdlf train working_memory --set task.length=8 --set task.delay=8 --set learner=plastic

Every individual of a generation sees the same ``batch`` sequences (common random numbers); each
sequence runs in its own network copy, so plastic weights are per sequence. The training fitness is
``task.fitness``: by default `working_memory_task.fitness_sigmoid`, ``-mean((sigmoid(a) - bit)^2)``
over the recall steps (the clipped score of earlier versions, ``'clip'``, let the population sit on
silent readouts; issue 8). The reported metric is recall accuracy (chance 0.5, a silent output counts
as wrong) on fresh held-out sequences, beside the majority-bit level and the fraction of silent
recall outputs.
"""
from dataclasses import dataclass

import numpy as np

from pdlf_brian.errors import ConfigError
from pdlf_brian.evolution.config import check_positive_ints, known_keys
from pdlf_brian.evolution.problem import Evaluation, Problem
from pdlf_brian.interventions import StateReset
from pdlf_brian.layout import GenomeLayout, NetworkShape
from pdlf_brian.protocols.working_memory_task import (
    FITNESSES, CopyTask, accuracy, accuracy_by_position, majority_baseline, population_inputs, rate_by_phase,
    recall_output,
)
from pdlf_brian.rule import resolve_synapse


@dataclass(frozen=True)
class WorkingMemorySettings:
    """The ``task`` section of a working-memory config."""

    length: int = 4             # L, bits per sequence
    delay: int = 0              # Lat, steps between presentation and recall
    batch: int = 32             # sequences per individual per generation
    n_hidden: int = 64
    recurrent: str = "auto"     # 'auto': recurrent for the weights learner only; or true/false
    heldout_sequences: int = 256
    fitness: str = "sigmoid"    # training fitness: 'sigmoid' or 'clip' (see working_memory_task.FITNESSES)
    rate_penalty: float = 0.0   # subtracted from the fitness per unit of hidden spike fraction (all steps)

    @classmethod
    def from_dict(cls, data):
        settings = cls(**known_keys(cls, data, "config section 'task'"))
        check_positive_ints(settings, ("length", "batch", "n_hidden", "heldout_sequences"))
        if settings.fitness not in FITNESSES:
            raise ConfigError(f"config field 'task.fitness': unknown fitness {settings.fitness!r}; "
                              f"allowed values are {list(FITNESSES)}")
        if isinstance(settings.rate_penalty, bool) or not isinstance(settings.rate_penalty, (int, float)) \
                or not settings.rate_penalty >= 0:
            raise ConfigError(f"config field 'task.rate_penalty': expected a number >= 0, got {settings.rate_penalty!r}")
        if settings.recurrent not in ("auto", True, False):
            raise ConfigError(f"config field 'task.recurrent': expected 'auto', true or false, got {settings.recurrent!r}")
        return settings


class WorkingMemoryProblem(Problem):
    """Delayed copy task for one learner; see the module docstring."""

    logged_metrics = ("silent_fraction", "majority_baseline")
    #: the NumPy reference is the fastest device for these small networks (benchmarks/wm_generation.py)
    default_device = "numpy"

    def __init__(self, config):
        self.config = config
        self.settings = WorkingMemorySettings.from_dict(config.task)
        s = self.settings
        self.task = CopyTask(s.length, s.delay)
        recurrent = (config.learner == "weights") if s.recurrent == "auto" else bool(s.recurrent)
        self.shape = NetworkShape(self.task.n_inputs, s.n_hidden, 1, recurrent=recurrent)
        self.synapse = resolve_synapse(config.learner, config.rule, config.ablation)
        self.genome_size = GenomeLayout(self.shape, self.synapse).size
        self.batch = s.batch
        self.n_steps = self.task.n_steps
        self.key = repr((config.device, self.shape, self.synapse, self.task, s.batch, s.rate_penalty > 0))

    def build(self, n_individuals):
        record = ("output", "spikes") if self.settings.rate_penalty else ("output",)
        return self.make(n_individuals, self.batch, record=record)

    # ------------------------------------------------------------------------------------------
    def evaluate(self, genomes, seed):
        trials = self.task.sample(np.random.default_rng(seed), self.settings.batch)
        net = self.network(len(genomes))
        rec = net.run(genomes, population_inputs(trials, len(genomes)), final_weights=False)
        score = FITNESSES[self.settings.fitness](self.task, trials, rec.output)
        if self.settings.rate_penalty:
            score = score - self.settings.rate_penalty * spike_fraction(rec.spikes)
        return Evaluation(score, len(genomes) * trials.inputs.shape[0]
                          * self.settings.batch)

    def heldout(self, genome, seed, reset=False, n_sequences=None, interventions=()):
        """Accuracy of one genome on fresh sequences, run as one population of identical individuals.

        With ``reset=True`` the hidden state is zeroed after the presentation (before step L).
        ``interventions`` (e.g. lesions from `pdlf_brian.interventions`) apply to the held-out run.
        """
        n = n_sequences or self.settings.heldout_sequences
        trials = self.task.sample(np.random.default_rng(seed), n)
        interventions = tuple(interventions) + ((StateReset((self.task.length,)),) if reset else ())
        net = self.evaluation_network(1, n, record=("output", "spikes"), interventions=interventions)
        rec = net.run(np.asarray(genome)[None, :], trials.inputs[:, None], final_weights=False)
        acc = float(accuracy(self.task, trials, rec.output)[0])
        rates = rate_by_phase(self.task, rec.spikes)
        return {
            "score": acc,
            "accuracy": acc,
            "accuracy_by_position": accuracy_by_position(self.task, trials, rec.output)[0].tolist(),
            "majority_baseline": float(majority_baseline(trials)),
            "silent_fraction": float(np.mean(recall_output(self.task, rec.output) == 0)),
            "rate_hz_by_phase": {k: _finite_or_none(np.asarray(v).ravel()[0]) for k, v in rates.items()},
        }

    def episode_recording(self, genome, seed, n_sequences=64):
        """Held-out sequences with spikes, traces and final weights; the embedding's classes are the first bit."""
        trials = self.task.sample(np.random.default_rng(seed), n_sequences)
        net = self.evaluation_network(1, n_sequences, record=("output", "spikes", "trace"))
        rec = net.run(np.asarray(genome)[None, :], trials.inputs[:, None], final_weights=True)
        return {"spikes": rec.spikes[:, 0], "trace": rec.trace[:, 0],
                "weights": {proj: w[0] for proj, w in rec.weights.items()},
                "stimuli": ["".join(map(str, bits)) for bits in trials.bits],
                "labels": [f"first bit {bits[0]}" for bits in trials.bits], "label_name": "first bit",
                "groups": list(range(n_sequences)),
                "phases": self.task.windows(), "states_from": self.task.length, "step_seconds": None}

    def final_report(self, genome, seed):
        """Held-out metrics of ``genome`` and the same after a state reset (memory in weights?)."""
        return {"final": self.heldout(genome, seed), "after_reset": self.heldout(genome, seed, reset=True)}


def spike_fraction(spikes):
    """Fraction of (step, sequence, hidden unit) entries that spike (+1 or -1), per individual.

    ``spikes`` has shape (T, P, B, H); returns shape (P,). This is the quantity ``task.rate_penalty``
    weighs: a fair experimenter's lever against a saturated baseline (issue 8), applied to either learner.
    """
    spikes = np.asarray(spikes)
    return np.mean(spikes != 0, axis=(0, 2, 3))


def _finite_or_none(value):
    value = float(value)
    return value if np.isfinite(value) else None
