"""Task-family environments, the batched physics path and running observation normalisation."""
import json
import pickle
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import pdlf_brian.envs as E
from pdlf_brian.envs import FAMILIES, BatchedTaskEnv, RunningNorm, make
from pdlf_brian.errors import ConfigError

TASK_FAMILIES = [name for name, spec in FAMILIES.items() if spec.has_task_value]


def _unwrapped(family, task_value=None, **kw):
    return make(family, task_value, **kw).unwrapped


# --- registry -------------------------------------------------------------------------------------

def test_ids_registered_with_default_episode_length():
    ids = {spec.env_id for spec in FAMILIES.values()}
    assert ids == {"pdlf/HalfCheetahVel-v0", "pdlf/AntDir-v0", "pdlf/SwimmerDir-v0", "pdlf/HopperVel-v0",
                   "pdlf/Fetch-v0", "pdlf/Reach-v0"}
    for spec in FAMILIES.values():
        assert gymnasium.spec(spec.env_id).max_episode_steps == 1000
        assert spec.episode_steps == 1000
    E.register_families()  # idempotent


def test_task_values_follow_the_spec():
    d = FAMILIES["ant_dir"].training_values
    np.testing.assert_allclose(d, [-np.pi + k * np.pi / 4 for k in range(8)])
    assert FAMILIES["swimmer_dir"].training_values == d
    np.testing.assert_allclose(FAMILIES["halfcheetah_vel"].training_values, [1 + 9 * k / 8 for k in range(8)])
    np.testing.assert_allclose(FAMILIES["hopper_vel"].training_values, [2.1 * k / 8 for k in range(8)])
    for name in TASK_FAMILIES:
        spec = FAMILIES[name]
        train, unseen = np.array(spec.training_values), np.array(spec.unseen_values)
        assert len(train) == 8 and len(unseen) == 72
        assert np.min(np.abs(unseen[:, None] - train[None, :])) > 1e-3  # none is a training value
        if spec.task_name == "direction":  # round the circle: training + unseen = a grid of 80
            grid = np.sort(np.concatenate([train, unseen]))
            np.testing.assert_allclose(np.diff(grid), 2 * np.pi / 80, rtol=1e-9)
            assert -np.pi <= grid[0] and grid[-1] < np.pi
        else:
            lo, hi = spec.training_range
            assert np.all((unseen > lo) & (unseen < hi))
            assert np.ptp(np.diff(unseen)) < 1e-12  # evenly spaced
        for v in np.concatenate([train, unseen]):
            assert spec.validate(v) == v
    for name in ("fetch", "reach"):
        assert not FAMILIES[name].has_task_value and FAMILIES[name].n_task_obs == 0


# --- bad input ------------------------------------------------------------------------------------

def test_unknown_family_names_the_field_and_choices():
    with pytest.raises(ConfigError, match="family") as err:
        make("walker_vel", 1.0)
    assert "halfcheetah_vel" in str(err.value) and "reach" in str(err.value)
    with pytest.raises(ConfigError, match="family"):
        BatchedTaskEnv("walker_vel", 2)


@pytest.mark.parametrize("family,value", [("halfcheetah_vel", 10.5), ("halfcheetah_vel", -1.0),
                                          ("hopper_vel", 2.2), ("ant_dir", 3.2), ("swimmer_dir", -4.0),
                                          ("ant_dir", float("nan")), ("hopper_vel", "fast")])
def test_task_value_outside_range(family, value):
    with pytest.raises(ConfigError, match="task_value") as err:
        make(family, value)
    assert "allowed range" in str(err.value)


