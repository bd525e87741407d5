"""Delayed copy task (spec section 5.1, paper Fig. 2), in pure NumPy.

A sequence of ``L`` random bits is shown one per step, followed by ``Lat`` silent delay steps and
``L`` recall steps, during which one output unit must reproduce the bits in order. Time steps:

=============  =====================  ======================================
phase          steps                  inputs (channel 0, 1, 2)
=============  =====================  ======================================
presentation   ``0 .. L-1``           (signed bit, 1, 0)
delay          ``L .. L+Lat-1``       (0, 0, 0)
recall         ``L+Lat .. 2L+Lat-1``  (0, 0, 1)
=============  =====================  ======================================

All functions take network outputs whose first axis is time (``T = 2L + Lat``) and whose last axis
is the single output unit, either ``(T, P, B, 1)`` (P individuals, B = number of sequences; results
per individual) or ``(T, B, 1)`` (results as scalars). This module does not import Brian2.

Examples
--------
>>> import numpy as np
>>> task = CopyTask(length=8, delay=16)
>>> trials = task.sample(np.random.default_rng(0), n_sequences=32)
>>> trials.inputs.shape, trials.targets.shape
((32, 32, 3), (8, 32))
"""
from dataclasses import dataclass
import numbers

import numpy as np

from pdlf_brian.errors import ConfigError

__all__ = ["CopyTask", "Trials", "population_inputs", "recall_output", "accuracy",
           "accuracy_by_position", "fitness", "fitness_sigmoid", "FITNESSES", "majority_baseline",
           "majority_baseline_exact",
           "rate_by_phase", "PHASES"]

#: Names of the three phases, in time order.
PHASES = ("presentation", "delay", "recall")


