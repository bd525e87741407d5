"""Synapse models: the evolved plasticity rule and the static synapse of the weight-trained baseline.

A plasticity rule is ``dw = rate * (sum of named terms)``, followed by max-abs normalisation of each
projection of each network copy (spec section 3). Terms are expressions in

* ``x``: presynaptic activity (the input for the input projection, the hidden trace ``h`` otherwise),
* ``y``: postsynaptic activity (the hidden trace ``h``, or ``tanh(a)`` for the readout),
* ``w``: the synapse's current (normalised) weight,
* any parameter declared in ``parameters``: one evolved value per synapse.

To add a term, declare its parameter and add the term, e.g. a weight-dependent decay::

    parameters = PDLF_RULE.parameters + "E : 1 (constant)"
    terms = dict(PDLF_RULE.terms, decay="-E*w")

The engine reads the parameters from the declarations and sizes the genome from them; nothing else
needs to change. A parameter used only by switched-off terms is not part of the genome. Register a
rule to train it by name (``pdlf train working_memory --set rule=pdlf_decay``)::

    MY_RULE = PlasticityRule(...).set_name("mine", register=True)
"""
from pdlf_brian.rule import PlasticityRule, StaticSynapse, everything, only, without

_PDLF_PARAMETERS = """
eta : 1 (constant)   # learning rate of the synapse
A : 1 (constant)     # SCP: synaptic cooperation, pre x post
B : 1 (constant)     # PDP: presynaptic-dependent
C : 1 (constant)     # postsynaptic term
D : 1 (constant)     # drift
"""

_PDLF_ABLATIONS = {
    "full": everything(),
    "no-SCP": without("SCP"),
    "no-PDP": without("PDP"),
    "SCP-only": only("SCP", "drift"),
    "PDP-only": only("PDP", "drift"),
}

PDLF_RULE = PlasticityRule(
    name="pdlf",
    parameters=_PDLF_PARAMETERS,
    rate="eta",
    terms={
        "SCP": "A*x*y",
        "PDP": "B*x",
        "post": "C*y",
        "drift": "D",
    },
    ablations=_PDLF_ABLATIONS,
).set_name("pdlf", register=True)

#: Example of a user-extended rule: the PDLF rule plus a weight-dependent decay ``-E*w``.
PDLF_RULE_WITH_DECAY = PlasticityRule(
    name="pdlf_decay",
    parameters=_PDLF_PARAMETERS + "E : 1 (constant)   # weight-dependent decay\n",
    rate="eta",
    terms=dict(PDLF_RULE.terms, decay="-E*w"),
    ablations=_PDLF_ABLATIONS,
).set_name("pdlf_decay", register=True)

#: The weight-trained baseline: weights are the genome and stay fixed during an episode.
STATIC_SYNAPSE = StaticSynapse(name="static")
