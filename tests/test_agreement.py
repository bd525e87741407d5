"""The Brian2 population network agrees step by step with the independent NumPy implementation.

Identical spikes; outputs, traces, membrane potentials and weights within a relative error of 1e-9
(float64) over 200+ steps, on random genomes and random inputs.
"""
import gc
import weakref

import numpy as np
import pytest

from pdlf_brian.engine import make_network
from pdlf_brian.interventions import NeuronLesion, StateReset, SynapseLesion, TemporaryLesion
from pdlf_brian.layout import NetworkShape
from pdlf_brian.models import PDLF_RULE, PDLF_RULE_WITH_DECAY, TERNARY_LIF
from pdlf_brian.reference import ReferenceNetwork
from pdlf_brian.rule import resolve_synapse

T = 210
RECORD = ("output", "spikes", "trace", "voltage", "scale")
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
    want = ref.run(genomes, inputs, batch=net.batch, record=RECORD, record_weights=True,
                   interventions=net.interventions)
    spikes = got.spikes != 0
    # the test is only meaningful if the network is neither silent nor saturated
    assert 0.02 < spikes.mean() < 0.98, f"degenerate activity: spike fraction {spikes.mean():.3f}"
    np.testing.assert_array_equal(got.spikes, want.spikes, err_msg="spikes differ")
    for name in ("output", "trace", "voltage"):
        _close(getattr(got, name), getattr(want, name), name)
    for proj in want.weights:
        _close(got.weights[proj], want.weights[proj], f"final weights {proj}")
        if net.plastic:
            _close(got.scale[proj], want.scale[proj], f"normalisation scale {proj}")
        _close(got.weight_history[proj], want.weight_history[proj], f"weights over time {proj}")
    if net.plastic:
        assert np.abs(want.weights["in"]).max() > 0.5, "plasticity did not build up weights"
    return got


# Each device gets the full rule with and without recurrence, every named ablation, a user-added
# term, the weight-trained learner, the state-reset intervention and each lesion kind alone and
# composed; recurrence alternates.
CASES = [
    ("full", PDLF_RULE, False, "plastic"),
    ("full-recurrent", PDLF_RULE, True, "plastic"),
    ("no-SCP", PDLF_RULE, True, "plastic"),
    ("no-PDP", PDLF_RULE, False, "plastic"),
    ("SCP-only", PDLF_RULE, True, "plastic"),
    ("PDP-only", PDLF_RULE, False, "plastic"),
    ("user-term-decay", PDLF_RULE_WITH_DECAY, True, "plastic"),
    ("weights-recurrent", PDLF_RULE, True, "weights"),
    ("reset-recurrent", PDLF_RULE, True, "plastic"),
    ("reset-weights", PDLF_RULE, True, "weights"),
    ("lesion-temporary", PDLF_RULE, True, "plastic"),
    ("lesion-neurons", PDLF_RULE, True, "plastic"),
    ("lesion-synapses", PDLF_RULE, False, "plastic"),
    ("lesion-composed", PDLF_RULE, True, "plastic"),
    ("lesion-composed-weights", PDLF_RULE, True, "weights"),
]
#: The interventions of the cases that have some (tests/test_lesions.py uses the same lesions, so
#: that the runtime device's compiled code is shared).
COMPOSED_LESIONS = (TemporaryLesion(("in", "out"), start=60, length=20), NeuronLesion(0.34, seed=1),
                    SynapseLesion("rec", 0.3, seed=2))
INTERVENTIONS = {
    "reset-recurrent": (StateReset((70, 140)),),
    "reset-weights": (StateReset((70, 140)),),
    "lesion-temporary": (TemporaryLesion(("in", "rec", "out"), start=60, length=20),),
    "lesion-neurons": (NeuronLesion(0.34, seed=1),),
    "lesion-synapses": (SynapseLesion("out", 0.5, seed=2),),
    "lesion-composed": COMPOSED_LESIONS,
    "lesion-composed-weights": COMPOSED_LESIONS,
}
# Every cpp_standalone case recompiles part of the project (20-40 s each): the cases beyond the
# full rule, the baseline and a reset are marked slow (run them with `pytest -m slow`), lesions included.
_CPP_DEFAULT = ("full", "full-recurrent", "weights-recurrent", "reset-recurrent")
DEVICES = ("numpy", "runtime", "cpp_standalone")


def _ablation(case):
    return "full" if case.startswith(("full", "user", "weights", "reset", "lesion")) else case


def _params():
    for device in DEVICES:
        for case in CASES:
            slow = device == "cpp_standalone" and case[0] not in _CPP_DEFAULT
            marks = [getattr(pytest.mark, device)] + ([pytest.mark.slow] if slow else [])
            yield pytest.param(device, *case, id=f"{device}-{case[0]}", marks=marks)


