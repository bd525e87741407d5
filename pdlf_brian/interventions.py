"""Interventions: declarative changes to a network's dynamics, applied by the engine.

An intervention is a small frozen dataclass: hashable (networks are cached by it), JSON-friendly
(`to_dict` / `from_dict`, so runs can record it in their config and results) and validated against
the network it is applied to. Protocols pass a tuple of interventions to
`pdlf_brian.engine.make_network`; the Brian2 network builder (`pdlf_brian.network`) and the NumPy
reference (`pdlf_brian.reference`) both apply them, and the agreement tests keep the two equal.
Several interventions compose (lesion masks multiply, temporary windows add up).

* `StateReset`: zero the hidden state before chosen steps (the memory-in-weights test).
* `TemporaryLesion`: zero whole projections for a window of steps, then release them (spec 5.4).
* `NeuronLesion`: block a fraction of the hidden neurons from the start: they never spike and all
  their synapses are zero and frozen (spec 5.4).
* `SynapseLesion`: zero and freeze a fraction of one projection's synapses.

Lesion semantics, identical for both learners and both implementations
--------------------------------------------------------------------------
Step ``t`` computes its input from the weights left by step ``t-1`` and then (plastic learner) applies
the rule and the max-abs normalisation; ``Recording.weight_history[proj][t]`` is the weight after step
``t``. A `TemporaryLesion` with window ``start <= t < start + length`` zeroes its projections

* *before the input of step t*: the whole projection contributes nothing to that step's input
  (hidden current or readout), and
* *after the plasticity of step t*: the weight after step t is exactly zero (the rule's change of a
  window step is discarded; a zero projection normalises to zero).

So the recorded weights are exactly zero at steps ``start .. start+length-1`` and free from
``start+length`` on. Released, the plastic learner rebuilds from zero (the input of step
``start+length`` still sees the zero weights left by the window, and its rule update is the first
to count); the weight-trained learner has its genome weights again from step ``start+length`` on.

`NeuronLesion` and `SynapseLesion` are permanent: the chosen synapses are zero at every step and never
change (for the plastic learner, the rule's change is masked out *before* the normalisation, so the
max-abs scale sees the frozen zeros as zeros; for the weight-trained learner the genome's weights
there are replaced by zero). A blocked neuron's state variables (``v``, ``s``, ``h``) are multiplied
by zero after every neuron update, so it never spikes and its trace stays zero. The choice of
neurons or synapses depends only on ``(fraction, seed)`` and the network's shape, and is the same in
every copy of every individual, so that the two learners are lesioned identically.
"""
from dataclasses import asdict, dataclass, fields

import numpy as np

from pdlf_brian.errors import ConfigError


def _projections(shape):
    return [p for p, _, _ in shape.projections]


def _check_projection(kind, field, proj, shape):
    allowed = _projections(shape)
    if proj not in allowed:
        raise ConfigError(f"{kind} field {field!r}: unknown projection {proj!r} for this network; "
                          f"allowed values are {allowed}")


def _integer(kind, field, value, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{kind} field {field!r}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _fraction(kind, value):
    try:
        fraction = float(value)
    except (TypeError, ValueError):
        fraction = float("nan")
    if isinstance(value, (bool, np.bool_)) or not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"{kind} field 'fraction': expected a number in [0, 1], got {value!r}")
    return fraction


@dataclass(frozen=True)
class StateReset:
    """Zero the hidden neurons' state (membrane potential, spike, trace) before each of ``steps``.

    The recurrent input the zeroed spikes would send is zeroed too. The synaptic pass of the step
    still applies the previous step's plasticity with the activities from before the reset, so
    memory held in plastic weights survives while memory held in activity is erased.

    Parameters
    ----------
    steps : tuple of int
        Steps (>= 1) before whose neuron update the state is zeroed.
    """

    steps: tuple

    def __post_init__(self):
        steps = tuple(int(k) for k in np.atleast_1d(self.steps))
        if any(k < 1 for k in steps):
            raise ConfigError(f"StateReset field 'steps': steps must be >= 1, got {list(steps)}")
        object.__setattr__(self, "steps", tuple(sorted(set(steps))))

    def check(self, shape, n_steps):
        if n_steps is not None and max(self.steps) >= n_steps:
            raise ConfigError(f"StateReset field 'steps': step {max(self.steps)} is beyond the episode "
                              f"({n_steps} steps, allowed 1..{n_steps - 1})")


