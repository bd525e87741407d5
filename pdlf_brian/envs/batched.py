"""Many copies of one task family stepped at once on ``mujoco.batch`` (numpy arrays in and out).

``BatchedTaskEnv(family, n)`` holds ``n`` simulations of the family's model in one
``mujoco.batch.Batch`` (a thread pool over MjData rows). Each copy has its own task value and its own
random generator, seeded like the registered environment's (``gymnasium.utils.seeding.np_random``),
so that a copy reset with seed ``s`` and task value ``v`` follows the same trajectory, step by step,
as ``make(family, v).reset(seed=s)`` given the same actions (``tests/test_envs.py`` checks this).

Episodes follow Gymnasium's rules: a copy whose episode terminated (unhealthy Hopper/Ant) or was
truncated (``max_episode_steps``) is done; it is no longer stepped, its reward is 0 and its
observation is frozen until the next ``reset``. Only live copies count steps.

Observations, rewards, health checks and target redraws are computed here with vectorised numpy,
independently of the single-environment classes, from the same formulas. Measured (MuJoCo 4.0.0,
Gymnasium 1.4.0, nthread 2): over 200 random-action steps of every family the observations,
rewards and termination flags are bit-identical to the registered environments' (largest
difference 0.0); the tests allow 1e-9.
"""
import importlib

import mujoco
import mujoco.batch
import numpy as np
from gymnasium.utils import seeding

from pdlf_brian.envs import reach as _reach
from pdlf_brian.envs.locomotion import heading_frame
from pdlf_brian.envs.tasks import get_family, validate_task_value
from pdlf_brian.errors import ConfigError


def _env_class(spec):
    module, name = spec.entry_point.split(":")
    return getattr(importlib.import_module(module), name)


def _ctrl_cost(weight, actions):
    return weight * np.sum(np.square(actions), axis=1)


class _Kernel:
    """Family-specific parts of the batched step. ``env`` is a template single environment whose
    settings (weights, ranges, noise) are read, so both paths share one configuration."""

    stage = mujoco.mjtStage.mjSTAGE_NONE  # stages computed after each step
    needs_xpos = False

    def __init__(self, env, batch):
        self.env = env
        self.batch = batch
        self.n = batch.nsim
        self.qpos = batch.bind("qpos")
        self.qvel = batch.bind("qvel")
        self.xpos = batch.bind("xpos") if self.needs_xpos else None
        self.init_qpos = env.init_qpos.copy()
        self.init_qvel = env.init_qvel.copy()
        self.nq, self.nv = env.model.nq, env.model.nv
        self.dt = env.dt
        if getattr(env, "_exclude_current_positions_from_observation", True) is not True:
            raise ConfigError("field 'exclude_current_positions_from_observation': the batched path "
                              "supports only True (the default)")

    # reset ---------------------------------------------------------------------------------
    def draw_reset(self, rng):
        """(qpos, qvel) drawn with ``rng`` exactly as the environment's ``reset_model``."""
        s = self.env._reset_noise_scale
        qpos = self.init_qpos + rng.uniform(low=-s, high=s, size=self.nq)
        qvel = self.init_qvel + s * rng.standard_normal(self.nv)
        return qpos, qvel

    def after_reset(self, ids, rngs):
        """Per-copy work after the reset state is in place (targets)."""

    # step ----------------------------------------------------------------------------------
    def before_step(self, ids):
        return None

    def after_step(self, ids, actions, pre, task_values, rngs):
        """Return (reward, terminated, info) for the copies ``ids`` after their step."""
        raise NotImplementedError

    def observe(self, ids, task_values):
        raise NotImplementedError


class _HalfCheetahVel(_Kernel):
    def before_step(self, ids):
        return self.qpos[ids, 0].copy()

    def after_step(self, ids, actions, x_before, task_values, rngs):
        x_after = self.qpos[ids, 0]
        v = (x_after - x_before) / self.dt
        r_vel = -np.abs(v - task_values)
        ctrl = _ctrl_cost(self.env._ctrl_cost_weight, actions)
        info = {"x_velocity": v, "reward_velocity": r_vel, "reward_ctrl": -ctrl}
        return r_vel - ctrl, np.zeros(len(ids), bool), info

    def observe(self, ids, task_values):
        return np.concatenate((self.qpos[ids, 1:], self.qvel[ids], task_values[:, None]), axis=1)


