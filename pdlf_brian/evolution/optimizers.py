"""Nevergrad optimizers by registry name, sized for one whole generation per ask/tell round."""
import nevergrad as ng
import numpy as np
from nevergrad.optimization.utils import Pruning

from pdlf_brian.evolution.pgpe import ParametrizedPGPE


def make_optimizer(name, dimension, population, generations, seed, options=None):
    """An optimizer over R^dimension started at 0 whose random state is seeded with ``seed``.

    Nevergrad keeps an archive of told points (at 20,000 dimensions a pickled PGPE reached 822 MB
    after 40 generations of 64). Checkpoints need the state, not the history: the archive is pruned
    to its best few points at every tell (the best points are what Nevergrad's own recommendations
    use; PGPE recommends its centre and never reads the archive).
    """
    opt = _make(name, dimension, population, generations, seed, options)
    opt.pruning = Pruning(min_len=1, max_len=4)
    return opt


def _make(name, dimension, population, generations, seed, options):
    param = ng.p.Array(init=np.zeros(dimension))
    param.random_state = np.random.RandomState(seed)
    budget = population * generations
    if name == "PGPE":
        return ParametrizedPGPE(popsize=population, **(options or {}))(param, budget=budget,
                                                                        num_workers=population)
    family = ng.optimizers.registry[name]
    if options:
        raise ValueError(f"optimizer_options are only supported for PGPE, not {name!r}")
    return family(param, budget=budget, num_workers=population)
