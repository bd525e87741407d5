"""Tests of the delayed copy task (pdlf_brian.protocols.working_memory_task); pure NumPy, no Brian2."""
import numpy as np
import pytest

from pdlf_brian.errors import ConfigError
from pdlf_brian.protocols.working_memory_task import (
    CopyTask, accuracy, accuracy_by_position, fitness, majority_baseline, majority_baseline_exact,
    population_inputs, rate_by_phase, recall_output)


def oracle_output(task, trials, n_individuals=None):
    """Targets in the recall window, zeros elsewhere: (T, B, 1) or (T, P, B, 1)."""
    out = np.zeros((task.n_steps, trials.n_sequences, 1))
    out[task.recall, :, 0] = trials.targets
    if n_individuals is not None:
        out = np.repeat(out[:, None], n_individuals, axis=1)
    return out


# ---------------------------------------------------------------- task and generator
def test_windows_and_sizes():
    task = CopyTask(length=3, delay=2)
    assert task.n_steps == 8 and task.n_inputs == 3
    assert task.presentation == slice(0, 3)
    assert task.delay_window == slice(3, 5)
    assert task.recall == slice(5, 8)
    no_delay = CopyTask(length=4, delay=0)
    assert no_delay.n_steps == 8
    assert no_delay.delay_window == slice(4, 4) and no_delay.recall == slice(4, 8)
    assert len(range(8)[no_delay.delay_window]) == 0


