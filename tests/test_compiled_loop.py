"""The control closed loop compiled into a cpp_standalone project (`pdlf_brian.compiled_env`) gives the
episodes of the runtime device's Python closed loop (`ControlProblem.rollout`): the same inputs,
actions, rewards, returns and terminations, step by step; one compiled project serves new genomes,
task values, seeds and normalisation statistics without being rebuilt."""
import json
import os

import numpy as np
import pytest

from pdlf_brian.compiled_env import CompiledEnvironment
from pdlf_brian.engine import make_network
from pdlf_brian.errors import ConfigError, DeviceError
from pdlf_brian.evolution.config import TrainConfig
from pdlf_brian.loop_check import check_network_half, check_physics_half
from pdlf_brian.protocols import problem_for

pytestmark = pytest.mark.cpp_standalone

EPISODE = 200          # env steps; the network runs EPISODE + 1 steps (and one flush step)
P = 2


def control_problem(family, learner):
    c = TrainConfig(protocol=family, device="runtime", learner=learner, population=P, generations=1, seed=2,
                    progress=False, task=dict(episode_steps=EPISODE, n_hidden=12, heldout_episodes=1))
    problem = problem_for(c)
    # frozen statistics that are not the identity
    problem.norm.update(np.random.default_rng(3).normal(0.2, 2.0, (500, problem.family.obs_dim)))
    return problem


def compiled_network(problem, directory, batch, live_flags=False, **env_options):
    env = CompiledEnvironment(problem.family.name, record_steps=True, **env_options)
    net = make_network(problem.shape, problem.synapse, n_individuals=P, batch=batch, device="cpp_standalone",
                       n_steps=problem.n_steps, directory=str(directory), environment=env, live_flags=live_flags)
    return env, net