@dataclass(frozen=True)
class TemporaryLesion:
    """Hold whole projections at zero weight for ``length`` steps from step ``start``, then release them.

    During steps ``start .. start+length-1`` the projections send no input and their weights after
    each step are exactly zero (see the module docstring for the exact schedule). Afterwards the
    plastic learner rebuilds them with its rule from zero; the weight-trained learner gets its
    genome weights back.

    Parameters
    ----------
    projections : tuple of str
        Names from the network's shape: 'in', 'out' and, with recurrence, 'rec'.
    start : int
        First lesioned step (>= 0, before the end of the episode).
    length : int
        Number of lesioned steps (>= 1); a window running past the episode's end lasts to the end.
    """

    projections: tuple = ("in", "out")
    start: int = 500
    length: int = 50

    def __post_init__(self):
        projections = (self.projections,) if isinstance(self.projections, str) else tuple(self.projections)
        if not projections or not all(isinstance(p, str) for p in projections):
            raise ConfigError(f"TemporaryLesion field 'projections': expected a non-empty tuple of projection "
                              f"names such as ('in', 'rec', 'out'), got {self.projections!r}")
        object.__setattr__(self, "projections", tuple(dict.fromkeys(projections)))
        object.__setattr__(self, "start", _integer("TemporaryLesion", "start", self.start, 0))
        object.__setattr__(self, "length", _integer("TemporaryLesion", "length", self.length, 1))

    def check(self, shape, n_steps):
        for proj in self.projections:
            _check_projection("TemporaryLesion", "projections", proj, shape)
        if n_steps is not None and self.start >= n_steps:
            raise ConfigError(f"TemporaryLesion field 'start': step {self.start} is beyond the episode "
                              f"({n_steps} steps, allowed 0..{n_steps - 1})")

    @property
    def steps(self):
        """The lesioned steps, ``range(start, start + length)``."""
        return range(self.start, self.start + self.length)


@dataclass(frozen=True)
class NeuronLesion:
    """Block ``round(fraction * n_hidden)`` hidden neurons for the whole episode.

    A blocked neuron never spikes (its ``s``, ``h`` and ``v`` stay 0) and every synapse into or out of
    it (input, recurrent and output projections) is zero and frozen, for both learners. The neurons
    are drawn with ``np.random.default_rng(seed)`` and are the same in every copy and individual.

    Parameters
    ----------
    fraction : float
        In [0, 1].
    seed : int
    """

    fraction: float
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "fraction", _fraction("NeuronLesion", self.fraction))
        object.__setattr__(self, "seed", _integer("NeuronLesion", "seed", self.seed, 0))

    def check(self, shape, n_steps):
        pass

    def neurons(self, shape):
        """Sorted indices (within one copy) of the blocked hidden neurons."""
        n = int(round(self.fraction * shape.n_hidden))
        return np.sort(np.random.default_rng(self.seed).choice(shape.n_hidden, size=n, replace=False))