def _check_int(name, value, minimum):
    """Return ``value`` as int if it is an integer >= ``minimum``, else raise ConfigError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name}: must be an integer >= {minimum}, got {value}")
    return int(value)


@dataclass(frozen=True)
class Trials:
    """A batch of copy-task sequences.

    Attributes
    ----------
    bits : ndarray of int, shape (n_sequences, L)
        The bits, in {0, 1}.
    inputs : ndarray of float, shape (T, n_sequences, 3)
        Network input per step (see `CopyTask.sample`).
    targets : ndarray of float, shape (L, n_sequences)
        Desired output sign per recall step, ``2 * bit - 1`` in {-1, +1}.
    """

    bits: np.ndarray
    inputs: np.ndarray
    targets: np.ndarray

    @property
    def n_sequences(self):
        """Number of sequences (the batch size B the network must be run with)."""
        return self.bits.shape[0]


@dataclass(frozen=True)
class CopyTask:
    """The delayed copy task with sequence length ``length`` (L) and delay ``delay`` (Lat).

    Parameters
    ----------
    length : int
        L >= 1, number of bits to remember.
    delay : int
        Lat >= 0, number of silent steps between presentation and recall.

    Raises
    ------
    ConfigError
        If ``length`` < 1 or ``delay`` < 0 or either is not an integer; the message names the field.
    """

    length: int
    delay: int

    def __post_init__(self):
        object.__setattr__(self, "length", _check_int("length", self.length, 1))
        object.__setattr__(self, "delay", _check_int("delay", self.delay, 0))

    @property
    def n_steps(self):
        """Number of steps of one trial, ``2 L + Lat``."""
        return 2 * self.length + self.delay

    @property
    def n_inputs(self):
        """Number of input channels: signed bit, presentation flag, recall flag."""
        return 3

    @property
    def presentation(self):
        """Steps at which the bits are shown, ``slice(0, L)``."""
        return slice(0, self.length)

    @property
    def delay_window(self):
        """Silent steps between presentation and recall, ``slice(L, L + Lat)`` (empty if Lat = 0)."""
        return slice(self.length, self.length + self.delay)

    @property
    def recall(self):
        """Steps at which the output is scored, ``slice(L + Lat, 2 L + Lat)``."""
        return slice(self.length + self.delay, self.n_steps)

    def windows(self):
        """Return ``{phase name: slice}`` for the three phases, in time order."""
        return dict(zip(PHASES, (self.presentation, self.delay_window, self.recall)))

    def sample(self, rng, n_sequences):
        """Draw ``n_sequences`` i.i.d. Bernoulli(0.5) bit sequences and build their inputs.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of the bits; the same generator state gives the same trials.
        n_sequences : int
            Number of sequences (>= 1); the network is run with batch B = ``n_sequences``.

        Returns
        -------
        Trials
            ``inputs`` has shape (T, n_sequences, 3) with

            * channel 0: the bit as a signed value, +1 for bit 1 and -1 for bit 0, at steps
              0..L-1, and 0 elsewhere. Signed rather than {0, 1} because the network's units are
              signed (ternary spikes, signed currents and a signed readout): with a 0/1 code a
              0-bit would inject no current at all and could only be told apart from silence
              through the flag channel, whereas +-1 drives the hidden layer symmetrically and
              matches the {-1, +1} target the output must reproduce.
            * channel 1: presentation flag, 1 at steps 0..L-1, 0 elsewhere.
            * channel 2: recall flag, 1 at steps L+Lat..2L+Lat-1, 0 elsewhere.

        Raises
        ------
        ConfigError
            If ``rng`` is not a Generator or ``n_sequences`` < 1.
        """
        if not isinstance(rng, np.random.Generator):
            raise ConfigError(f"rng: must be a numpy.random.Generator, got {type(rng).__name__}")
        n = _check_int("n_sequences", n_sequences, 1)
        bits = rng.integers(0, 2, size=(n, self.length))
        return self.trials_from_bits(bits)

    def trials_from_bits(self, bits):
        """Build `Trials` for given bits, shape (n_sequences, L) with values in {0, 1}."""
        bits = np.asarray(bits)
        if bits.ndim != 2 or bits.shape[1] != self.length or bits.shape[0] < 1:
            raise ConfigError(f"bits: expected shape (n_sequences >= 1, {self.length}), got {bits.shape}")
        if not np.all((bits == 0) | (bits == 1)):
            raise ConfigError("bits: values must be 0 or 1")
        bits = bits.astype(np.int64)
        signed = 2.0 * bits - 1.0                                       # (n, L) in {-1, +1}
        inputs = np.zeros((self.n_steps, bits.shape[0], self.n_inputs))
        inputs[self.presentation, :, 0] = signed.T
        inputs[self.presentation, :, 1] = 1.0
        inputs[self.recall, :, 2] = 1.0
        return Trials(bits=bits, inputs=inputs, targets=signed.T.copy())


def population_inputs(trials, n_individuals):
    """Broadcast trial inputs to every individual: (T, B, 3) -> read-only view (T, P, B, 3).

    All individuals of a generation see the same sequences (common random numbers, spec section 4).
    """
    n = _check_int("n_individuals", n_individuals, 1)
    T, B, C = trials.inputs.shape
    return np.broadcast_to(trials.inputs[:, None], (T, n, B, C))


def recall_output(task, output):
    """Return the recall window of ``output``.

    Parameters
    ----------
    task : CopyTask
    output : array, shape (T, ..., 1)
        Network output with time first and one output unit last, T = ``task.n_steps``.

    Returns
    -------
    ndarray, shape (L, ...)
        The output during the L recall steps, with the unit axis dropped.
    """
    output = np.asarray(output, dtype=float)
    if output.ndim < 2 or output.shape[-1] != 1:
        raise ConfigError(f"output: expected shape (T, ..., 1) with one output unit, got {output.shape}")
    if output.shape[0] != task.n_steps:
        raise ConfigError(f"output: first axis must be time with T = {task.n_steps} steps "
                          f"(2L + Lat), got {output.shape[0]}")
    return output[task.recall, ..., 0]


def _recall_and_targets(task, trials, output):
    """Recall output (L, [P,] B) and targets broadcastable against it; checks B and layout."""
    rec = recall_output(task, output)
    if rec.ndim not in (2, 3):
        raise ConfigError(f"output: expected shape (T, P, B, 1) or (T, B, 1), got {np.shape(output)}")
    if rec.shape[-1] != trials.n_sequences:
        raise ConfigError(f"output: batch axis has {rec.shape[-1]} entries but trials has "
                          f"{trials.n_sequences} sequences")
    if trials.targets.shape[0] != task.length:
        raise ConfigError(f"trials: made for L = {trials.targets.shape[0]}, task has L = {task.length}")
    targets = trials.targets if rec.ndim == 2 else trials.targets[:, None, :]
    return rec, targets


def _finish(per_individual):
    """Return a float for a 0-d result, else the array."""
    return float(per_individual) if np.ndim(per_individual) == 0 else per_individual


def accuracy_by_position(task, trials, output):
    """Fraction of sequences whose output sign matches the bit, per recall position.

    An output of exactly 0 counts as wrong.

    Returns
    -------
    ndarray, shape (P, L) for output (T, P, B, 1), or (L,) for output (T, B, 1)
    """
    rec, targets = _recall_and_targets(task, trials, output)
    correct = np.sign(rec) == targets                                  # sign(0) = 0: never correct
    per_pos = correct.mean(axis=-1)                                    # (L,) or (L, P)
    return per_pos.T if per_pos.ndim == 2 else per_pos


def accuracy(task, trials, output):
    """Fraction of recall steps whose output sign matches the target bit (chance 0.5).

    Averaged over recall steps and sequences; an output of exactly 0 counts as wrong.

    Returns
    -------
    ndarray (P,) for output (T, P, B, 1), or float for output (T, B, 1)
    """
    return _finish(accuracy_by_position(task, trials, output).mean(axis=-1))


def fitness(task, trials, output):
    """Training fitness to maximise: ``-mean((clip(a, -1, 1) - target)^2)`` over recall steps and sequences.

    The score lies in [-4, 0]. It is 0 (the maximum) exactly when every recall output has the right
    sign with margin ``|a| >= 1``, so the oracle output ``a = target`` is optimal. Reasons for this
    choice over ``-(tanh(a) - target)^2``: tanh never reaches +-1, so the perfect output would not be
    the maximum and evolution would be pushed towards ever larger outputs (more spikes, stronger
    weights); clipping gives no reward beyond a unit margin. Inside the margin the score is a graded
    squared error, so outputs moving towards the right sign are rewarded before the sign flips
    (unlike accuracy, which is a step function), and a silent output (a = 0) scores -1, between
    perfect (0) and confidently wrong (-4), consistent with accuracy counting 0 as wrong.

    Returns
    -------
    ndarray (P,) for output (T, P, B, 1), or float for output (T, B, 1)
    """
    rec, targets = _recall_and_targets(task, trials, output)
    err = (np.clip(rec, -1.0, 1.0) - targets) ** 2
    axes = (0, -1)                                                      # recall steps and sequences
    return _finish(-err.mean(axis=axes))


def fitness_sigmoid(task, trials, output):
    """Training fitness to maximise: ``-mean((sigmoid(a) - bit)^2)`` over recall steps and sequences.

    ``bit`` is the target in {0, 1}. The score lies in (-1, 0): a silent output (a = 0) scores
    -0.25, confidently right outputs approach 0 and confidently wrong ones approach -1. Unlike the
    clipped score (`fitness`), which gives nothing for a margin beyond ``|a| = 1``, it keeps
    rewarding a larger margin on the right side. It is the default training fitness since the
    comparison in issue 8 (``results/working_memory/README.md``).

    Returns
    -------
    ndarray (P,) for output (T, P, B, 1), or float for output (T, B, 1)
    """
    rec, targets = _recall_and_targets(task, trials, output)
    bits = (targets + 1.0) / 2.0
    err = (0.5 * (1.0 + np.tanh(0.5 * rec)) - bits) ** 2           # sigmoid without overflow
    return _finish(-err.mean(axis=(0, -1)))


#: Training fitnesses by name (the ``task.fitness`` config key).
FITNESSES = {"sigmoid": fitness_sigmoid, "clip": fitness}


def majority_baseline(trials):
    """Accuracy of outputting each sequence's majority bit at every recall step.

    A network can score this without copying anything, so it is the level to beat beside chance
    (0.5). Ties (equal numbers of 0s and 1s) count 0.5 per step, the expected score of a guess.
    Expected values: 11/16 = 0.6875 at L = 4 and 163/256 ~ 0.637 at L = 8 (see
    `majority_baseline_exact`).

    Returns
    -------
    float
        Averaged over recall steps and sequences.
    """
    bits = np.asarray(trials.bits)
    L = bits.shape[1]
    ones = bits.sum(axis=1)
    per_seq = np.maximum(ones, L - ones) / L         # a tie (ones = L/2) gives exactly 0.5
    return float(per_seq.mean())


def majority_baseline_exact(length):
    """Expected `majority_baseline` over i.i.d. Bernoulli(0.5) bits of the given length (enumerated)."""
    from math import comb
    L = _check_int("length", length, 1)
    total = sum(comb(L, k) * (0.5 if 2 * k == L else max(k, L - k) / L) for k in range(L + 1))
    return total / 2 ** L


def rate_by_phase(task, spikes, dt_seconds=0.2):
    """Mean firing rate (Hz) of the hidden units in each phase.

    A spike is any nonzero entry of the ternary spike array (+1 or -1). The rate is the fraction of
    (step, sequence, unit) entries that spike in the phase, divided by the duration of one step.

    Parameters
    ----------
    task : CopyTask
    spikes : array, shape (T, P, B, H) or (T, B, H)
        Ternary spikes from a run, T = ``task.n_steps``.
    dt_seconds : float
        Real time one network step stands for. The simulator's step is abstract; the paper presents
        each stimulus for 200 ms with one step per stimulus, hence the default 0.2 s. Rates scale as
        ``1 / dt_seconds``; the spiking probability per step is ``rate * dt_seconds``.

    Returns
    -------
    dict
        ``{'presentation', 'delay', 'recall'}`` -> array (P,) for 4-d spikes, float for 3-d spikes.
        The delay entry is NaN when Lat = 0 (no delay steps).
    """
    spikes = np.asarray(spikes)
    if spikes.ndim not in (3, 4):
        raise ConfigError(f"spikes: expected shape (T, P, B, H) or (T, B, H), got {spikes.shape}")
    if spikes.shape[0] != task.n_steps:
        raise ConfigError(f"spikes: first axis must be time with T = {task.n_steps} steps, "
                          f"got {spikes.shape[0]}")
    if not (np.isfinite(dt_seconds) and dt_seconds > 0):
        raise ConfigError(f"dt_seconds: must be a positive number, got {dt_seconds!r}")
    active = spikes != 0
    reduce_axes = (0, 2, 3) if spikes.ndim == 4 else (0, 1, 2)
    rates = {}
    for name, window in task.windows().items():
        part = active[window]
        if part.shape[0] == 0:
            shape = () if spikes.ndim == 3 else (spikes.shape[1],)
            rate = np.full(shape, np.nan)
        else:
            rate = part.mean(axis=reduce_axes) / dt_seconds
        rates[name] = _finish(rate)
    return rates