def test_bad_task_values_elsewhere():
    with pytest.raises(ConfigError, match="task_value"):
        make("fetch", 1.0)
    env = make("hopper_vel", 1.0)
    with pytest.raises(ConfigError, match="task_value"):
        env.reset(seed=0, options={"task_value": 5.0})
    batch = BatchedTaskEnv("hopper_vel", 2)
    with pytest.raises(ConfigError, match="task_value"):
        batch.reset([0, 1], [1.0, 3.0])
    with pytest.raises(ConfigError, match="task_values"):
        batch.reset([0, 1], [1.0, 1.0, 1.0])
    with pytest.raises(ConfigError, match="actions"):
        batch.reset([0, 1], 1.0)
        batch.step(np.zeros((2, 4)))
    with pytest.raises(ConfigError, match="max_episode_steps"):
        make("hopper_vel", 1.0, max_episode_steps=0)
    with pytest.raises(ConfigError, match="task_value"):
        BatchedTaskEnv("hopper_vel", 2, task_value=1.0)
    with pytest.raises(ConfigError, match="task_value"):
        BatchedTaskEnv("reach", 2).reset([0, 1], [0.5, 0.5])
    BatchedTaskEnv("reach", 2).reset([0, 1], [None, None])
    with pytest.raises(ConfigError, match="contact"):
        BatchedTaskEnv("ant_dir", 2, contact_cost_weight=5e-4)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_envs_pickle(family):
    env = make(family, FAMILIES[family].default_task_value).unwrapped
    clone = pickle.loads(pickle.dumps(env))
    assert type(clone) is type(env) and clone.task_value == env.task_value
    assert clone.observation_space == env.observation_space


# --- Gymnasium API --------------------------------------------------------------------------------

@pytest.mark.parametrize("family", list(FAMILIES))
def test_check_env(family):
    spec = FAMILIES[family]
    env = make(family, spec.default_task_value)
    assert env.observation_space.shape == (spec.obs_dim,)
    assert env.action_space.shape == (spec.act_dim,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, skip_render_check=True)
    doc = type(env.unwrapped).__doc__
    for section in ("Description", "Action Space", "Observation Space", "Rewards", "Starting State",
                    "Episode End", "Arguments", "Version History"):
        assert f"## {section}" in doc, section


@pytest.mark.parametrize("family", TASK_FAMILIES)
def test_task_value_is_last_observation(family):
    spec = FAMILIES[family]
    env = make(family, spec.training_values[3])
    obs, _ = env.reset(seed=1)
    assert obs[-1] == spec.training_values[3]
    obs, *_ = env.step(env.action_space.sample())
    assert obs[-1] == spec.training_values[3]
    obs, _ = env.reset(seed=1, options={"task_value": spec.unseen_values[5]})
    assert obs[-1] == spec.unseen_values[5]


def test_time_limit_is_configurable():
    env = make("halfcheetah_vel", 2.0, max_episode_steps=7)
    env.reset(seed=0)
    flags = [env.step(np.zeros(6))[3] for _ in range(7)]
    assert flags == [False] * 6 + [True]


# --- rewards on scripted states -------------------------------------------------------------------

def _script(env, qpos_edit=None, qvel_edit=None, seed=0):
    env.reset(seed=seed)
    qpos, qvel = env.init_qpos.copy(), env.init_qvel.copy()
    for k, v in (qpos_edit or {}).items():
        qpos[k] = v
    for k, v in (qvel_edit or {}).items():
        qvel[k] = v
    env.set_state(qpos, qvel)


def test_halfcheetah_vel_reward():
    env = _unwrapped("halfcheetah_vel", 3.25)
    _script(env, qvel_edit={0: 2.0})
    a = np.array([0.5, -0.25, 0.1, 0.0, 1.0, -1.0])
    x0 = env.data.qpos[0]
    obs, r, term, trunc, info = env.step(a)
    v = (env.data.qpos[0] - x0) / 0.05
    expected = -abs(v - 3.25) - 0.1 * (0.25 + 0.0625 + 0.01 + 0 + 1 + 1)
    assert r == pytest.approx(expected, abs=1e-12)
    assert info["x_velocity"] == pytest.approx(v, abs=1e-12) and not term and not trunc
    assert obs[-1] == 3.25


@pytest.mark.parametrize("theta,expected_dir", [(0.0, 1.0), (np.pi / 2, 0.0), (np.pi, -1.0), (-np.pi / 4, 0.5 ** 0.5)])
def test_ant_dir_reward_in_free_flight(theta, expected_dir):
    # Torso 0.9 m up (no contact within one step), moving at 1 m/s along +x, zero torques: the
    # horizontal velocity is exactly 1 m/s over the step.
    env = _unwrapped("ant_dir", theta)
    _script(env, qpos_edit={2: 0.9}, qvel_edit={0: 1.0})
    obs, r, term, _, info = env.step(np.zeros(8))
    assert info["x_velocity"] == pytest.approx(1.0, abs=1e-9)
    assert info["reward_direction"] == pytest.approx(expected_dir, abs=1e-9)
    assert r == pytest.approx(expected_dir + 1.0, abs=1e-9) and not term


