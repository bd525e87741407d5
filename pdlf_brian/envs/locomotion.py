"""Locomotion task families on Gymnasium's v5 MuJoCo environments (their XML as shipped).

Each class subclasses the v5 environment and keeps its physics, reset noise, health check and
observation; it replaces the reward with the family's and appends the task value as the last
observation. Rewards are computed in float64 (the v5 classes square float32 actions in float32).
"""
import numpy as np
from gymnasium import utils
from gymnasium.envs.mujoco.ant_v5 import AntEnv
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from gymnasium.envs.mujoco.hopper_v5 import HopperEnv
from gymnasium.envs.mujoco.swimmer_v5 import SwimmerEnv
from gymnasium.spaces import Box

from pdlf_brian.envs.tasks import validate_task_value


def _ctrl_cost(weight, action):
    a = np.asarray(action, dtype=np.float64)
    return weight * np.sum(np.square(a))


class _TaskValueMixin:
    """Holds the task value, appends it to observations, accepts ``options={"task_value": v}``;
    builds the v5 environment ``base_env`` and computes its control cost in float64."""

    family = None
    base_env = None

    def __init__(self, task_value=None, **kwargs):
        self._init_task(task_value)
        kwargs = self._base_kwargs(kwargs)
        self.base_env.__init__(self, **kwargs)
        utils.EzPickle.__init__(self, task_value=task_value, **kwargs)
        self._extend_observation_space(1)

    def _base_kwargs(self, kwargs):
        return kwargs

    def control_cost(self, action):
        return _ctrl_cost(self._ctrl_cost_weight, action)

    def _get_obs(self):
        return self._with_task(super()._get_obs())

    def _init_task(self, task_value):
        self.task_value = validate_task_value(self.family, task_value)

    def _extend_observation_space(self, extra):
        n = self.observation_space.shape[0] + extra
        self.observation_space = Box(low=-np.inf, high=np.inf, shape=(n,), dtype=np.float64)

    def _with_task(self, obs):
        return np.append(obs, self.task_value)

    def reset(self, *, seed=None, options=None):
        if options and "task_value" in options:
            self.task_value = validate_task_value(self.family, options["task_value"])
        return super().reset(seed=seed, options=options)


class HalfCheetahVelEnv(_TaskValueMixin, HalfCheetahEnv):
    r"""
    ## Description
    HalfCheetah-v5 (the 2-D cheetah of Wawrzynski's "A Cat-Like Robot Real-Time Learning to Run",
    Gymnasium's ``half_cheetah.xml`` as shipped) asked to run forward at a target speed ``v*``, the
    task value. One environment is one task; the family ``halfcheetah_vel`` has eight training
    targets ``1 + 9k/8`` m/s (k = 0..7) and 72 unseen targets inside [1, 8.875].

    ## Action Space
    ``Box(-1, 1, (6,), float32)``: torques on the back thigh, shin, foot and front thigh, shin,
    foot hinges, as in HalfCheetah-v5.

    ## Observation Space
    ``Box(-inf, inf, (18,), float64)``: HalfCheetah-v5's 17 observations (``qpos[1:]``, ``qvel``)
    followed by the target speed ``v*`` in m/s, unnormalised (index 17).

    ## Rewards
    ``reward = -|v - v*| - ctrl_cost_weight * sum(action**2)``, where ``v`` is the forward velocity
    of the root over the step, ``(x_after - x_before) / dt``, as in HalfCheetah-v5's
    ``info["x_velocity"]``. ``info`` has ``reward_velocity`` (= ``-|v - v*|``), ``reward_ctrl``,
    ``x_velocity``, ``x_position`` and ``task_value``.

    ## Starting State
    As HalfCheetah-v5: ``qpos`` uniform noise ``[-0.1, 0.1]``, ``qvel`` standard normal noise times 0.1.

    ## Episode End
    No termination. Truncation after ``max_episode_steps`` (1000 by default, TimeLimit).

    ## Arguments
    ``task_value`` (float in [0, 10], default 1.0): the target speed; also settable at reset with
    ``options={"task_value": v}``. All HalfCheetah-v5 arguments (``ctrl_cost_weight=0.1``,
    ``reset_noise_scale=0.1``, ``frame_skip=5``, ...) are passed on;
    ``forward_reward_weight`` is unused.

    ## Version History
    * v0: initial version (HalfCheetah-v5 physics, Gymnasium 1.4, MuJoCo 4.0).
    """

    family = "halfcheetah_vel"
    base_env = HalfCheetahEnv

    def step(self, action):
        x_before = self.data.qpos[0]
        self.do_simulation(action, self.frame_skip)
        x_after = self.data.qpos[0]
        x_velocity = (x_after - x_before) / self.dt
        reward_velocity = -abs(x_velocity - self.task_value)
        ctrl_cost = self.control_cost(action)
        reward = reward_velocity - ctrl_cost
        info = {
            "x_position": x_after, "x_velocity": x_velocity, "reward_velocity": reward_velocity,
            "reward_ctrl": -ctrl_cost, "task_value": self.task_value,
        }
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), reward, False, False, info


