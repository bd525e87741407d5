"""Reach: a 7-joint arm reaches targets redrawn on each hit (Gymnasium's Pusher-v5 arm model)."""
import mujoco
import numpy as np
from gymnasium import utils
from gymnasium.envs.mujoco import MujocoEnv
from gymnasium.spaces import Box

from pdlf_brian.envs.tasks import validate_task_value

# The arm's base (r_shoulder_pan_link) in the world frame of pusher_v5.xml.
ARM_BASE = np.array([0.0, -0.6, 0.0])
# Where the targets are drawn, in the world frame: inside the arm's reach (checked by sampling the
# joint ranges) and above the table (z = -0.325).
TARGET_LOW = (0.30, -0.90, -0.20)
TARGET_HIGH = (0.65, -0.30, 0.20)
# pusher_v5.xml's object is pushed out of the arm's way (slide y = +2 m) so that it cannot be hit.
OBJECT_PARK = (2.0, 0.0)
# The goal body (a display disc, no contacts) sits at (0.45, -0.05) plus its slide joints.
GOAL_ORIGIN = (0.45, -0.05)


class ReachEnv(MujocoEnv, utils.EzPickle):
    r"""
    ## Description
    Reach: the 7-joint arm of Gymnasium's Pusher-v5 (``pusher_v5.xml``, loaded from the installed
    Gymnasium package, MIT licence; the arm of the PR2 robot, no gravity) moves its fingertip
    (body ``tips_arm``) to a target point in space. When the tip comes within ``hit_radius`` of the
    target (a hit) a new target is drawn uniformly in the box ``target_low`` .. ``target_high``.
    The model's object cylinder is parked out of reach; its goal disc shows the target's x, y.
    No task value: the task is the current target. This stands in for the reference's UR5e arm.

    ## Action Space
    ``Box(-2, 2, (7,), float32)``: torques on shoulder pan, shoulder lift, upper-arm roll, elbow
    flex, forearm roll, wrist flex and wrist roll, as in Pusher-v5.

    ## Observation Space
    ``Box(-inf, inf, (20,), float64)``: the 7 arm joint angles, the 7 arm joint velocities, the tip
    position relative to the arm base (3, m) and the target relative to the tip (3, m).

    ## Rewards
    ``reward = -|target - tip| - ctrl_cost_weight * sum(action**2) + hit_bonus * hit``, with the
    tip position taken after the step. ``info``: ``reward_dist``, ``reward_ctrl``, ``reward_hit``,
    ``hit``, ``hits``, ``target``, ``distance``.

    ## Starting State
    Arm joint angles: the model's zeros plus uniform noise ``[-reset_noise_scale, reset_noise_scale]``;
    arm velocities: uniform noise ``[-0.005, 0.005]``; then the first target.

    ## Episode End
    No termination; truncated after ``max_episode_steps`` (1000 by default).

    ## Arguments
    ``hit_radius=0.05``, ``hit_bonus=1.0``, ``ctrl_cost_weight=0.1`` (Pusher-v5's),
    ``reset_noise_scale=0.1``, ``target_low``/``target_high`` (world frame, default
    (0.30, -0.90, -0.20) .. (0.65, -0.30, 0.20), inside the arm's reach), ``frame_skip=5``.

    ## Version History
    * v0: initial version (Pusher-v5 arm model, Gymnasium 1.4, MuJoCo 4.0).
    """

    family = "reach"
    metadata = {"render_modes": ["human", "rgb_array", "depth_array", "rgbd_tuple"]}

    def __init__(self, hit_radius=0.05, hit_bonus=1.0, ctrl_cost_weight=0.1, reset_noise_scale=0.1,
                 target_low=TARGET_LOW, target_high=TARGET_HIGH, frame_skip=5, task_value=None,
                 xml_file="pusher_v5.xml", **kwargs):
        validate_task_value(self.family, task_value)
        utils.EzPickle.__init__(self, hit_radius=hit_radius, hit_bonus=hit_bonus,
                                ctrl_cost_weight=ctrl_cost_weight, reset_noise_scale=reset_noise_scale,
                                target_low=target_low, target_high=target_high, frame_skip=frame_skip,
                                xml_file=xml_file, **kwargs)
        self._hit_radius = float(hit_radius)
        self._hit_bonus = float(hit_bonus)
        self._ctrl_cost_weight = float(ctrl_cost_weight)
        self._reset_noise_scale = float(reset_noise_scale)
        self._target_low = np.asarray(target_low, dtype=np.float64)
        self._target_high = np.asarray(target_high, dtype=np.float64)
        self._target = np.zeros(3)
        self._hits = 0
        self.task_value = None
        observation_space = Box(low=-np.inf, high=np.inf, shape=(20,), dtype=np.float64)
        MujocoEnv.__init__(self, xml_file, frame_skip, observation_space=observation_space, **kwargs)
        self.metadata = dict(self.metadata, render_fps=int(np.round(1.0 / self.dt)))
        self._tip_id = self.model.body("tips_arm").id

    @property
    def tip(self):
        return self.data.xpos[self._tip_id]

    def control_cost(self, action):
        return self._ctrl_cost_weight * np.sum(np.square(np.asarray(action, dtype=np.float64)))

    def _draw_target(self):
        self._target = self.np_random.uniform(self._target_low, self._target_high)
        self.data.qpos[9] = self._target[1] - GOAL_ORIGIN[1]   # goal_slidey
        self.data.qpos[10] = self._target[0] - GOAL_ORIGIN[0]  # goal_slidex

    def _get_obs(self):
        tip = self.tip
        return np.concatenate((self.data.qpos[:7], self.data.qvel[:7], tip - ARM_BASE, self._target - tip))

    def reset_model(self):
        s = self._reset_noise_scale
        qpos = self.init_qpos.copy()
        qpos[:7] += self.np_random.uniform(low=-s, high=s, size=7)
        qpos[7:9] = OBJECT_PARK
        qvel = self.init_qvel.copy()
        qvel[:7] += self.np_random.uniform(low=-0.005, high=0.005, size=7)
        self.set_state(qpos, qvel)
        self._draw_target()
        self._hits = 0
        return self._get_obs()

    def step(self, action):
        self.do_simulation(action, self.frame_skip)
        mujoco.mj_kinematics(self.model, self.data)  # the tip at the new state
        diff = self._target - self.tip
        distance = np.sqrt(diff[0] * diff[0] + diff[1] * diff[1] + diff[2] * diff[2])
        ctrl_cost = self.control_cost(action)
        hit = bool(distance < self._hit_radius)
        reward_hit = self._hit_bonus * hit
        reward = -distance - ctrl_cost + reward_hit
        target = self._target.copy()
        if hit:
            self._hits += 1
            self._draw_target()
        info = {
            "reward_dist": -distance, "reward_ctrl": -ctrl_cost, "reward_hit": reward_hit, "hit": hit,
            "hits": self._hits, "target": target, "distance": distance,
        }
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), reward, False, False, info

    def _get_reset_info(self):
        return {"target": self._target.copy()}