def test_generator_hand_case():
    task = CopyTask(length=3, delay=2)
    trials = task.trials_from_bits(np.array([[1, 0, 1], [0, 0, 1]]))
    x = trials.inputs
    assert x.shape == (8, 2, 3)
    np.testing.assert_array_equal(x[:, 0, 0], [1, -1, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(x[:, 1, 0], [-1, -1, 1, 0, 0, 0, 0, 0])
    for seq in range(2):
        np.testing.assert_array_equal(x[:, seq, 1], [1, 1, 1, 0, 0, 0, 0, 0])
        np.testing.assert_array_equal(x[:, seq, 2], [0, 0, 0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(trials.targets, [[1, -1], [-1, -1], [1, 1]])


def test_sample_shapes_values_and_determinism():
    task = CopyTask(length=5, delay=3)
    a = task.sample(np.random.default_rng(123), 40)
    b = task.sample(np.random.default_rng(123), 40)
    c = task.sample(np.random.default_rng(124), 40)
    assert a.bits.shape == (40, 5) and a.inputs.shape == (13, 40, 3) and a.targets.shape == (5, 40)
    assert set(np.unique(a.bits)) <= {0, 1}
    np.testing.assert_array_equal(a.bits, b.bits)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    assert not np.array_equal(a.bits, c.bits)
    np.testing.assert_array_equal(a.targets, 2 * a.bits.T - 1)
    np.testing.assert_array_equal(a.inputs[:5, :, 0], a.targets)


def test_sample_is_fair_bernoulli():
    bits = CopyTask(length=8, delay=0).sample(np.random.default_rng(0), 20000).bits
    assert abs(bits.mean() - 0.5) < 0.005
    assert abs(np.corrcoef(bits[:, 0], bits[:, 1])[0, 1]) < 0.03


def test_population_inputs_broadcasts():
    task = CopyTask(length=2, delay=1)
    trials = task.sample(np.random.default_rng(1), 4)
    x = population_inputs(trials, 3)
    assert x.shape == (5, 3, 4, 3)
    for p in range(3):
        np.testing.assert_array_equal(x[:, p], trials.inputs)


@pytest.mark.parametrize("kwargs, field", [
    (dict(length=0, delay=0), "length"), (dict(length=-2, delay=1), "length"),
    (dict(length=2.5, delay=1), "length"), (dict(length=True, delay=1), "length"),
    (dict(length=4, delay=-1), "delay"), (dict(length=4, delay=1.0), "delay"),
])
def test_bad_task_raises_naming_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        CopyTask(**kwargs)


def test_bad_sample_arguments():
    task = CopyTask(length=2, delay=0)
    with pytest.raises(ConfigError, match="n_sequences"):
        task.sample(np.random.default_rng(0), 0)
    with pytest.raises(ConfigError, match="rng"):
        task.sample(0, 3)
    with pytest.raises(ConfigError, match="bits"):
        task.trials_from_bits([[0, 2]])


# ---------------------------------------------------------------- scoring
def test_recall_output_picks_window():
    task = CopyTask(length=2, delay=3)
    out = np.arange(7.0).reshape(7, 1)
    np.testing.assert_array_equal(recall_output(task, out), [5, 6])
    out4 = np.arange(7 * 2 * 3, dtype=float).reshape(7, 2, 3, 1)
    np.testing.assert_array_equal(recall_output(task, out4), out4[5:7, ..., 0])
    with pytest.raises(ConfigError, match="output"):
        recall_output(task, np.zeros((6, 1)))
    with pytest.raises(ConfigError, match="output"):
        recall_output(task, np.zeros((7, 2)))


def test_accuracy_perfect_oracle():
    task = CopyTask(length=8, delay=4)
    trials = task.sample(np.random.default_rng(2), 50)
    assert accuracy(task, trials, oracle_output(task, trials)) == 1.0
    acc = accuracy(task, trials, oracle_output(task, trials, n_individuals=3))
    assert acc.shape == (3,)
    np.testing.assert_array_equal(acc, 1.0)


def test_accuracy_outside_recall_is_ignored_and_zero_is_wrong():
    task = CopyTask(length=4, delay=2)
    trials = task.sample(np.random.default_rng(3), 10)
    out = oracle_output(task, trials)
    out[: task.recall.start] = -7.0                # junk before recall must not matter
    assert accuracy(task, trials, out) == 1.0
    assert accuracy(task, trials, np.zeros_like(out)) == 0.0
    assert accuracy(task, trials, -out) == 0.0


def test_accuracy_random_output_is_chance():
    task = CopyTask(length=16, delay=8)
    rng = np.random.default_rng(4)
    trials = task.sample(rng, 2000)
    out = rng.normal(size=(task.n_steps, 2, 2000, 1))
    acc = accuracy(task, trials, out)
    assert acc.shape == (2,)
    assert np.all(np.abs(acc - 0.5) < 0.02)


def test_accuracy_by_position_hand_case():
    task = CopyTask(length=3, delay=1)
    trials = task.trials_from_bits(np.array([[1, 0, 1], [0, 0, 0]]))   # targets per step: (+,-),(-,-),(+,-)
    out = np.zeros((task.n_steps, 2, 2, 1))
    rec = task.recall                                                   # steps 4, 5, 6
    # individual 0: position 0 both right, position 1 one right, position 2 none right
    out[rec, 0, :, 0] = [[2.0, -0.5], [-1.0, 3.0], [-1.0, 1.0]]
    # individual 1: everything right
    out[rec, 1, :, 0] = trials.targets
    by_pos = accuracy_by_position(task, trials, out)
    assert by_pos.shape == (2, 3)
    np.testing.assert_allclose(by_pos, [[1.0, 0.5, 0.0], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(accuracy(task, trials, out), [0.5, 1.0])
    single = accuracy_by_position(task, trials, out[:, 0])
    assert single.shape == (3,)
    np.testing.assert_allclose(single, [1.0, 0.5, 0.0])
    assert accuracy(task, trials, out[:, 0]) == pytest.approx(0.5)


def test_scoring_checks_batch_size():
    task = CopyTask(length=2, delay=0)
    trials = task.sample(np.random.default_rng(5), 3)
    with pytest.raises(ConfigError, match="batch"):
        accuracy(task, trials, np.zeros((4, 2, 5, 1)))


def test_fitness_perfect_is_maximal_and_ordered():
    task = CopyTask(length=8, delay=2)
    rng = np.random.default_rng(6)
    trials = task.sample(rng, 64)
    perfect = oracle_output(task, trials)
    assert fitness(task, trials, perfect) == 0.0
    assert fitness(task, trials, 5 * perfect) == 0.0                   # margin beyond 1 is not rewarded
    flipped = -perfect
    silent = np.zeros_like(perfect)
    half = 0.5 * perfect
    f = {name: fitness(task, trials, o) for name, o in
         dict(flipped=flipped, silent=silent, half=half).items()}
    assert f["flipped"] == pytest.approx(-4.0) and f["silent"] == pytest.approx(-1.0)
    assert f["flipped"] < f["silent"] < f["half"] < 0.0
    for _ in range(20):                                                 # nothing beats the oracle
        assert fitness(task, trials, rng.normal(scale=3, size=perfect.shape)) < 0.0
    stacked = np.stack([perfect, flipped, half], axis=1)                # (T, P=3, B, 1)
    fp = fitness(task, trials, stacked)
    assert fp.shape == (3,)
    np.testing.assert_allclose(fp, [0.0, -4.0, -0.25])


# ---------------------------------------------------------------- majority baseline
def test_majority_baseline_hand_case():
    task = CopyTask(length=4, delay=0)
    trials = task.trials_from_bits(np.array([[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 0, 0]]))
    assert majority_baseline(trials) == pytest.approx((1.0 + 0.75 + 0.5) / 3)


def test_majority_baseline_exact_values():
    assert majority_baseline_exact(4) == pytest.approx(11 / 16)
    assert majority_baseline_exact(8) == pytest.approx(163 / 256)
    assert majority_baseline_exact(1) == 1.0


@pytest.mark.parametrize("length, expected", [(4, 0.69), (8, 0.64)])
def test_majority_baseline_simulated_matches_spec(length, expected):
    trials = CopyTask(length=length, delay=0).sample(np.random.default_rng(length), 200_000)
    value = majority_baseline(trials)
    assert abs(value - expected) < 0.01
    assert abs(value - majority_baseline_exact(length)) < 0.003


def test_majority_output_scores_baseline_without_ties():
    """Feeding the majority bit as output reproduces the baseline (odd L: no ties)."""
    task = CopyTask(length=5, delay=3)
    trials = task.sample(np.random.default_rng(7), 5000)
    majority = np.where(trials.bits.sum(axis=1) * 2 > task.length, 1.0, -1.0)
    out = np.zeros((task.n_steps, trials.n_sequences, 1))
    out[task.recall, :, 0] = majority
    assert accuracy(task, trials, out) == pytest.approx(majority_baseline(trials))


# ---------------------------------------------------------------- firing rates
def test_rate_by_phase_hand_case():
    task = CopyTask(length=2, delay=2)                    # presentation 0-1, delay 2-3, recall 4-5
    spikes = np.zeros((6, 2, 1, 2))                       # (T, P, B, H)
    spikes[0, 0, 0, 0] = 1                                # ind 0: 2 spikes / 4 entries in presentation
    spikes[1, 0, 0, 1] = -1
    spikes[2:4, 0, 0, :] = 1                              # ind 0: all 4 entries in delay
    spikes[5, 1, 0, 0] = -1                               # ind 1: 1 / 4 entries in recall
    rates = rate_by_phase(task, spikes, dt_seconds=0.2)
    assert set(rates) == {"presentation", "delay", "recall"}
    np.testing.assert_allclose(rates["presentation"], [0.5 / 0.2, 0.0])
    np.testing.assert_allclose(rates["delay"], [1.0 / 0.2, 0.0])
    np.testing.assert_allclose(rates["recall"], [0.0, 0.25 / 0.2])
    single = rate_by_phase(task, spikes[:, 0], dt_seconds=0.1)
    assert isinstance(single["delay"], float)
    assert single["presentation"] == pytest.approx(5.0) and single["delay"] == pytest.approx(10.0)
    assert single["recall"] == 0.0
    assert rate_by_phase(task, spikes[:, 0])["delay"] == pytest.approx(5.0)   # default dt = 0.2 s


def test_rate_by_phase_no_delay_is_nan():
    task = CopyTask(length=3, delay=0)
    spikes = np.ones((6, 2, 4, 5))
    rates = rate_by_phase(task, spikes)
    assert rates["delay"].shape == (2,) and np.all(np.isnan(rates["delay"]))
    np.testing.assert_allclose(rates["presentation"], 5.0)
    assert np.isnan(rate_by_phase(task, spikes[:, 0])["delay"])
    with pytest.raises(ConfigError, match="spikes"):
        rate_by_phase(task, np.ones((7, 2, 4, 5)))
    with pytest.raises(ConfigError, match="dt_seconds"):
        rate_by_phase(task, spikes, dt_seconds=0)


def test_sigmoid_fitness_orders_outputs_and_scores_silence():
    from pdlf_brian.protocols.working_memory_task import FITNESSES, fitness_sigmoid

    task = CopyTask(4, 2)
    trials = task.sample(np.random.default_rng(0), 16)
    perfect = np.zeros((task.n_steps, 16, 1))
    perfect[task.recall, :, 0] = trials.targets
    silent = np.zeros_like(perfect)
    scores = [fitness_sigmoid(task, trials, k * perfect) for k in (-10, -1, 0, 1, 10)]
    assert scores == sorted(scores) and scores[2] == -0.25
    assert -1 < scores[0] < -0.99 and -0.01 < scores[-1] < 0
    assert fitness_sigmoid(task, trials, silent) == -0.25
    np.testing.assert_allclose(fitness_sigmoid(task, trials, 1000 * perfect), 0.0, atol=1e-12)   # no overflow
    assert set(FITNESSES) == {"sigmoid", "clip"}