class HopperVelEnv(_TaskValueMixin, HopperEnv):
    r"""
    ## Description
    Hopper-v5 (Gymnasium's ``hopper.xml`` as shipped) asked to hop forward at a target speed ``v*``,
    the task value. Family ``hopper_vel``: training targets ``2.1k/8`` m/s (k = 0..7, 0 .. 1.8375)
    and 72 unseen targets inside that range.

    ## Action Space
    ``Box(-1, 1, (3,), float32)``: torques on the thigh, leg and foot hinges, as in Hopper-v5.

    ## Observation Space
    ``Box(-inf, inf, (12,), float64)``: Hopper-v5's 11 observations (``qpos[1:]``, ``qvel`` clipped to
    +-10) followed by ``v*`` in m/s, unnormalised (index 11).

    ## Rewards
    ``reward = -|v - v*| + healthy_reward * is_healthy - ctrl_cost_weight * sum(action**2)`` with
    ``v = (x_after - x_before) / dt`` (Hopper-v5's ``info["x_velocity"]``). ``info`` has
    ``reward_velocity``, ``reward_survive``, ``reward_ctrl``, ``x_velocity``, ``x_position``,
    ``z_distance_from_origin``, ``task_value``.

    ## Starting State
    As Hopper-v5: uniform noise ``[-0.005, 0.005]`` on ``qpos`` and ``qvel``.

    ## Episode End
    Terminated when Hopper-v5 says unhealthy (state out of [-100, 100], height <= 0.7, or torso angle
    outside (-0.2, 0.2)), unless ``terminate_when_unhealthy=False``. Truncated after
    ``max_episode_steps`` (1000 by default).

    ## Arguments
    ``task_value`` (float in [0, 2.1], default 0.0), also ``options={"task_value": v}`` at reset; all
    Hopper-v5 arguments (``healthy_reward=1.0``, ``ctrl_cost_weight=0.001``, ...) are passed on.

    ## Version History
    * v0: initial version (Hopper-v5 physics, Gymnasium 1.4, MuJoCo 4.0).
    """

    family = "hopper_vel"
    base_env = HopperEnv

    def step(self, action):
        x_before = self.data.qpos[0]
        self.do_simulation(action, self.frame_skip)
        x_after = self.data.qpos[0]
        x_velocity = (x_after - x_before) / self.dt
        reward_velocity = -abs(x_velocity - self.task_value)
        healthy = self.is_healthy
        healthy_reward = float(healthy) * self._healthy_reward
        ctrl_cost = self.control_cost(action)
        reward = reward_velocity + healthy_reward - ctrl_cost
        terminated = (not healthy) and self._terminate_when_unhealthy
        info = {
            "x_position": x_after, "z_distance_from_origin": self.data.qpos[1] - self.init_qpos[1],
            "x_velocity": x_velocity, "reward_velocity": reward_velocity,
            "reward_survive": healthy_reward, "reward_ctrl": -ctrl_cost, "task_value": self.task_value,
        }
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), reward, terminated, False, info