@dataclass(frozen=True)
class SynapseLesion:
    """Zero and freeze ``round(fraction * n_synapses)`` synapses of one projection.

    The synapses are drawn with ``np.random.default_rng(seed)`` among the projection's
    ``n_pre * n_post`` synapses of one copy and are the same in every copy and individual.

    Parameters
    ----------
    projection : str
        'in', 'out' or, with recurrence, 'rec'.
    fraction : float
        In [0, 1].
    seed : int
    """

    projection: str
    fraction: float
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.projection, str):
            raise ConfigError(f"SynapseLesion field 'projection': expected a projection name such as 'in', "
                              f"got {self.projection!r}")
        object.__setattr__(self, "fraction", _fraction("SynapseLesion", self.fraction))
        object.__setattr__(self, "seed", _integer("SynapseLesion", "seed", self.seed, 0))

    def check(self, shape, n_steps):
        _check_projection("SynapseLesion", "projection", self.projection, shape)

    def synapses(self, shape):
        """Sorted flat indices ``pre * n_post + post`` (within one copy) of the frozen synapses."""
        _, n_pre, n_post = next(p for p in shape.projections if p[0] == self.projection)
        n = int(round(self.fraction * n_pre * n_post))
        return np.sort(np.random.default_rng(self.seed).choice(n_pre * n_post, size=n, replace=False))


#: Intervention kinds by name, for `from_dict`.
KINDS = {"state_reset": StateReset, "temporary_lesion": TemporaryLesion, "neuron_lesion": NeuronLesion,
         "synapse_lesion": SynapseLesion}


def to_dict(intervention):
    """``{'kind': name, **fields}``: the JSON form written into configs and results."""
    kind = next(k for k, cls in KINDS.items() if isinstance(intervention, cls))
    return {"kind": kind, **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(intervention).items()}}


def from_dict(data):
    """Inverse of `to_dict`; a clear error for an unknown kind or field."""
    data = dict(data)
    kind = data.pop("kind", None)
    if kind not in KINDS:
        raise ConfigError(f"intervention field 'kind': unknown kind {kind!r}; allowed values are {list(KINDS)}")
    cls = KINDS[kind]
    allowed = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ConfigError(f"intervention {kind!r}: unknown field(s) {unknown}; allowed fields are {allowed}")
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
    except TypeError as exc:   # a required field is missing
        raise ConfigError(f"intervention {kind!r}: {exc}; fields are {allowed}") from None


def check_all(interventions, shape, n_steps=None):
    """Validate a sequence of interventions for a network; returns them as a tuple."""
    interventions = tuple(interventions or ())
    for item in interventions:
        if not isinstance(item, tuple(KINDS.values())):
            raise ConfigError(f"interventions: expected instances of {[c.__name__ for c in KINDS.values()]}, "
                              f"got {item!r}")
        item.check(shape, n_steps)
    return interventions


def reset_steps(interventions):
    """Sorted steps before which some `StateReset` zeroes the hidden state."""
    return tuple(sorted({k for item in interventions if isinstance(item, StateReset) for k in item.steps}))


def blocked_neurons(interventions, shape):
    """Sorted hidden-neuron indices (within one copy) blocked by some `NeuronLesion`."""
    chosen = [item.neurons(shape) for item in interventions if isinstance(item, NeuronLesion)]
    return np.unique(np.concatenate(chosen)).astype(int) if chosen else np.zeros(0, int)


def frozen_synapses(interventions, shape):
    """``{projection: bool array (n_pre, n_post)}`` of synapses frozen at zero, for projections with any.

    Combines every `SynapseLesion` with the synapses into and out of the neurons of every `NeuronLesion`.
    """
    blocked = blocked_neurons(interventions, shape)
    masks = {}
    for proj, n_pre, n_post in shape.projections:
        frozen = np.zeros((n_pre, n_post), bool)
        if proj in ("rec", "out"):
            frozen[blocked, :] = True
        if proj in ("in", "rec"):
            frozen[:, blocked] = True
        for item in interventions:
            if isinstance(item, SynapseLesion) and item.projection == proj:
                frozen.flat[item.synapses(shape)] = True
        if frozen.any():
            masks[proj] = frozen
    return masks


def lesion_windows(interventions):
    """``{projection: sorted tuple of steps}`` at which some `TemporaryLesion` holds it at zero."""
    steps = {}
    for item in interventions:
        if isinstance(item, TemporaryLesion):
            for proj in item.projections:
                steps.setdefault(proj, set()).update(item.steps)
    return {proj: tuple(sorted(s)) for proj, s in steps.items()}
