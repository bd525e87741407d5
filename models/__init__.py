"""The biology a user edits: neuron models and synapse/plasticity models as Brian2 equation strings.

Importable as ``pdlf_brian.models``. Each model is a small, declarative object built from strings;
the engine (``pdlf_brian.network``) and the NumPy reference (``pdlf_brian.reference``) read the same
objects, so an edit here changes both.
"""
from pdlf_brian.models.neurons import TERNARY_LIF
from pdlf_brian.models.synapses import PDLF_RULE, PDLF_RULE_WITH_DECAY, STATIC_SYNAPSE

__all__ = ["TERNARY_LIF", "PDLF_RULE", "PDLF_RULE_WITH_DECAY", "STATIC_SYNAPSE"]