def test_ant_dir_reward_with_action_and_unhealthy_state():
    env = _unwrapped("ant_dir", np.pi / 4)
    _script(env, seed=3)
    a = np.full(8, 0.5)
    xy0 = env.data.qpos[0:2].copy()
    _, r, term, _, _ = env.step(a)
    vx, vy = (env.data.qpos[0:2] - xy0) / 0.05
    expected = np.cos(np.pi / 4) * vx + np.sin(np.pi / 4) * vy + 1.0 - 0.5 * 8 * 0.25
    assert r == pytest.approx(expected, abs=1e-12) and not term
    _script(env, qpos_edit={2: 1.5})  # torso too high: unhealthy
    _, r, term, _, info = env.step(np.zeros(8))
    assert term and info["reward_survive"] == 0.0


def test_swimmer_dir_reward():
    env = _unwrapped("swimmer_dir", -np.pi / 2)
    _script(env, qvel_edit={1: -0.3})
    a = np.array([1.0, -0.5])
    xy0 = env.data.qpos[0:2].copy()
    _, r, term, _, info = env.step(a)
    vx, vy = (env.data.qpos[0:2] - xy0) / env.dt
    assert env.dt == pytest.approx(0.04)
    assert r == pytest.approx(-vy - 1e-4 * 1.25, abs=1e-12) and not term
    _script(env, qvel_edit={1: -0.3})  # coasting along -y (drag slows it), the requested direction
    _, r, _, _, info = env.step(np.zeros(2))
    assert 0.2 < info["reward_direction"] == r < 0.3


def test_hopper_vel_reward_and_termination():
    env = _unwrapped("hopper_vel", 1.05)
    _script(env, qvel_edit={0: 1.0})
    a = np.array([0.2, -0.4, 0.6])
    x0 = env.data.qpos[0]
    _, r, term, _, info = env.step(a)
    v = (env.data.qpos[0] - x0) / 0.008
    assert r == pytest.approx(-abs(v - 1.05) + 1.0 - 0.001 * 0.56, abs=1e-12) and not term
    assert info["reward_survive"] == 1.0
    _script(env, qpos_edit={2: 0.5})  # torso tilted beyond 0.2 rad
    _, r, term, _, info = env.step(np.zeros(3))
    assert term and info["reward_survive"] == 0.0
    assert r == pytest.approx(info["reward_velocity"], abs=1e-12)


def test_fetch_reward_progress_and_hit():
    env = _unwrapped("fetch")
    _script(env, qpos_edit={2: 0.9}, qvel_edit={0: 1.0})
    env._target = env.data.qpos[0:2] + np.array([3.0, 0.0])
    obs = env._get_obs()
    np.testing.assert_allclose(obs[-2:], [3.0, 0.0], atol=1e-12)  # torso faces +x at init
    _, r, term, _, info = env.step(np.zeros(8))
    assert info["reward_progress"] == pytest.approx(1.0, abs=1e-9)  # 1 m/s straight at the target
    assert r == pytest.approx(2.0, abs=1e-9) and not info["hit"] and not term
    # A target 0.3 m ahead is hit; the next is drawn 2-5 m away and observed in the torso frame.
    _script(env, qpos_edit={2: 0.9})
    env._target = env.data.qpos[0:2] + np.array([0.3, 0.0])
    obs, r, _, _, info = env.step(np.zeros(8))
    assert info["hit"] and info["hits"] == 1
    assert r == pytest.approx(info["reward_progress"] + 1.0 + 5.0, abs=1e-12)
    assert 2.0 <= np.hypot(*(env._target - env.data.qpos[0:2])) <= 5.0
    assert np.hypot(*obs[-2:]) == pytest.approx(np.hypot(*(env._target - env.data.qpos[0:2])), abs=1e-12)