@pytest.mark.parametrize("device,case,rule,recurrent,learner", list(_params()))
def test_engine_agrees_with_numpy_reference(device, case, rule, recurrent, learner, rng, cpp_directory):
    """One body for every device: the network from `make_network` equals the reference step by step."""
    options = {"directory": cpp_directory} if device == "cpp_standalone" else {}
    interventions = INTERVENTIONS.get(case, ())
    net = make_network(NetworkShape(4, 6, 2, recurrent=recurrent), resolve_synapse(learner, rule, _ablation(case)),
                       n_individuals=3, batch=2, device=device, n_steps=T, record=RECORD, record_weights=True,
                       interventions=interventions, **options)
    first = assert_agrees(net, rng)
    if case.startswith("reset"):
        # the reset really zeroes the state: the trace is zero after the reset step's own update only
        # where that step's spikes are zero
        for k in (70, 140):
            np.testing.assert_array_equal(first.trace[k] != 0, first.spikes[k] != 0)
    if device == "cpp_standalone":
        # re-running the compiled project with new genomes and inputs gives new, still correct, results
        second = assert_agrees(net, rng)
        assert not np.allclose(first.output, second.output)


@pytest.mark.runtime
def test_closed_loop_agrees_with_numpy_reference(rng):
    """A controller feeding back the readout gives the same run on runtime and on the reference."""
    shape = NetworkShape(3, 8, 2, recurrent=True)
    synapse = resolve_synapse("plastic", PDLF_RULE, "full")
    drive = rng.normal(0, 1, (60, 2, 2, 3))

    def controller(step, output):
        return drive[step] + np.tanh(output).sum(axis=-1, keepdims=True)

    runs = {}
    for device in ("runtime", "numpy"):
        net = make_network(shape, synapse, n_individuals=2, batch=2, device=device, record=RECORD)
        genomes = np.random.default_rng(5).normal(0, 0.5, (2, net.genome_size))
        runs[device] = net.run(genomes, controller=controller, n_steps=60)
    assert np.abs(runs["numpy"].output).max() > 0
    np.testing.assert_array_equal(runs["runtime"].spikes, runs["numpy"].spikes)
    _close(runs["runtime"].output, runs["numpy"].output, "closed-loop output")


@pytest.mark.runtime
def test_user_term_changes_the_genome_and_the_dynamics(rng):
    """The decay term adds a parameter block per projection and is really applied."""
    shape = NetworkShape(4, 6, 2)
    base = make_network(shape, PDLF_RULE.resolve("full"), n_individuals=2, device="runtime", record=RECORD)
    decay = make_network(shape, PDLF_RULE_WITH_DECAY.resolve("full"), n_individuals=2, device="runtime",
                         record=RECORD)
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


@pytest.mark.runtime
def test_runtime_network_freezes_what_lives_after_its_first_run(rng):
    """Brian2's per-run gc.collect() skips the objects frozen after the first run; new garbage is still
    collected, results do not change, and the next network's build unfreezes them."""
    shape = NetworkShape(3, 8, 2)
    synapse = resolve_synapse("plastic", PDLF_RULE, "full")
    net = make_network(shape, synapse, n_individuals=2, device="runtime", record=RECORD)
    assert gc.get_freeze_count() == 0
    genomes, inputs = _inputs_and_genomes(net, rng)
    first = net.run(genomes, inputs)
    assert gc.get_freeze_count() > 0

    class Cycle:
        pass

    cycle = Cycle()
    cycle.me = cycle
    ref = weakref.ref(cycle)
    del cycle
    gc.collect()
    assert ref() is None
    again = net.run(genomes, inputs)
    np.testing.assert_array_equal(again.output, first.output)
    np.testing.assert_array_equal(again.spikes, first.spikes)
    second = make_network(shape, synapse, n_individuals=2, device="runtime", record=RECORD)
    assert gc.get_freeze_count() == 0
    np.testing.assert_array_equal(second.run(genomes, inputs).output, first.output)
    assert gc.get_freeze_count() > 0


@pytest.mark.parametrize("learner", ["plastic", "weights"])
def test_reference_idles_ended_copies_and_leaves_the_others_unchanged(rng, learner):
    """`ReferenceNetwork.set_live`: an ended copy reads out 0 and keeps the weights it had; the rest run on."""
    shape = NetworkShape(5, 16, 2, recurrent=True)
    synapse = resolve_synapse(learner)
    ref = ReferenceNetwork(shape, synapse, TERNARY_LIF)
    genomes = rng.normal(0.0, 0.5, (2, ref.layout.size))
    inputs = rng.normal(0.0, 1.0, (40, 2, 3, 5))
    full = ReferenceNetwork(shape, synapse, TERNARY_LIF).run(genomes, inputs, batch=3, record=("output", "spikes"),
                                                             record_weights=True)
    ends = np.array([12, 40, 5, 40, 27, 1])          # the step from which each copy is idle

    def controller(t, output):
        if t > 0:
            ref.set_live(t < ends)
        return inputs[t]

    lean = ref.run(genomes, controller=controller, n_steps=40, batch=3, record=("output", "spikes"))
    out, want = lean.output.reshape(40, 6, -1), full.output.reshape(40, 6, -1)
    weights = {p: w.reshape(6, *w.shape[2:]) for p, w in lean.weights.items()}
    for c, k in enumerate(ends):
        np.testing.assert_array_equal(out[:k, c], want[:k, c])
        assert not out[k:, c].any() and not lean.spikes.reshape(40, 6, -1)[k:, c].any()
        for p, history in full.weight_history.items():       # the weights after its last live step
            np.testing.assert_array_equal(weights[p][c], history.reshape(40, 6, *history.shape[3:])[k - 1, c])
    assert list(ref.rows) == [1, 3]