class _HopperVel(_Kernel):
    def draw_reset(self, rng):
        s = self.env._reset_noise_scale
        qpos = self.init_qpos + rng.uniform(low=-s, high=s, size=self.nq)
        qvel = self.init_qvel + rng.uniform(low=-s, high=s, size=self.nv)
        return qpos, qvel

    def before_step(self, ids):
        return self.qpos[ids, 0].copy()

    def healthy(self, ids):
        e = self.env
        qpos, qvel = self.qpos[ids], self.qvel[ids]
        state = np.concatenate((qpos[:, 2:], qvel), axis=1)
        lo, hi = e._healthy_state_range
        ok_state = np.all((lo < state) & (state < hi), axis=1)
        z, angle = qpos[:, 1], qpos[:, 2]
        ok_z = (e._healthy_z_range[0] < z) & (z < e._healthy_z_range[1])
        ok_angle = (e._healthy_angle_range[0] < angle) & (angle < e._healthy_angle_range[1])
        return ok_state & ok_z & ok_angle

    def after_step(self, ids, actions, x_before, task_values, rngs):
        e = self.env
        x_after = self.qpos[ids, 0]
        v = (x_after - x_before) / self.dt
        r_vel = -np.abs(v - task_values)
        healthy = self.healthy(ids)
        r_survive = healthy.astype(np.float64) * e._healthy_reward
        ctrl = _ctrl_cost(e._ctrl_cost_weight, actions)
        terminated = ~healthy & bool(e._terminate_when_unhealthy)
        info = {"x_velocity": v, "reward_velocity": r_vel, "reward_survive": r_survive, "reward_ctrl": -ctrl}
        return r_vel + r_survive - ctrl, terminated, info

    def observe(self, ids, task_values):
        return np.concatenate((self.qpos[ids, 1:], np.clip(self.qvel[ids], -10, 10), task_values[:, None]), axis=1)


class _SwimmerDir(_Kernel):
    def draw_reset(self, rng):
        s = self.env._reset_noise_scale
        qpos = self.init_qpos + rng.uniform(low=-s, high=s, size=self.nq)
        qvel = self.init_qvel + rng.uniform(low=-s, high=s, size=self.nv)
        return qpos, qvel

    def before_step(self, ids):
        return self.qpos[ids, 0:2].copy()

    def after_step(self, ids, actions, xy_before, task_values, rngs):
        vel = (self.qpos[ids, 0:2] - xy_before) / self.dt
        r_dir = np.cos(task_values) * vel[:, 0] + np.sin(task_values) * vel[:, 1]
        ctrl = _ctrl_cost(self.env._ctrl_cost_weight, actions)
        info = {"x_velocity": vel[:, 0], "y_velocity": vel[:, 1], "reward_direction": r_dir, "reward_ctrl": -ctrl}
        return r_dir - ctrl, np.zeros(len(ids), bool), info

    def observe(self, ids, task_values):
        return np.concatenate((self.qpos[ids, 2:], self.qvel[ids], task_values[:, None]), axis=1)


class _AntBase(_Kernel):
    def __init__(self, env, batch):
        if env._include_cfrc_ext_in_observation or env._contact_cost_weight:
            raise ConfigError("fields 'include_cfrc_ext_in_observation' and 'contact_cost_weight': the batched "
                              "path has no contact forces (cfrc_ext); use False and 0.0 (the defaults)")
        super().__init__(env, batch)

    def healthy(self, ids):
        qpos, qvel = self.qpos[ids], self.qvel[ids]
        finite = np.isfinite(qpos).all(axis=1) & np.isfinite(qvel).all(axis=1)
        lo, hi = self.env._healthy_z_range
        return finite & (lo <= qpos[:, 2]) & (qpos[:, 2] <= hi)

    def survive_ctrl(self, ids, actions):
        e = self.env
        healthy = self.healthy(ids)
        r_survive = healthy.astype(np.float64) * e._healthy_reward
        ctrl = _ctrl_cost(e._ctrl_cost_weight, actions)
        terminated = ~healthy & bool(e._terminate_when_unhealthy)
        return r_survive, ctrl, terminated


