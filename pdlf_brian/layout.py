"""Network shape and the layout of a genome: which numbers go to which synapse variable."""
from dataclasses import dataclass

import numpy as np

from pdlf_brian.errors import ConfigError
from pdlf_brian.rule import ResolvedRule, StaticSynapse

LEARNERS = ("plastic", "weights")


@dataclass(frozen=True)
class NetworkShape:
    """Sizes of one network copy: input -> hidden (optionally hidden -> hidden) -> output."""

    n_in: int
    n_hidden: int
    n_out: int
    recurrent: bool = False

    def __post_init__(self):
        for name in ("n_in", "n_hidden", "n_out"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"NetworkShape field {name!r}: expected a positive integer, got {value!r}")

    @property
    def projections(self):
        """``[(name, n_pre, n_post)]`` in genome order."""
        projs = [("in", self.n_in, self.n_hidden)]
        if self.recurrent:
            projs.append(("rec", self.n_hidden, self.n_hidden))
        projs.append(("out", self.n_hidden, self.n_out))
        return projs

    @property
    def n_synapses(self):
        """Synapses in one network copy."""
        return sum(pre * post for _, pre, post in self.projections)


@dataclass(frozen=True)
class GenomeLayout:
    """Maps a flat genome to per-projection, per-variable arrays of shape (n_pre, n_post).

    For a plastic learner a projection holds one block per rule parameter (rate first); for the
    weight-trained learner it holds one block, the weights ``w``.
    """

    shape: NetworkShape
    synapse: object  # ResolvedRule or StaticSynapse

    @property
    def variables(self):
        if isinstance(self.synapse, ResolvedRule):
            return self.synapse.parameters
        if isinstance(self.synapse, StaticSynapse):
            return ("w",)
        raise ConfigError(f"synapse model: expected a ResolvedRule or StaticSynapse, got {self.synapse!r}")

    @property
    def blocks(self):
        """``[(projection, variable, start, stop, (n_pre, n_post))]`` in genome order."""
        out, start = [], 0
        for proj, pre, post in self.shape.projections:
            for var in self.variables:
                out.append((proj, var, start, start + pre * post, (pre, post)))
                start += pre * post
        return out

    @property
    def size(self):
        return self.blocks[-1][3]

    def check(self, genomes, n_individuals):
        """Return ``genomes`` as a float64 array of shape (n_individuals, size) or raise `ConfigError`."""
        genomes = np.asarray(genomes, dtype=np.float64)
        expected = (n_individuals, self.size)
        if genomes.shape != expected:
            raise ConfigError(
                f"genomes: expected shape {expected} (individuals x genome size: "
                f"{len(self.variables)} variable(s) x {self.shape.n_synapses} synapses), got {genomes.shape}"
            )
        bad = ~np.isfinite(genomes)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ConfigError(
                f"genomes: {int(bad.sum())} value(s) are NaN or infinite, first at individual {row}, "
                f"genome index {col} ({self.describe(col)}); all values must be finite"
            )
        return genomes

    def describe(self, index):
        for proj, var, start, stop, (pre, post) in self.blocks:
            if start <= index < stop:
                i, j = divmod(index - start, post)
                return f"projection {proj!r}, variable {var!r}, synapse {i}->{j}"
        return "out of range"

    def split(self, genomes):
        """``{(projection, variable): array (P, n_pre, n_post)}`` views into ``genomes``."""
        genomes = np.asarray(genomes)
        return {
            (proj, var): genomes[:, start:stop].reshape(len(genomes), *shp)
            for proj, var, start, stop, shp in self.blocks
        }


def check_inputs(inputs, n_steps, n_individuals, batch, n_in):
    """Return open-loop ``inputs`` as a float64 array (T, P, B, n_in), or raise `ConfigError`.

    ``(T, P*B, n_in)`` is accepted too. ``n_steps`` None takes T from the inputs.
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    T = len(inputs) if n_steps is None else n_steps
    expected = (T, n_individuals, batch, n_in)
    if inputs.shape == (T, n_individuals * batch, n_in):
        inputs = inputs.reshape(expected)
    if inputs.shape != expected:
        raise ConfigError(f"inputs: expected shape {expected} (steps, individuals, batch, n_in) "
                          f"or {(T, n_individuals * batch, n_in)}, got {inputs.shape}")
    if not np.all(np.isfinite(inputs)):
        raise ConfigError("inputs: all values must be finite (found NaN or inf)")
    return inputs