def assert_same_episode(problem, compiled, runtime):
    B = len(compiled["returns"][0])
    np.testing.assert_allclose(compiled["inputs"], runtime["inputs"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(compiled["recording"].output, runtime["recording"].output, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(compiled["action"], runtime["action"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(compiled["reward"], runtime["reward"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(compiled["returns"], runtime["returns"], rtol=1e-9, atol=1e-9)
    env = problem.environments(P * B)       # the runtime loop's environments, after its episode
    np.testing.assert_array_equal(compiled["terminated"], env.terminated.reshape(P, B))
    np.testing.assert_array_equal(compiled["steps"], env.steps.reshape(P, B))     # when each copy stopped
    assert compiled["env_steps"] == runtime["env_steps"]
    # a terminated copy stops earning: its reward is 0 from the step after its termination on
    term = compiled["terminated_steps"].reshape(EPISODE, P * B)
    after = np.vstack([np.zeros((1, P * B), bool), np.cumsum(term, axis=0)[:-1] > 0])
    assert np.all(compiled["reward"][after] == 0.0)


def test_one_compiled_project_reruns_new_genomes_tasks_seeds_without_rebuilding(tmp_path, monkeypatch):
    problem = control_problem("halfcheetah_vel", "plastic")
    env, net = compiled_network(problem, tmp_path, batch=3)
    binary = os.path.join(net.directory, "main")
    built = os.stat(binary).st_mtime_ns
    monkeypatch.setattr(net._device, "build", lambda *a, **k: pytest.fail("the project was rebuilt"))
    rng = np.random.default_rng(1)
    episodes = [(rng.normal(0, 0.5, (P, problem.genome_size)), list(problem.task_values[:3]), [5, 6, 7]),
                (rng.normal(0, 0.5, (P, problem.genome_size)), list(problem.task_values[4:7]), [11, 12, 13])]
    returns = []
    for k, (genomes, values, seeds) in enumerate(episodes):
        if k == 1:          # new frozen statistics too
            problem.norm.update(np.random.default_rng(4).normal(-0.1, 0.5, (300, problem.family.obs_dim)))
        compiled = env.rollout(genomes, values, seeds, norm=problem.norm)
        runtime = problem.rollout(problem.make(P, 3), genomes, values, seeds, record_steps=True)
        assert_same_episode(problem, compiled, runtime)
        np.testing.assert_array_equal(compiled["inputs"][0, 0, :, -1], values)     # task value unnormalised
        returns.append(compiled["returns"])
    assert not np.array_equal(returns[0], returns[1])
    assert os.stat(binary).st_mtime_ns == built
    # the network runs its compiled environment only: no Python controller, no open-loop inputs
    with pytest.raises(ConfigError, match="runs its compiled environment"):
        net.run(genomes, controller=lambda step, output: np.zeros((P, 3, problem.family.obs_dim)))
    with pytest.raises(ConfigError, match="runs its compiled environment"):
        net.run(genomes, np.zeros((problem.n_steps, P, 3, problem.family.obs_dim)))


@pytest.mark.parametrize("family, learner", [
    pytest.param("halfcheetah_vel", "weights", marks=pytest.mark.slow),
    pytest.param("ant_dir", "plastic", marks=pytest.mark.slow),
    ("ant_dir", "weights"),
])
def test_compiled_closed_loop_equals_the_runtime_closed_loop(tmp_path, family, learner):
    problem = control_problem(family, learner)
    env, net = compiled_network(problem, tmp_path, batch=3)
    genomes = np.random.default_rng(1).normal(0, 0.5, (P, problem.genome_size))
    values, seeds = list(problem.task_values[:3]), [5, 6, 7]
    compiled = env.rollout(genomes, values, seeds, norm=problem.norm)
    runtime = problem.rollout(problem.make(P, 3), genomes, values, seeds, record_steps=True)
    assert_same_episode(problem, compiled, runtime)
    if family == "ant_dir":
        assert compiled["terminated"].any(), "no copy terminated: the termination path is not exercised"


def test_compiled_live_flags_idle_ended_copies_as_the_runtime_loop_does(tmp_path):
    from test_control import ended_copies_skipped_equal

    problem = control_problem("ant_dir", "plastic")
    env, net = compiled_network(problem, tmp_path, batch=3, live_flags=True)
    genomes = np.random.default_rng(1).normal(0, 0.5, (P, problem.genome_size))
    values, seeds = list(problem.task_values[:3]), [5, 6, 7]
    compiled = env.rollout(genomes, values, seeds, norm=problem.norm)
    runs = {}
    for live_flags in (False, True):
        runs[live_flags] = problem.rollout(problem.make(P, 3, live_flags=live_flags), genomes, values, seeds,
                                           collect_stats=True, record_steps=True)
        runs[live_flags]["steps"] = problem.environments(P * 3).steps.reshape(P, 3).copy()
    # the same idle copies as the runtime loop with live flags, step for step
    assert_same_episode(problem, compiled, runs[True])
    np.testing.assert_allclose(compiled["recording"].output, runs[True]["recording"].output, rtol=1e-9, atol=1e-12)
    # and, against the loop that simulates every copy to the end, the same episode
    ended_copies_skipped_equal(runs[False], dict(compiled, steps=compiled["steps"]))
    # the half-by-half check (what the CUDA tests rely on): both halves pass, and each catches a fault
    assert check_network_half(problem, genomes, compiled)["ok"]
    assert check_physics_half(problem, values, seeds, compiled)["ok"]
    late = dict(compiled, action=np.roll(compiled["action"], 1, axis=0))        # actions one step late
    physics = check_physics_half(problem, values, seeds, late)
    assert not physics["ok"] and physics["reward"]["first_step"] == 0
    live_step = int(compiled["steps"].max()) // 2
    inputs = compiled["inputs"].copy()
    copy = np.unravel_index(np.argmax(compiled["steps"]), compiled["steps"].shape)
    inputs[live_step][copy] += 0.5
    network = check_network_half(problem, genomes, dict(compiled, inputs=inputs))
    assert not network["ok"] and network["first_step"] == live_step


def test_python_controllers_stay_refused_on_standalone_devices():
    from pdlf_brian.devices import DEVICES, check_closed_loop

    for device in ("cpp_standalone", "cuda_standalone"):
        with pytest.raises(DeviceError, match="cannot run Python code during a simulation.*CompiledEnvironment"):
            check_closed_loop(device)
        assert DEVICES[device].compiled_closed_loop and not DEVICES[device].closed_loop


def test_bad_compiled_environment():
    problem = control_problem("halfcheetah_vel", "weights")
    with pytest.raises(ConfigError, match=r"supports \['halfcheetah_vel', 'ant_dir'\], got 'hopper_vel'"):
        CompiledEnvironment("hopper_vel")
    with pytest.raises(ConfigError, match=r"runs inside a project of \['cpp_standalone', 'cuda_standalone'\], not on device 'runtime'"):
        make_network(problem.shape, problem.synapse, n_individuals=P, device="runtime",
                     environment=CompiledEnvironment("halfcheetah_vel"))
    with pytest.raises(ConfigError, match="ant_dir needs n_in=28"):
        make_network(problem.shape, problem.synapse, n_individuals=P, device="cpp_standalone", n_steps=5,
                     environment=CompiledEnvironment("ant_dir"))


# -- the control protocol on cpp_standalone: ControlProblem.evaluate through the compiled loop ---------
# Problems with the same settings share one cached compiled project per process (`cached_network`):
# the tests below are ordered so that the default run compiles two projects.
PROTOCOL_TASK = dict(episode_steps=40, n_hidden=10, heldout_episodes=1)
POPULATION = 4


def protocol_config(family, learner, device, **task):
    return TrainConfig(protocol=family, device=device, learner=learner, population=POPULATION, generations=3,
                       eval_every=1, seed=2, progress=False, task=dict(PROTOCOL_TASK, **task))


def frozen_problem(family, learner, device, **task):
    problem = problem_for(protocol_config(family, learner, device, **task))
    problem.norm.update(np.random.default_rng(3).normal(0.2, 2.0, (500, problem.family.obs_dim)))
    return problem


@pytest.mark.parametrize("family, learner, task", [
    ("ant_dir", "weights", {}),
    ("halfcheetah_vel", "plastic", {}),
    pytest.param("ant_dir", "plastic", dict(recurrent=True, action_map="tanh", episodes=2, task_input=False),
                 marks=pytest.mark.slow),
])
def test_compiled_evaluation_gives_the_runtime_fitness_and_observation_statistics(family, learner, task):
    compiled, runtime = (frozen_problem(family, learner, d, **task) for d in ("cpp_standalone", "runtime"))
    genomes = np.random.default_rng(1).normal(0, 0.5, (POPULATION, compiled.genome_size))
    for seed in (0, 1):      # the second evaluation re-runs the same compiled project
        ours, theirs = compiled.evaluate(genomes, seed), runtime.evaluate(genomes, seed)
        np.testing.assert_allclose(ours.fitness, theirs.fitness, rtol=1e-9, atol=1e-9)
        assert ours.env_steps == theirs.env_steps
        count, mean, m2 = ours.extras
        assert count == theirs.extras[0] == POPULATION * compiled.batch + ours.env_steps
        np.testing.assert_allclose(mean, theirs.extras[1], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(m2, theirs.extras[2], rtol=1e-9, atol=1e-12)
    compiled.update([ours])
    runtime.update([theirs])
    np.testing.assert_allclose(compiled.norm.m2, runtime.norm.m2, rtol=1e-9)
    if family == "ant_dir":      # terminated copies leave the statistics: fewer rows than copy-steps
        assert ours.env_steps < POPULATION * compiled.batch * PROTOCOL_TASK["episode_steps"]


def train(run_dir, family, learner, device):
    from pdlf_brian.evolution.trainer import Trainer

    config = protocol_config(family, learner, device)
    problem = problem_for(config)
    log = Trainer(config, run_dir, problem).run()
    return log, problem


@pytest.mark.parametrize("family, learner", [
    ("halfcheetah_vel", "plastic"),
    pytest.param("halfcheetah_vel", "weights", marks=pytest.mark.slow),
    pytest.param("ant_dir", "weights", marks=pytest.mark.slow),
])
def test_training_on_cpp_standalone_equals_training_on_runtime(tmp_path, monkeypatch, family, learner):
    from pdlf_brian.cli import evaluate_run

    compiled = problem_for(protocol_config(family, learner, "cpp_standalone")).network(POPULATION)
    # compiled once, re-run every generation (and shared with the problem the trainer makes)
    monkeypatch.setattr(compiled._device, "build", lambda *a, **k: pytest.fail("the project was rebuilt"))
    logs, norms = {}, {}
    for device in ("cpp_standalone", "runtime"):
        logs[device], problem = train(tmp_path / device, family, learner, device)
        norms[device] = problem.norm
    assert len(logs["runtime"]) == 3
    for ours, theirs in zip(logs["cpp_standalone"], logs["runtime"]):
        assert ours["env_steps"] == theirs["env_steps"]
        for key in ("best", "mean", "std", "heldout"):      # held-out runs on the runtime device
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-9, atol=1e-9, err_msg=key)
    assert norms["cpp_standalone"].count == norms["runtime"].count
    np.testing.assert_allclose(norms["cpp_standalone"].mean, norms["runtime"].mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(norms["cpp_standalone"].m2, norms["runtime"].m2, rtol=1e-9, atol=1e-12)
    # `pdlf eval` of the cpp_standalone run: final report (training and unseen values) on the runtime device
    reports = {d: json.loads(open(evaluate_run(tmp_path / d, figure=False)["eval"]).read())
               for d in ("cpp_standalone", "runtime")}
    for part in ("final", "unseen"):
        np.testing.assert_allclose(reports["cpp_standalone"][part]["per_task_mean"],
                                   reports["runtime"][part]["per_task_mean"], rtol=1e-9, atol=1e-9)


def test_control_settings_the_compiled_loop_cannot_run():
    for family in ("swimmer_dir", "hopper_vel", "fetch", "reach"):
        with pytest.raises(ConfigError, match=(
                rf"config field 'device': 'cpp_standalone' runs the control loop compiled into its project "
                rf".*\['halfcheetah_vel', 'ant_dir'\] only, not '{family}'; allowed devices for '{family}' "
                rf"are \['numpy', 'runtime'\]")):
            problem_for(protocol_config(family, "plastic", "cpp_standalone"))
    with pytest.raises(ConfigError, match="'cuda_standalone' runs the control loop compiled .* not 'hopper_vel'"):
        problem_for(protocol_config("hopper_vel", "plastic", "cuda_standalone"))
    with pytest.warns(UserWarning, match="has not passed its checks on a GPU"):
        assert problem_for(protocol_config("halfcheetah_vel", "plastic", "cuda_standalone")).compiled
    # the other task settings are accepted (recurrent and tanh run compiled: the slow case above)
    problem_for(protocol_config("ant_dir", "weights", "cpp_standalone", action_map="tanh", recurrent=True,
                                episodes=2, task_input=False, values=[0.5, 1.0], nthread=0))
