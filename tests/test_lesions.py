"""Lesions do exactly what they say, on recorded state, for both learners, in Brian2 and in the reference."""
import numpy as np
import pytest

from pdlf_brian.engine import make_network
from pdlf_brian.errors import ConfigError
from pdlf_brian.interventions import NeuronLesion, SynapseLesion, TemporaryLesion, from_dict, to_dict
from pdlf_brian.layout import NetworkShape
from pdlf_brian.rule import resolve_synapse
from tests.test_agreement import COMPOSED_LESIONS

T = 120
SHAPE = NetworkShape(4, 6, 2, recurrent=True)
RECORD = ("output", "spikes", "trace", "voltage")
DEVICES = [pytest.param("runtime", marks=pytest.mark.runtime), "numpy"]
START, LENGTH = 60, 20


def run(device, learner, interventions, seed=0):
    net = make_network(SHAPE, resolve_synapse(learner), n_individuals=3, batch=2, device=device, n_steps=T,
                       record=RECORD, record_weights=True, interventions=interventions)
    rng = np.random.default_rng(seed)
    genomes = rng.normal(0, 0.5, (3, net.genome_size))
    inputs = rng.normal(0, 1, (T, 3, 2, SHAPE.n_in))
    return net, genomes, net.run(genomes, inputs)


def genome_weights(net, genomes, proj):
    """The weight-trained learner's genome weights as (P, B, n_pre, n_post)."""
    w = net.layout.split(genomes)[(proj, "w")]
    return np.repeat(w[:, None], 2, axis=1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("learner", ["plastic", "weights"])
def test_temporary_lesion_holds_weights_at_zero_for_exactly_k_steps(device, learner):
    net, genomes, rec = run(device, learner, COMPOSED_LESIONS)
    window = slice(START, START + LENGTH)
    for proj in ("in", "out"):
        w = rec.weight_history[proj]
        assert np.all(w[window] == 0), f"{proj}: not zero during the window"
        before, after = w[START - 1], w[START + LENGTH]
        assert np.abs(before).max() > 0 and np.abs(after).max() > 0, f"{proj}: not free around the window"
        if learner == "weights":
            want = genome_weights(net, genomes, proj) * (w[0] != 0)      # frozen synapses stay zero
            np.testing.assert_array_equal(after, want)
            np.testing.assert_array_equal(before, want)
    # the recurrent projection was not in the window: it is free throughout
    assert np.abs(rec.weight_history["rec"][window]).max() > 0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("learner", ["plastic", "weights"])
def test_blocked_neurons_never_spike_and_frozen_synapses_never_change(device, learner):
    lesions = (NeuronLesion(0.34, seed=1), SynapseLesion("rec", 0.3, seed=2))
    net, genomes, rec = run(device, learner, lesions)
    blocked = lesions[0].neurons(SHAPE)
    assert len(blocked) == 2
    assert np.all(rec.spikes[..., blocked] == 0) and np.all(rec.trace[..., blocked] == 0)
    assert np.all(rec.voltage[..., blocked] == 0)
    alive = np.setdiff1d(np.arange(SHAPE.n_hidden), blocked)
    assert np.mean(rec.spikes[..., alive] != 0) > 0.02, "the other neurons must stay active"
    frozen = {"in": (slice(None), blocked), "out": (blocked, slice(None))}
    for proj, index in frozen.items():
        assert np.all(rec.weight_history[proj][(Ellipsis,) + index] == 0), f"{proj}: synapses of blocked neurons"
    rec_frozen = np.zeros((6, 6), bool)
    rec_frozen.flat[lesions[1].synapses(SHAPE)] = True
    rec_frozen[blocked, :] = rec_frozen[:, blocked] = True
    assert np.all(rec.weight_history["rec"][..., rec_frozen] == 0)
    free = rec.weight_history["rec"][..., ~rec_frozen]
    assert np.abs(free).max() > 0
    if learner == "plastic":
        assert np.abs(np.diff(free, axis=0)).max() > 0, "free plastic synapses must change"


@pytest.mark.parametrize("learner", ["plastic", "weights"])
def test_brian2_and_reference_lesion_identically(learner):
    pytest.importorskip("brian2")
    got = run("runtime", learner, COMPOSED_LESIONS)[2]
    want = run("numpy", learner, COMPOSED_LESIONS)[2]
    np.testing.assert_array_equal(got.spikes, want.spikes)
    for proj in want.weight_history:
        np.testing.assert_allclose(got.weight_history[proj], want.weight_history[proj], rtol=1e-9, atol=1e-12)


def test_lesion_choices_are_seeded():
    assert np.array_equal(NeuronLesion(0.5, seed=3).neurons(SHAPE), NeuronLesion(0.5, seed=3).neurons(SHAPE))
    assert not np.array_equal(NeuronLesion(0.5, seed=3).neurons(NetworkShape(4, 64, 2)),
                              NeuronLesion(0.5, seed=4).neurons(NetworkShape(4, 64, 2)))
    assert len(NeuronLesion(0.0).neurons(SHAPE)) == 0 and len(NeuronLesion(1.0).neurons(SHAPE)) == 6
    assert len(SynapseLesion("in", 0.25).synapses(SHAPE)) == 6


def test_lesions_round_trip_through_dicts():
    for item in COMPOSED_LESIONS + (TemporaryLesion("out", start=3, length=2),):
        assert from_dict(to_dict(item)) == item


def test_bad_lesion_specs():
    with pytest.raises(ConfigError, match=r"NeuronLesion field 'fraction': expected a number in \[0, 1\], got 1.5"):
        NeuronLesion(1.5)
    with pytest.raises(ConfigError, match=r"SynapseLesion field 'fraction': expected a number in \[0, 1\], got -0.1"):
        SynapseLesion("in", -0.1)
    with pytest.raises(ConfigError, match=r"unknown projection 'rec' for this network; allowed values are \['in', 'out'\]"):
        make_network(NetworkShape(3, 4, 1), resolve_synapse("plastic"), n_individuals=1, device="numpy",
                     interventions=(SynapseLesion("rec", 0.5),))
    with pytest.raises(ConfigError, match=r"TemporaryLesion field 'start': step 50 is beyond the episode \(40 steps"):
        make_network(NetworkShape(3, 4, 1), resolve_synapse("plastic"), n_individuals=1, device="numpy", n_steps=40,
                     interventions=(TemporaryLesion(("in",), start=50, length=5),))
    with pytest.raises(ConfigError, match=r"TemporaryLesion field 'length': expected an integer >= 1, got 0"):
        TemporaryLesion(("in",), start=5, length=0)