class SwimmerDirEnv(_TaskValueMixin, SwimmerEnv):
    r"""
    ## Description
    Swimmer-v5 (Gymnasium's ``swimmer.xml`` as shipped: three links in a viscous plane) asked to swim
    in direction ``theta`` (radians, the task value, 0 = +x, pi/2 = +y). Family ``swimmer_dir``:
    training directions ``-pi + k pi/4`` (k = 0..7) and 72 unseen directions on the grid of 80.

    ## Action Space
    ``Box(-1, 1, (2,), float32)``: torques on the two rotors, as in Swimmer-v5.

    ## Observation Space
    ``Box(-inf, inf, (9,), float64)``: Swimmer-v5's 8 observations (``qpos[2:]``, ``qvel``) followed by
    ``theta``, unnormalised (index 8). The heading ``qpos[2]`` is part of the observation, so the
    direction can be related to the body.

    ## Rewards
    ``reward = cos(theta) v_x + sin(theta) v_y - ctrl_cost_weight * sum(action**2)``, with
    ``(v_x, v_y)`` Swimmer-v5's ``info["x_velocity"], info["y_velocity"]``. ``info`` adds
    ``reward_direction``, ``reward_ctrl`` and ``task_value``.

    ## Starting State
    As Swimmer-v5: uniform noise ``[-0.1, 0.1]`` on ``qpos`` and ``qvel``.

    ## Episode End
    No termination; truncated after ``max_episode_steps`` (1000 by default).

    ## Arguments
    ``task_value`` (float in [-pi, pi], default -pi), also ``options={"task_value": v}`` at reset;
    all Swimmer-v5 arguments (``ctrl_cost_weight=1e-4``, ...) are passed on.

    ## Version History
    * v0: initial version (Swimmer-v5 physics, Gymnasium 1.4, MuJoCo 4.0).
    """

    family = "swimmer_dir"
    base_env = SwimmerEnv

    def step(self, action):
        xy_before = self.data.qpos[0:2].copy()
        self.do_simulation(action, self.frame_skip)
        xy_after = self.data.qpos[0:2].copy()
        x_velocity, y_velocity = (xy_after - xy_before) / self.dt
        reward_direction = np.cos(self.task_value) * x_velocity + np.sin(self.task_value) * y_velocity
        ctrl_cost = self.control_cost(action)
        reward = reward_direction - ctrl_cost
        info = {
            "x_position": xy_after[0], "y_position": xy_after[1],
            "x_velocity": x_velocity, "y_velocity": y_velocity, "reward_direction": reward_direction,
            "reward_ctrl": -ctrl_cost, "task_value": self.task_value,
        }
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), reward, False, False, info


def _ant_kwargs(kwargs):
    # The batched path cannot compute cfrc_ext (mj_rnePostConstraint), so contact forces are left
    # out of the observation and the contact cost is off by default (the spec's reward has none).
    kwargs.setdefault("include_cfrc_ext_in_observation", False)
    kwargs.setdefault("contact_cost_weight", 0.0)
    return kwargs


