"""The task families of the multi-task control protocol (spec section 5.2): ids, task values, ranges.

Each family is one Gymnasium environment id; its *task value* (a direction or a target speed) is a
constructor argument (and a ``reset`` option) and is appended, unnormalised, as the last observation.
``fetch`` and ``reach`` have no task value: their task is the current target, which is redrawn on each
hit and is part of the observation.

Task values:

* ``ant_dir``, ``swimmer_dir``: direction ``theta`` in radians, training ``-pi + k pi/4`` (k = 0..7),
  allowed range ``[-pi, pi]``. The 72 unseen directions are the other points of the grid of 80
  directions ``-pi + j 2pi/80`` (every tenth of them is a training direction), so they are evenly
  spaced round the circle.
* ``halfcheetah_vel``: target forward speed ``1 + 9k/8`` m/s (k = 0..7: 1.0 .. 8.875), as in the spec.
  HalfCheetah-v5 can reach these: trained RL agents (SAC, TD3) run it at 10-12 m/s (returns of
  10,000-12,000 over 1,000 steps). Allowed range ``[0, 10]``. A prototype trained with targets
  0.25-2.0 because ES budgets were small; the spec's set is kept here and the prototype's set is
  available as ``HALFCHEETAH_SLOW_VALUES``.
* ``hopper_vel``: target forward speed ``2.1k/8`` m/s (k = 0..7: 0.0 .. 1.8375), as in the spec;
  Hopper-v5 is run at 3+ m/s by trained agents. Allowed range ``[0, 2.1]`` (k = 8 of the formula).
* Unseen velocity targets: 72 values ``linspace(lo, hi, 74)[1:-1]`` strictly inside the training
  range; since 73 is prime none of them equals a training value.
"""
from dataclasses import dataclass, field

import numpy as np

from pdlf_brian.errors import ConfigError

DEFAULT_EPISODE_STEPS = 1000
N_UNSEEN = 72


@dataclass(frozen=True)
class FamilySpec:
    """One task family: its environment id, task values and sizes.

    ``task_name`` is None for families without a task value (``fetch``, ``reach``); then
    ``training_values`` and ``unseen_values`` are empty and ``value_range`` is None.
    ``obs_dim`` counts the task value column (last) when there is one.
    """

    name: str
    env_id: str
    entry_point: str
    base_env: str
    task_name: str | None
    training_values: tuple = ()
    unseen_values: tuple = ()
    value_range: tuple | None = None
    obs_dim: int = 0
    act_dim: int = 0
    episode_steps: int = DEFAULT_EPISODE_STEPS
    range_note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def has_task_value(self):
        return self.task_name is not None

    @property
    def n_task_obs(self):
        """Number of trailing observation columns that carry the task value (0 or 1)."""
        return 1 if self.has_task_value else 0

    @property
    def training_range(self):
        if not self.training_values:
            return None
        return (min(self.training_values), max(self.training_values))

    @property
    def default_task_value(self):
        return self.training_values[0] if self.training_values else None

    def validate(self, task_value):
        """Return ``task_value`` as a float (or None), raising ConfigError when it is not allowed."""
        return validate_task_value(self.name, task_value)


def _directions():
    train = tuple(float(-np.pi + k * np.pi / 4) for k in range(8))
    grid = [-np.pi + j * 2 * np.pi / 80 for j in range(80)]
    unseen = tuple(float(v) for j, v in enumerate(grid) if j % 10 != 0)
    assert len(unseen) == N_UNSEEN
    return train, unseen


def _speeds(values):
    train = tuple(float(v) for v in values)
    unseen = tuple(float(v) for v in np.linspace(min(train), max(train), N_UNSEEN + 2)[1:-1])
    return train, unseen


_DIR_TRAIN, _DIR_UNSEEN = _directions()
_HC_TRAIN, _HC_UNSEEN = _speeds([1 + 9 * k / 8 for k in range(8)])
_HOP_TRAIN, _HOP_UNSEEN = _speeds([2.1 * k / 8 for k in range(8)])
HALFCHEETAH_SLOW_VALUES = tuple(float(v) for v in np.linspace(0.25, 2.0, 8))

