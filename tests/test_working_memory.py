"""Working-memory protocol: the state reset, the learners, and a short training run."""
import numpy as np
import pytest

from pdlf_brian.evolution.config import TrainConfig
from pdlf_brian.evolution.trainer import Trainer
from pdlf_brian.layout import NetworkShape
from pdlf_brian.models import TERNARY_LIF
from pdlf_brian.engine import make_network
from pdlf_brian.interventions import StateReset
from pdlf_brian.protocols import problem_for
from pdlf_brian.protocols.working_memory_task import CopyTask, population_inputs
from pdlf_brian.reference import ReferenceNetwork
from pdlf_brian.rule import resolve_synapse

RECORD = ("output", "spikes", "trace", "voltage")


@pytest.mark.runtime
@pytest.mark.parametrize("learner", ["plastic", "weights"])
def test_reset_zeroes_the_hidden_state_and_matches_the_reference(learner, rng):
    task = CopyTask(6, 4)
    L = task.length
    synapse = resolve_synapse(learner)
    shape = NetworkShape(3, 12, 1, recurrent=True)
    net = make_network(shape, synapse, n_individuals=2, batch=3, device="runtime", record=RECORD,
                       interventions=(StateReset((L,)),))
    genomes = rng.normal(0, 0.6, (2, net.genome_size))
    trials = task.sample(rng, 3)
    inputs = population_inputs(trials, 2)
    got = net.run(genomes, inputs)
    free = make_network(shape, synapse, n_individuals=2, batch=3, device="runtime",
                        record=RECORD).run(genomes, inputs)
    assert np.abs(free.voltage[L]).max() > 0 or np.abs(free.trace[L - 1]).max() > 0
    # during the delay there is no input, so after the reset the hidden state stays exactly zero
    for name in ("voltage", "trace", "spikes"):
        assert np.all(getattr(got, name)[L:L + task.delay] == 0), f"{name} not zero after the reset"
    assert np.abs(got.trace[L - 1]).max() > 0, "the reset must not act before step L"
    ref = ReferenceNetwork(net.shape, net.synapse, TERNARY_LIF)
    want = ref.run(genomes, inputs, batch=3, record=RECORD, interventions=(StateReset((L,)),))
    np.testing.assert_array_equal(got.spikes, want.spikes)
    np.testing.assert_allclose(got.output, want.output, rtol=1e-9, atol=1e-12)
    for proj in want.weights:
        np.testing.assert_allclose(got.weights[proj], want.weights[proj], rtol=1e-9, atol=1e-12)


def test_heldout_metrics_have_every_field():
    config = TrainConfig(device="numpy", population=4, progress=False,
                         task={"length": 4, "delay": 2, "batch": 4, "n_hidden": 8, "heldout_sequences": 32})
    problem = problem_for(config)
    genome = np.random.default_rng(0).normal(0, 0.3, problem.genome_size)
    m = problem.heldout(genome, seed=1)
    assert 0 <= m["accuracy"] <= 1 and len(m["accuracy_by_position"]) == 4
    assert set(m["rate_hz_by_phase"]) == {"presentation", "delay", "recall"}
    r = problem.heldout(genome, seed=1, reset=True)
    assert r["rate_hz_by_phase"]["delay"] == 0.0


def test_short_run_of_the_default_set_up_beats_the_majority_bit_level(tmp_path):
    """The quickstart's set-up (defaults: plastic, L = 4, Lat = 0, population 64, 32 sequences, 64 hidden,
    sigmoid fitness), cut to 200 generations, copies more than a majority vote on held-out data."""
    from pdlf_brian.protocols.working_memory_task import majority_baseline_exact

    config = TrainConfig(device="numpy", generations=200, eval_every=50, progress=False,
                         task={"heldout_sequences": 512})
    problem = problem_for(config)
    assert (problem.settings.batch, problem.settings.n_hidden, problem.settings.fitness) == (32, 64, "sigmoid")
    log = Trainer(config, tmp_path / "default", problem).run()
    final = problem.heldout(np.load(tmp_path / "default" / "recommendation.npy"), seed=12345)
    # 512 sequences x 4 bits: the majority level is 0.6875 with a standard deviation of about 0.01
    level = majority_baseline_exact(4)
    assert final["accuracy"] > level + 0.05, f"held-out {final['accuracy']:.3f} vs majority {level:.3f}"
    assert final["silent_fraction"] < 0.05
    assert max(r["heldout"] for r in log if r["heldout"] is not None) > level + 0.05


def test_weights_learner_beats_chance_quickly(tmp_path):
    """60 generations of the weight-trained learner on L = 4, Lat = 0 beat chance on held-out data."""
    config = TrainConfig(device="numpy", learner="weights", population=32, generations=60, eval_every=10,
                         seed=1, progress=False, task={"batch": 16, "n_hidden": 32, "heldout_sequences": 512})
    log = Trainer(config, tmp_path / "weights", problem_for(config)).run()
    best = max(r["heldout"] for r in log if r["heldout"] is not None)
    # 512 held-out sequences x 4 bits: chance is 0.5 with a standard deviation of about 0.011
    assert best > 0.56, f"best held-out accuracy {best:.3f} does not beat chance"


def test_rate_penalty_subtracts_the_spike_fraction_of_each_individual():
    """``task.rate_penalty`` lowers each individual's fitness by penalty x its hidden spike fraction."""
    from pdlf_brian.errors import ConfigError
    from pdlf_brian.protocols.working_memory import spike_fraction

    task = {"length": 4, "delay": 2, "batch": 4, "n_hidden": 8}
    plain = problem_for(TrainConfig(device="numpy", learner="weights", population=4, task=task))
    penalised = problem_for(TrainConfig(device="numpy", learner="weights", population=4,
                                        task=dict(task, rate_penalty=0.5)))
    genomes = np.random.default_rng(0).normal(0, 0.5, (4, plain.genome_size))
    genomes[0] = 0.0                                    # a silent individual: no penalty
    trials = plain.task.sample(np.random.default_rng(3), 4)
    spikes = plain.make(4, 4, record=("output", "spikes")).run(
        genomes, population_inputs(trials, 4), final_weights=False).spikes
    fraction = spike_fraction(spikes)
    assert fraction[0] == 0 and np.all(fraction[1:] > 0.1)
    got = penalised.evaluate(genomes, 3).fitness - plain.evaluate(genomes, 3).fitness
    np.testing.assert_allclose(got, -0.5 * fraction, rtol=1e-12, atol=1e-15)
    with pytest.raises(ConfigError, match="task.rate_penalty"):
        problem_for(TrainConfig(device="numpy", task={"rate_penalty": -0.1}))