class AntDirEnv(_TaskValueMixin, AntEnv):
    r"""
    ## Description
    Ant-v5 (Gymnasium's ``ant.xml`` as shipped: a quadruped with 8 hinges) asked to walk in direction
    ``theta`` (radians, the task value, 0 = +x, pi/2 = +y). Family ``ant_dir``: training
    directions ``-pi + k pi/4`` (k = 0..7) and 72 unseen directions on the grid of 80.

    ## Action Space
    ``Box(-1, 1, (8,), float32)``: hip and ankle torques of the four legs, as in Ant-v5.

    ## Observation Space
    ``Box(-inf, inf, (28,), float64)``: Ant-v5's observation without contact forces (``qpos[2:]``,
    13, and ``qvel``, 14; ``include_cfrc_ext_in_observation=False``) followed by ``theta``,
    unnormalised (index 27).

    ## Rewards
    ``reward = cos(theta) v_x + sin(theta) v_y + healthy_reward * is_healthy
    - ctrl_cost_weight * sum(action**2) - contact_cost``, with ``(v_x, v_y)`` the torso's
    displacement over the step divided by ``dt``, taken from its free joint (``qpos[0:2]``, the
    state itself; Ant-v5 reads the torso body's ``xpos``, a derived field that the batched path
    would have to copy out of every simulation).
    ``contact_cost_weight`` defaults to 0 here (the spec's reward has no contact term; with it
    non-zero only the single-environment path works). ``info`` adds ``reward_direction``,
    ``reward_survive``, ``reward_ctrl``, ``reward_contact``, ``task_value``.

    ## Starting State
    As Ant-v5: ``qpos`` uniform noise ``[-0.1, 0.1]``, ``qvel`` standard normal noise times 0.1.

    ## Episode End
    Terminated when Ant-v5 says unhealthy (non-finite state or torso height outside [0.2, 1.0]),
    unless ``terminate_when_unhealthy=False``; truncated after ``max_episode_steps`` (1000).

    ## Arguments
    ``task_value`` (float in [-pi, pi], default -pi), also ``options={"task_value": v}`` at reset;
    all Ant-v5 arguments (``healthy_reward=1.0``, ``ctrl_cost_weight=0.5``, ...) are passed on, with
    ``include_cfrc_ext_in_observation=False`` and ``contact_cost_weight=0.0`` as defaults.

    ## Version History
    * v0: initial version (Ant-v5 physics, Gymnasium 1.4, MuJoCo 4.0).
    """

    family = "ant_dir"
    base_env = AntEnv

    def _base_kwargs(self, kwargs):
        return _ant_kwargs(kwargs)

    def step(self, action):
        xy_before = self.data.qpos[0:2].copy()
        self.do_simulation(action, self.frame_skip)
        xy_after = self.data.qpos[0:2].copy()
        x_velocity, y_velocity = (xy_after - xy_before) / self.dt
        reward_direction = np.cos(self.task_value) * x_velocity + np.sin(self.task_value) * y_velocity
        healthy = self.is_healthy
        healthy_reward = float(healthy) * self._healthy_reward
        ctrl_cost = self.control_cost(action)
        contact_cost = self.contact_cost if self._contact_cost_weight else 0.0
        reward = reward_direction + healthy_reward - ctrl_cost - contact_cost
        terminated = (not healthy) and self._terminate_when_unhealthy
        info = {
            "x_position": self.data.qpos[0], "y_position": self.data.qpos[1],
            "x_velocity": x_velocity, "y_velocity": y_velocity, "reward_direction": reward_direction,
            "reward_survive": healthy_reward, "reward_ctrl": -ctrl_cost, "reward_contact": -contact_cost,
            "task_value": self.task_value,
        }
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), reward, terminated, False, info


def heading_frame(dx, dy, quat):
    """World displacement(s) ``(dx, dy)`` in the yaw frame of a body with quaternion(s) ``quat``
    (w, x, y, z; last axis). Works on scalars and arrays."""
    w, x, y, z = (quat[..., i] for i in range(4))
    yaw = np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    c, s = np.cos(yaw), np.sin(yaw)
    return c * dx + s * dy, -s * dx + c * dy