def test_fetch_target_in_torso_frame():
    env = _unwrapped("fetch")
    yaw = np.pi / 2  # torso turned to face +y
    _script(env, qpos_edit={3: np.cos(yaw / 2), 6: np.sin(yaw / 2)})
    env._target = env.data.qpos[0:2] + np.array([0.0, 2.0])
    np.testing.assert_allclose(env._get_obs()[-2:], [2.0, 0.0], atol=1e-12)  # straight ahead


def test_reach_reward_and_hit():
    env = _unwrapped("reach")
    _script(env)
    env._target = np.array([0.5, -0.6, 0.1])
    a = np.array([0.5, 0, 0, 0, 0, 0, -1.0])
    obs, r, term, _, info = env.step(a)
    tip = env.data.body("tips_arm").xpos
    d = np.linalg.norm(env._target - tip)
    assert r == pytest.approx(-d - 0.1 * 1.25, abs=1e-12) and not info["hit"] and not term
    np.testing.assert_allclose(obs[14:17], tip - np.array([0.0, -0.6, 0.0]), atol=1e-12)
    np.testing.assert_allclose(obs[17:20], env._target - tip, atol=1e-12)
    env._target = tip.copy() + 0.01
    _, r, _, _, info = env.step(np.zeros(7))
    assert info["hit"] and r == pytest.approx(-info["distance"] + 1.0, abs=1e-12)
    assert np.all(env._target >= env._target_low) and np.all(env._target <= env._target_high)


# --- batched physics == registered environments -------------------------------------------------

BATCH_CASES = [(name, {}) for name in FAMILIES] + [
    ("fetch", {"target_distance": (0.2, 0.8), "hit_radius": 0.6}),  # frequent hits: redraws
    ("reach", {"hit_radius": 0.35}),
]


@pytest.mark.parametrize("family,kw", BATCH_CASES, ids=[f"{f}{'-hits' if k else ''}" for f, k in BATCH_CASES])
def test_batched_matches_registered_envs(family, kw):
    spec = FAMILIES[family]
    n, n_steps = 3, 200
    seeds = [11, 12, 11]  # copies 0 and 2 share a seed (common random numbers) with other tasks
    tasks = [spec.training_values[i] for i in (1, 4, 6)] if spec.has_task_value else None
    envs = [make(family, None if tasks is None else tasks[i], **kw) for i in range(n)]
    batch = BatchedTaskEnv(family, n, nthread=2, **kw)
    obs_b = batch.reset(seeds, tasks)
    for i, env in enumerate(envs):
        np.testing.assert_allclose(env.reset(seed=seeds[i])[0], obs_b[i], rtol=0, atol=1e-9)
    rng = np.random.default_rng(5)
    done = np.zeros(n, bool)
    hits = 0
    max_diff = 0.0
    for t in range(n_steps):
        actions = rng.uniform(batch.action_low, batch.action_high, size=(n, batch.act_dim)).astype(np.float32)
        obs_b, r_b, term_b, trunc_b, info_b = batch.step(actions)
        for i, env in enumerate(envs):
            if done[i]:
                assert r_b[i] == 0.0 and term_b[i] and not info_b["live"][i]
                continue
            obs, r, term, trunc, info = env.step(actions[i])
            max_diff = max(max_diff, np.abs(obs - obs_b[i]).max(), abs(r - r_b[i]))
            assert term == term_b[i] and trunc == trunc_b[i], (t, i)
            hits += bool(info.get("hit", False))
            done[i] = term or trunc
    assert max_diff <= 1e-9, max_diff
    if kw:
        assert hits > 10  # the redraws were exercised


def test_batched_termination_and_truncation():
    batch = BatchedTaskEnv("hopper_vel", 4, max_episode_steps=60)
    batch.reset([0, 1, 2, 3], [0.0, 0.525, 1.05, 1.8375])
    rng = np.random.default_rng(0)
    first_done = np.full(4, -1)
    for t in range(80):
        prev_obs = batch.obs.copy()
        was_done = batch.done.copy()
        a = rng.uniform(-1, 1, (4, 3))
        a[0] = 0.0  # copy 0 stands still: it lives to the time limit
        obs, r, term, trunc, info = batch.step(a)
        np.testing.assert_array_equal(info["live"], ~was_done)
        assert np.all(r[was_done] == 0.0)
        np.testing.assert_array_equal(obs[was_done], prev_obs[was_done])  # frozen
        assert np.all(term[was_done] | trunc[was_done])  # stays done
        first_done[(first_done < 0) & (term | trunc)] = t
    assert trunc[0] and not term[0] and first_done[0] == 59 and batch.steps[0] == 60
    assert np.all(term[1:]) and np.all(first_done[1:] < 59)
    np.testing.assert_array_equal(batch.steps[1:], first_done[1:] + 1)  # live steps only
    assert batch.total_steps == batch.steps.sum()
    batch.reset([0, 1, 2, 3], 1.0)
    assert not batch.done.any() and np.all(batch.steps == 0) and np.all(batch.obs[:, -1] == 1.0)