class _AntDir(_AntBase):
    def before_step(self, ids):
        return self.qpos[ids, 0:2].copy()

    def after_step(self, ids, actions, xy_before, task_values, rngs):
        vel = (self.qpos[ids, 0:2] - xy_before) / self.dt
        r_dir = np.cos(task_values) * vel[:, 0] + np.sin(task_values) * vel[:, 1]
        r_survive, ctrl, terminated = self.survive_ctrl(ids, actions)
        info = {"x_velocity": vel[:, 0], "y_velocity": vel[:, 1], "reward_direction": r_dir,
                "reward_survive": r_survive, "reward_ctrl": -ctrl}
        return r_dir + r_survive - ctrl, terminated, info

    def observe(self, ids, task_values):
        return np.concatenate((self.qpos[ids, 2:], self.qvel[ids], task_values[:, None]), axis=1)


class _Fetch(_AntBase):
    def __init__(self, env, batch):
        super().__init__(env, batch)
        self.target = np.zeros((self.n, 2))
        self.hits = np.zeros(self.n, dtype=np.int64)

    def _draw(self, i, rng):
        angle = rng.uniform(-np.pi, np.pi)
        distance = rng.uniform(*self.env._target_distance)
        self.target[i] = self.qpos[i, 0:2] + distance * np.array([np.cos(angle), np.sin(angle)])

    def after_reset(self, ids, rngs):
        for i in ids:
            self._draw(i, rngs[i])
        self.hits[ids] = 0

    def before_step(self, ids):
        d = self.target[ids] - self.qpos[ids, 0:2]
        return np.hypot(d[:, 0], d[:, 1])

    def after_step(self, ids, actions, dist_before, task_values, rngs):
        e = self.env
        d = self.target[ids] - self.qpos[ids, 0:2]
        dist = np.hypot(d[:, 0], d[:, 1])
        progress = (dist_before - dist) / self.dt
        r_survive, ctrl, terminated = self.survive_ctrl(ids, actions)
        hit = dist < e._hit_radius
        r_hit = e._hit_bonus * hit
        target = self.target[ids].copy()
        for i in ids[hit]:
            self.hits[i] += 1
            self._draw(i, rngs[i])
        info = {"reward_progress": progress, "reward_survive": r_survive, "reward_ctrl": -ctrl,
                "reward_hit": r_hit, "hit": hit, "hits": self.hits[ids].copy(), "target": target, "distance": dist}
        return progress + r_survive - ctrl + r_hit, terminated, info

    def observe(self, ids, task_values):
        d = self.target[ids] - self.qpos[ids, 0:2]
        fwd, left = heading_frame(d[:, 0], d[:, 1], self.qpos[ids, 3:7])
        return np.concatenate((self.qpos[ids, 2:], self.qvel[ids], fwd[:, None], left[:, None]), axis=1)


class _Reach(_Kernel):
    stage = mujoco.mjtStage.mjSTAGE_POS  # the tip at the new state, as mj_kinematics in ReachEnv
    needs_xpos = True

    def __init__(self, env, batch):
        super().__init__(env, batch)
        self.tip_id = env._tip_id
        self.target = np.zeros((self.n, 3))
        self.hits = np.zeros(self.n, dtype=np.int64)

    def draw_reset(self, rng):
        s = self.env._reset_noise_scale
        qpos = self.init_qpos.copy()
        qpos[:7] += rng.uniform(low=-s, high=s, size=7)
        qpos[7:9] = _reach.OBJECT_PARK
        qvel = self.init_qvel.copy()
        qvel[:7] += rng.uniform(low=-0.005, high=0.005, size=7)
        return qpos, qvel

    def _draw(self, i, rng):
        self.target[i] = rng.uniform(self.env._target_low, self.env._target_high)
        self.qpos[i, 9] = self.target[i, 1] - _reach.GOAL_ORIGIN[1]
        self.qpos[i, 10] = self.target[i, 0] - _reach.GOAL_ORIGIN[0]

    def after_reset(self, ids, rngs):
        for i in ids:
            self._draw(i, rngs[i])
        self.hits[ids] = 0

    def after_step(self, ids, actions, pre, task_values, rngs):
        e = self.env
        diff = self.target[ids] - self.xpos[ids, self.tip_id]
        dist = np.sqrt(diff[:, 0] * diff[:, 0] + diff[:, 1] * diff[:, 1] + diff[:, 2] * diff[:, 2])
        ctrl = _ctrl_cost(e._ctrl_cost_weight, actions)
        hit = dist < e._hit_radius
        r_hit = e._hit_bonus * hit
        target = self.target[ids].copy()
        for i in ids[hit]:
            self.hits[i] += 1
            self._draw(i, rngs[i])
        info = {"reward_dist": -dist, "reward_ctrl": -ctrl, "reward_hit": r_hit, "hit": hit,
                "hits": self.hits[ids].copy(), "target": target, "distance": dist}
        return -dist - ctrl + r_hit, np.zeros(len(ids), bool), info

    def observe(self, ids, task_values):
        tip = self.xpos[ids, self.tip_id]
        return np.concatenate((self.qpos[ids, :7], self.qvel[ids, :7], tip - _reach.ARM_BASE,
                               self.target[ids] - tip), axis=1)