class FetchEnv(AntEnv):
    r"""
    ## Description
    Fetch: the Ant-v5 quadruped (Gymnasium's ``ant.xml`` as shipped) runs to a target on the floor.
    When the torso comes within ``hit_radius`` of the target (a hit), a new target is drawn at a
    random angle and a distance in ``target_distance`` from the torso. No task value: the task is
    the current target, which the agent sees in its own (heading) frame.

    ## Action Space
    ``Box(-1, 1, (8,), float32)``: hip and ankle torques, as in Ant-v5.

    ## Observation Space
    ``Box(-inf, inf, (29,), float64)``: Ant-v5's ``qpos[2:]`` (13) and ``qvel`` (14), then the target
    relative to the torso rotated into the torso's yaw frame (forward, left), in metres.

    ## Rewards
    ``reward = (d_before - d_after) / dt + healthy_reward * is_healthy
    - ctrl_cost_weight * sum(action**2) + hit_bonus * hit``, where ``d`` is the horizontal distance from
    the torso (``qpos[0:2]``) to the current target, so the first term is the speed towards it.
    ``info``: ``reward_progress``, ``reward_survive``, ``reward_ctrl``, ``reward_hit``, ``hit``,
    ``hits`` (count this episode), ``target`` (world xy), ``distance``.

    ## Starting State
    As Ant-v5 (``qpos`` uniform noise [-0.1, 0.1], ``qvel`` normal noise times 0.1), then a first
    target drawn with the environment's random generator (angle uniform in [-pi, pi), distance
    uniform in ``target_distance``).

    ## Episode End
    Terminated when Ant-v5 says unhealthy; truncated after ``max_episode_steps`` (1000).

    ## Arguments
    ``target_distance=(2.0, 5.0)``, ``hit_radius=0.5``, ``hit_bonus=5.0``; Ant-v5 arguments
    (``healthy_reward=1.0``, ``ctrl_cost_weight=0.5``, ...) are passed on, with contact forces off
    (``include_cfrc_ext_in_observation=False``, ``contact_cost_weight=0``; the contact cost is never
    applied here).

    ## Version History
    * v0: initial version (Ant-v5 physics, Gymnasium 1.4, MuJoCo 4.0).
    """

    family = "fetch"

    def __init__(self, target_distance=(2.0, 5.0), hit_radius=0.5, hit_bonus=5.0, task_value=None, **kwargs):
        validate_task_value(self.family, task_value)
        kwargs = _ant_kwargs(kwargs)
        self._target_distance = (float(target_distance[0]), float(target_distance[1]))
        self._hit_radius = float(hit_radius)
        self._hit_bonus = float(hit_bonus)
        self._target = np.zeros(2)
        self._hits = 0
        AntEnv.__init__(self, **kwargs)
        utils.EzPickle.__init__(self, target_distance=target_distance, hit_radius=hit_radius,
                                hit_bonus=hit_bonus, **kwargs)
        self.task_value = None
        n = self.observation_space.shape[0] + 2
        self.observation_space = Box(low=-np.inf, high=np.inf, shape=(n,), dtype=np.float64)

    def control_cost(self, action):
        return _ctrl_cost(self._ctrl_cost_weight, action)

    def _draw_target(self):
        angle = self.np_random.uniform(-np.pi, np.pi)
        distance = self.np_random.uniform(*self._target_distance)
        self._target = self.data.qpos[0:2] + distance * np.array([np.cos(angle), np.sin(angle)])

    def _get_obs(self):
        base = super()._get_obs()
        d = self._target - self.data.qpos[0:2]
        fwd, left = heading_frame(d[0], d[1], self.data.qpos[3:7])
        return np.concatenate((base, [fwd, left]))

    def reset_model(self):
        super().reset_model()
        self._draw_target()
        self._hits = 0
        return self._get_obs()

    def step(self, action):
        d_before = self._target - self.data.qpos[0:2]
        dist_before = np.hypot(d_before[0], d_before[1])
        self.do_simulation(action, self.frame_skip)
        d_after = self._target - self.data.qpos[0:2]
        dist_after = np.hypot(d_after[0], d_after[1])
        progress = (dist_before - dist_after) / self.dt
        healthy = self.is_healthy
        healthy_reward = float(healthy) * self._healthy_reward
        ctrl_cost = self.control_cost(action)
        hit = bool(dist_after < self._hit_radius)
        reward_hit = self._hit_bonus * hit
        reward = progress + healthy_reward - ctrl_cost + reward_hit
        target = self._target.copy()
        if hit:
            self._hits += 1
            self._draw_target()
        terminated = (not healthy) and self._terminate_when_unhealthy
        info = {
            "x_position": self.data.qpos[0], "y_position": self.data.qpos[1],
            "reward_progress": progress, "reward_survive": healthy_reward, "reward_ctrl": -ctrl_cost,
            "reward_hit": reward_hit, "hit": hit, "hits": self._hits, "target": target,
            "distance": dist_after,
        }
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), reward, terminated, False, info

    def _get_reset_info(self):
        info = super()._get_reset_info()
        info["target"] = self._target.copy()
        return info
