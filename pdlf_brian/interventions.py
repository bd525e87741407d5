"""Interventions: declarative changes to a network's dynamics, applied by the engine.

An intervention is a small frozen dataclass: hashable (networks are cached by it), JSON-friendly
(`to_dict` / `from_dict`, so runs can record it in their config and results) and validated against
the network it is applied to. Protocols pass a tuple of interventions to
`pdlf_brian.engine.make_network`; the Brian2 network builder (`pdlf_brian.network`) and the NumPy
reference (`pdlf_brian.reference`) both apply them, and the agreement tests keep the two equal.

* `StateReset`: zero the hidden state before chosen steps (the memory-in-weights test).
"""
from dataclasses import asdict, dataclass, fields

import numpy as np

from pdlf_brian.errors import ConfigError


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


#: Intervention kinds by name, for `from_dict`.
KINDS = {"state_reset": StateReset}


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
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


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
