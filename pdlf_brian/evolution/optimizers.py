"""Nevergrad optimizers by registry name, sized for one whole generation per ask/tell round."""
import nevergrad as ng
import numpy as np

from pdlf_brian.evolution.pgpe import ParametrizedPGPE


def make_optimizer(name, dimension, population, generations, seed, options=None):
    """An optimizer over R^dimension started at 0 whose random state is seeded with ``seed``."""
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