_KERNELS = {
    "halfcheetah_vel": _HalfCheetahVel, "hopper_vel": _HopperVel, "swimmer_dir": _SwimmerDir,
    "ant_dir": _AntDir, "fetch": _Fetch, "reach": _Reach,
}


class BatchedTaskEnv:
    """``n`` copies of one task family on ``mujoco.batch.Batch``, one task value per copy.

    Args:
        family: a name in ``FAMILIES``.
        n: number of copies (e.g. individuals x task values).
        nthread: threads of the batch (including the caller's); 0 for all CPUs.
        max_episode_steps: truncation length (default: the family's, 1000).
        **env_kwargs: the environment's arguments (``ctrl_cost_weight``, ``hit_radius``, ...), as
            for ``make``; the batched copies use exactly the settings of a single environment
            built with them.

    ``reset(seeds, task_values)`` returns observations ``(n, obs_dim)``; ``step(actions)`` takes
    ``(n, act_dim)`` and returns ``obs, reward, terminated, truncated, info`` with arrays of length
    ``n`` (``info`` holds per-copy arrays: reward parts, velocities, ``live``: which copies were
    stepped, ``steps``: their episode lengths so far).
    """

    def __init__(self, family, n, nthread=2, max_episode_steps=None, **env_kwargs):
        self.spec = get_family(family)
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"field 'n': expected a positive integer number of copies, got {n!r}")
        if not isinstance(nthread, (int, np.integer)) or nthread < 0:
            raise ConfigError(f"field 'nthread': expected an integer >= 0, got {nthread!r}")
        if max_episode_steps is None:
            max_episode_steps = self.spec.episode_steps
        if not isinstance(max_episode_steps, (int, np.integer)) or max_episode_steps < 1:
            raise ConfigError(f"field 'max_episode_steps': expected a positive integer, got {max_episode_steps!r}")
        if "task_value" in env_kwargs:
            raise ConfigError("field 'task_value': a BatchedTaskEnv takes one task value per copy, "
                              "pass them to reset(seeds, task_values)")
        self.template = _env_class(self.spec)(**env_kwargs)
        self.n = int(n)
        self.max_episode_steps = int(max_episode_steps)
        self.model = self.template.model
        self.frame_skip = self.template.frame_skip
        self.dt = self.template.dt
        self.obs_dim = self.template.observation_space.shape[0]
        self.act_dim = self.model.nu
        self.action_low = self.model.actuator_ctrlrange[:, 0].copy()
        self.action_high = self.model.actuator_ctrlrange[:, 1].copy()
        self.batch = mujoco.batch.Batch(self.model, nsim=self.n, nthread=int(nthread))
        self.ctrl = self.batch.bind("ctrl")
        self.kernel = _KERNELS[self.spec.name](self.template, self.batch)
        self.task_values = np.zeros(self.n)
        self.steps = np.zeros(self.n, dtype=np.int64)
        self.terminated = np.zeros(self.n, dtype=bool)
        self.truncated = np.zeros(self.n, dtype=bool)
        self.obs = np.zeros((self.n, self.obs_dim))
        self.rngs = [None] * self.n
        self.total_steps = 0  # env steps of live copies since construction (for curves vs env steps)
        self._was_reset = False

    @property
    def done(self):
        return self.terminated | self.truncated

    def _task_array(self, task_values):
        if not self.spec.has_task_value:
            for v in np.atleast_1d(np.asarray(task_values, dtype=object)):
                validate_task_value(self.spec, v)  # raises unless None: the family has no task value
            return np.zeros(self.n)
        if task_values is None:
            return np.full(self.n, float(self.spec.default_task_value))
        values = np.asarray(task_values, dtype=object)
        if values.ndim == 0:
            values = np.full(self.n, values.item(), dtype=object)
        if values.shape != (self.n,):
            raise ConfigError(f"field 'task_values': expected {self.n} values (one per copy), got shape {values.shape}")
        return np.array([validate_task_value(self.spec, v) for v in values], dtype=np.float64)

    def reset(self, seeds=None, task_values=None):
        """Reset every copy; ``seeds`` (n ints, or None for fresh entropy) seed each copy's generator
        as ``env.reset(seed=...)`` does; ``task_values`` (n floats, one float, or None for the
        family's default). Returns the observations ``(n, obs_dim)``."""
        if seeds is None:
            seeds = [None] * self.n
        seeds = list(np.broadcast_to(np.asarray(seeds, dtype=object), (self.n,)))
        tasks = self._task_array(task_values)
        self.rngs = [seeding.np_random(None if s is None else int(s))[0] for s in seeds]
        states = [self.kernel.draw_reset(rng) for rng in self.rngs]
        self.batch.reset(stage=mujoco.mjtStage.mjSTAGE_NONE)
        self.kernel.qpos[:] = np.stack([q for q, _ in states])
        self.kernel.qvel[:] = np.stack([v for _, v in states])
        self.batch.forward()
        ids = np.arange(self.n)
        self.kernel.after_reset(ids, self.rngs)
        self.task_values = tasks
        self.steps[:] = 0
        self.terminated[:] = False
        self.truncated[:] = False
        self.obs = self.kernel.observe(ids, tasks)
        self._was_reset = True
        return self.obs.copy()

    def step(self, actions):
        """Step the live copies with ``actions`` ``(n, act_dim)`` (rows of done copies are ignored)."""
        if not self._was_reset:
            raise ConfigError("BatchedTaskEnv.step called before reset")
        actions = np.asarray(actions, dtype=np.float64)
        if actions.shape != (self.n, self.act_dim):
            raise ConfigError(f"field 'actions': expected shape {(self.n, self.act_dim)}, got {actions.shape}")
        live = ~self.done
        reward = np.zeros(self.n)
        info = {"live": live.copy()}
        if not live.any():
            info["steps"] = self.steps.copy()
            return self.obs.copy(), reward, self.terminated.copy(), self.truncated.copy(), info
        ids = np.flatnonzero(live)
        all_live = len(ids) == self.n
        act = actions[ids]
        pre = self.kernel.before_step(ids)
        self.ctrl[ids] = act
        self.batch.step(ids=None if all_live else ids, nstep=self.frame_skip, stage=self.kernel.stage)
        r, term, parts = self.kernel.after_step(ids, act, pre, self.task_values[ids], self.rngs)
        reward[ids] = r
        self.steps[ids] += 1
        self.total_steps += len(ids)
        self.terminated[ids] = term
        self.truncated[ids] = self.steps[ids] >= self.max_episode_steps
        self.obs[ids] = self.kernel.observe(ids, self.task_values[ids])
        for key, value in parts.items():
            full = np.zeros((self.n,) + np.shape(value)[1:], dtype=np.asarray(value).dtype)
            full[ids] = value
            info[key] = full
        info["steps"] = self.steps.copy()
        return self.obs.copy(), reward, self.terminated.copy(), self.truncated.copy(), info

    def set_task_values(self, task_values):
        """Change the copies' task values mid-episode (steering); checked like those of ``reset``."""
        self.task_values = self._task_array(task_values)

    def positions(self):
        """The first two generalised coordinates of every copy, ``(n, 2)``: the torso's x, y for
        ant_dir, fetch and swimmer_dir (x and height for the planar runners, joint angles for reach)."""
        return self.kernel.qpos[:, :2].copy()

    def close(self):
        self.template.close()
