"""The Brian2 population network agrees step by step with the independent NumPy implementation.

Identical spikes; outputs, traces, membrane potentials and weights within a relative error of 1e-9
(float64) over 200+ steps, on random genomes and random inputs.
"""
import numpy as np
import pytest

from pdlf_brian.layout import NetworkShape
from pdlf_brian.models import PDLF_RULE, PDLF_RULE_WITH_DECAY, TERNARY_LIF
from pdlf_brian.network import PopulationNetwork
from pdlf_brian.reference import ReferenceNetwork

T = 210
RECORD = ("output", "spikes", "trace", "voltage")
RTOL = 1e-9


def _inputs_and_genomes(net, rng, genome_scale=0.5):
    genomes = rng.normal(0.0, genome_scale, (net.n_individuals, net.genome_size))
    inputs = rng.normal(0.0, 1.0, (T, net.n_individuals, net.batch, net.shape.n_in))
    return genomes, inputs


def _close(actual, expected, what):
    scale = max(np.abs(expected).max(), 1e-12)
    err = np.abs(actual - expected).max() / scale
    assert err < RTOL, f"{what}: relative error {err:.3g} >= {RTOL}"


def assert_agrees(net, rng):
    genomes, inputs = _inputs_and_genomes(net, rng)
    got = net.run(genomes, inputs)
    ref = ReferenceNetwork(net.shape, net.synapse, TERNARY_LIF)
    want = ref.run(genomes, inputs, batch=net.batch, record=RECORD, record_weights=True)
    spikes = got.spikes != 0
    # the test is only meaningful if the network is neither silent nor saturated
    assert 0.02 < spikes.mean() < 0.98, f"degenerate activity: spike fraction {spikes.mean():.3f}"
    np.testing.assert_array_equal(got.spikes, want.spikes, err_msg="spikes differ")
    for name in ("output", "trace", "voltage"):
        _close(getattr(got, name), getattr(want, name), name)
    for proj in want.weights:
        _close(got.weights[proj], want.weights[proj], f"final weights {proj}")
        _close(got.weight_history[proj], want.weight_history[proj], f"weights over time {proj}")
    if net.plastic:
        assert np.abs(want.weights["in"]).max() > 0.5, "plasticity did not build up weights"
    return got


# Each device gets the full rule with and without recurrence, every named ablation, a user-added
# term and the weight-trained learner; recurrence alternates over the other cases.
CASES = [
    ("full", PDLF_RULE, False, "plastic"),
    ("full-recurrent", PDLF_RULE, True, "plastic"),
    ("no-SCP", PDLF_RULE, True, "plastic"),
    ("no-PDP", PDLF_RULE, False, "plastic"),
    ("SCP-only", PDLF_RULE, True, "plastic"),
    ("PDP-only", PDLF_RULE, False, "plastic"),
    ("user-term-decay", PDLF_RULE_WITH_DECAY, True, "plastic"),
    ("weights-recurrent", PDLF_RULE, True, "weights"),
]


def _ablation(case):
    return "full" if case.startswith(("full", "user", "weights")) else case


@pytest.mark.runtime
@pytest.mark.parametrize("case,rule,recurrent,learner", CASES, ids=[c[0] for c in CASES])
def test_runtime_agrees_with_numpy(case, rule, recurrent, learner, rng):
    net = PopulationNetwork(NetworkShape(4, 6, 2, recurrent=recurrent), 3, batch=2, learner=learner,
                            rule=rule, ablation=_ablation(case), device="runtime", record=RECORD,
                            record_weights=True)
    assert_agrees(net, rng)


# Every cpp_standalone case recompiles part of the project (20-40 s each): the cases beyond the
# full rule and the baseline are marked slow (run them with `pytest -m slow`).
_CPP_DEFAULT = ("full", "full-recurrent", "weights-recurrent")
CPP_CASES = [pytest.param(*c, id=c[0], marks=() if c[0] in _CPP_DEFAULT else pytest.mark.slow) for c in CASES]


@pytest.mark.cpp_standalone
@pytest.mark.parametrize("case,rule,recurrent,learner", CPP_CASES)
def test_cpp_standalone_agrees_with_numpy(case, rule, recurrent, learner, rng, cpp_directory):
    net = PopulationNetwork(NetworkShape(4, 6, 2, recurrent=recurrent), 3, batch=2, learner=learner,
                            rule=rule, ablation=_ablation(case), device="cpp_standalone", n_steps=T,
                            record=RECORD, record_weights=True, directory=cpp_directory)
    first = assert_agrees(net, rng)
    # re-running the compiled project with new genomes and inputs gives new, still correct, results
    second = assert_agrees(net, rng)
    assert not np.allclose(first.output, second.output)


@pytest.mark.runtime
def test_user_term_changes_the_genome_and_the_dynamics(rng):
    """The decay term adds a parameter block per projection and is really applied."""
    shape = NetworkShape(4, 6, 2)
    base = PopulationNetwork(shape, 2, rule=PDLF_RULE, device="runtime", record=RECORD)
    decay = PopulationNetwork(shape, 2, rule=PDLF_RULE_WITH_DECAY, device="runtime", record=RECORD)
    assert decay.genome_size == base.genome_size * 6 // 5
    genomes, inputs = _inputs_and_genomes(decay, rng)
    with_e = decay.run(genomes, inputs).output
    genomes_no_e = genomes.copy()
    for proj, var, start, stop, _ in decay.layout.blocks:
        if var == "E":
            genomes_no_e[:, start:stop] = 0.0
    without_e = decay.run(genomes_no_e, inputs).output
    assert not np.allclose(with_e, without_e)
    # with E = 0 the extended rule is the plain rule
    plain = np.delete(genomes_no_e, [i for p, v, a, b, _ in decay.layout.blocks if v == "E"
                                     for i in range(a, b)], axis=1)
    np.testing.assert_allclose(base.run(plain, inputs).output, without_e, rtol=1e-12, atol=1e-12)
