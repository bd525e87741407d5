"""Multi-task control environments (spec section 5.2) on MuJoCo through Gymnasium.

Importing this package registers the families under versioned Gymnasium ids::

    pdlf/HalfCheetahVel-v0  pdlf/AntDir-v0  pdlf/SwimmerDir-v0  pdlf/HopperVel-v0
    pdlf/Fetch-v0           pdlf/Reach-v0

``FAMILIES[name]`` describes a family (id, training and unseen task values, allowed range, sizes);
``make(family, task_value, **kw)`` builds one environment; ``BatchedTaskEnv`` steps many copies of a
family at once with ``mujoco.batch``; ``RunningNorm`` normalises observations with running
statistics (the task value column passes through).
"""
import gymnasium

from pdlf_brian.envs.tasks import (  # noqa: F401
    DEFAULT_EPISODE_STEPS, FAMILIES, HALFCHEETAH_SLOW_VALUES, FamilySpec, get_family, validate_task_value,
)
from pdlf_brian.errors import ConfigError


def register_families():
    """Register every family's id with Gymnasium (idempotent)."""
    for spec in FAMILIES.values():
        if spec.env_id not in gymnasium.registry:
            gymnasium.register(id=spec.env_id, entry_point=spec.entry_point,
                               max_episode_steps=spec.episode_steps)


register_families()


def make(family, task_value=None, max_episode_steps=None, **kwargs):
    """``gymnasium.make`` for a family: ``task_value`` checked against the family's range.

    ``max_episode_steps`` defaults to the family's (1000); other keyword arguments go to the
    environment (e.g. ``ctrl_cost_weight``, ``hit_radius``).
    """
    spec = get_family(family)
    value = validate_task_value(spec, task_value)
    if max_episode_steps is not None:
        if not isinstance(max_episode_steps, int) or max_episode_steps < 1:
            raise ConfigError(f"field 'max_episode_steps': expected a positive integer, got {max_episode_steps!r}")
        kwargs["max_episode_steps"] = max_episode_steps
    if spec.has_task_value:
        kwargs["task_value"] = value
    return gymnasium.make(spec.env_id, **kwargs)


from pdlf_brian.envs.batched import BatchedTaskEnv  # noqa: E402,F401
from pdlf_brian.envs.normalization import RunningNorm  # noqa: E402,F401

__all__ = [
    "FAMILIES", "FamilySpec", "get_family", "validate_task_value", "make", "register_families",
    "BatchedTaskEnv", "RunningNorm", "DEFAULT_EPISODE_STEPS", "HALFCHEETAH_SLOW_VALUES",
]