# --- running normalisation ------------------------------------------------------------------------

def test_running_norm_matches_numpy(rng):
    data = rng.normal(loc=[3.0, -2.0, 0.0, 7.0], scale=[0.5, 4.0, 1.0, 0.0], size=(1000, 4))
    norm = RunningNorm(4, n_passthrough=1)
    for chunk in np.array_split(data, [1, 7, 300, 301, 650]):
        norm.update(chunk)
    assert norm.count == 1000
    np.testing.assert_allclose(norm.mean, data[:, :3].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(norm.var, data[:, :3].var(axis=0), rtol=1e-10)
    once = RunningNorm(4).update(data)
    np.testing.assert_allclose(once.var, norm.var, rtol=1e-10)
    out = norm.normalize(data)
    np.testing.assert_allclose(out[:, :3], (data[:, :3] - data[:, :3].mean(0)) / np.sqrt(data[:, :3].var(0) + 1e-8), rtol=1e-9)
    np.testing.assert_array_equal(out[:, 3], data[:, 3])  # task value passes through


def test_running_norm_clip_mask_freeze_and_state(rng, tmp_path):
    norm = RunningNorm(3, n_passthrough=1)
    np.testing.assert_array_equal(norm.normalize([[1.0, 2.0, 9.0]]), [[1.0, 2.0, 9.0]])  # no data yet
    norm.update(rng.normal(size=(50, 3)))
    big = norm.normalize(np.array([[1e6, -1e6, 42.0]]))
    np.testing.assert_array_equal(big, [[5.0, -5.0, 42.0]])
    before = norm.state_dict()
    norm.update(np.full((2, 3), 100.0), mask=[False, False])
    assert norm.state_dict() == before
    norm.freeze()
    norm.update(np.full((5, 3), 100.0))
    assert norm.state_dict()["count"] == 50
    path = tmp_path / "norm.json"
    path.write_text(json.dumps(norm.state_dict()))
    back = RunningNorm.from_state(json.loads(path.read_text()))
    assert back.frozen and back.count == 50
    x = rng.normal(size=(4, 3))
    np.testing.assert_array_equal(back.normalize(x), norm.normalize(x))
    back.freeze(False).update(x)
    assert back.count == 54
    no_task = RunningNorm(2, n_passthrough=0).update(np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_allclose(no_task.normalize([[2.0, 3.0]]), [[0.0, 0.0]], atol=1e-12)
    with pytest.raises(ConfigError, match="obs"):
        norm.normalize(np.zeros((2, 4)))
    with pytest.raises(ConfigError, match="mean"):
        RunningNorm.from_state(dict(before, mean=[0.0]))


def test_running_norm_on_batched_rollout():
    spec = FAMILIES["halfcheetah_vel"]
    batch = BatchedTaskEnv("halfcheetah_vel", 8, max_episode_steps=20)
    obs = batch.reset(np.arange(8), list(spec.training_values))
    norm = RunningNorm(spec.obs_dim, n_passthrough=spec.n_task_obs)
    rows = [obs]
    norm.update(obs)
    rng = np.random.default_rng(1)
    for _ in range(20):
        obs, *_ = batch.step(rng.uniform(-1, 1, (8, 6)))
        norm.update(obs)
        rows.append(obs)
    rows = np.concatenate(rows)
    np.testing.assert_allclose(norm.mean, rows[:, :-1].mean(0), rtol=1e-10, atol=1e-12)
    out = norm.normalize(obs)
    assert np.all(np.abs(out[:, :-1]) <= 5.0)
    np.testing.assert_array_equal(out[:, -1], spec.training_values)