FAMILIES = {
    "halfcheetah_vel": FamilySpec(
        name="halfcheetah_vel", env_id="pdlf/HalfCheetahVel-v0",
        entry_point="pdlf_brian.envs.locomotion:HalfCheetahVelEnv", base_env="HalfCheetah-v5",
        task_name="target_velocity", training_values=_HC_TRAIN, unseen_values=_HC_UNSEEN,
        value_range=(0.0, 10.0), obs_dim=18, act_dim=6,
        range_note="spec targets 1 + 9k/8 m/s; HalfCheetah-v5 is run at 10-12 m/s by trained agents",
    ),
    "ant_dir": FamilySpec(
        name="ant_dir", env_id="pdlf/AntDir-v0",
        entry_point="pdlf_brian.envs.locomotion:AntDirEnv", base_env="Ant-v5",
        task_name="direction", training_values=_DIR_TRAIN, unseen_values=_DIR_UNSEEN,
        value_range=(-np.pi, np.pi), obs_dim=28, act_dim=8,
        range_note="directions -pi + k pi/4; any direction is reachable",
    ),
    "swimmer_dir": FamilySpec(
        name="swimmer_dir", env_id="pdlf/SwimmerDir-v0",
        entry_point="pdlf_brian.envs.locomotion:SwimmerDirEnv", base_env="Swimmer-v5",
        task_name="direction", training_values=_DIR_TRAIN, unseen_values=_DIR_UNSEEN,
        value_range=(-np.pi, np.pi), obs_dim=9, act_dim=2,
        range_note="directions -pi + k pi/4; the swimmer can turn (free rotation joint)",
    ),
    "hopper_vel": FamilySpec(
        name="hopper_vel", env_id="pdlf/HopperVel-v0",
        entry_point="pdlf_brian.envs.locomotion:HopperVelEnv", base_env="Hopper-v5",
        task_name="target_velocity", training_values=_HOP_TRAIN, unseen_values=_HOP_UNSEEN,
        value_range=(0.0, 2.1), obs_dim=12, act_dim=3,
        range_note="spec targets 2.1k/8 m/s; Hopper-v5 is run at 3+ m/s by trained agents",
    ),
    "fetch": FamilySpec(
        name="fetch", env_id="pdlf/Fetch-v0",
        entry_point="pdlf_brian.envs.locomotion:FetchEnv", base_env="Ant-v5",
        task_name=None, obs_dim=29, act_dim=8,
        range_note="no task value: targets are redrawn on each hit and observed in the torso frame",
    ),
    "reach": FamilySpec(
        name="reach", env_id="pdlf/Reach-v0",
        entry_point="pdlf_brian.envs.reach:ReachEnv", base_env="Pusher-v5 (arm model)",
        task_name=None, obs_dim=20, act_dim=7,
        range_note="no task value: targets are redrawn on each hit and observed relative to the tip",
    ),
}


def get_family(family):
    """The FamilySpec of ``family``, or ConfigError naming the allowed families."""
    if isinstance(family, FamilySpec):
        return family
    try:
        return FAMILIES[family]
    except (KeyError, TypeError):
        raise ConfigError(
            f"task family {family!r} is unknown; field 'family' must be one of {sorted(FAMILIES)}"
        ) from None


def validate_task_value(family, task_value):
    """Check ``task_value`` against ``family``'s allowed range; return it as a float (or None)."""
    spec = get_family(family)
    if not spec.has_task_value:
        if task_value is not None:
            raise ConfigError(
                f"field 'task_value' of family {spec.name!r}: this family has no task value "
                f"(targets are drawn at random), expected None, got {task_value!r}"
            )
        return None
    if task_value is None:
        return float(spec.default_task_value)
    lo, hi = spec.value_range
    try:
        value = float(task_value)
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value) or not (lo <= value <= hi):
        raise ConfigError(
            f"field 'task_value' ({spec.task_name}) of family {spec.name!r}: {task_value!r} is outside "
            f"the allowed range [{lo:.6g}, {hi:.6g}]; training values are "
            f"{[round(v, 6) for v in spec.training_values]}"
        )
    return value
