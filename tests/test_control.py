"""The multi-task control protocol: closed loop on a batched physics path, both learners, resume."""
import json

import numpy as np
import pytest

from pdlf_brian.errors import ConfigError
from pdlf_brian.evolution.config import TrainConfig
from pdlf_brian.evolution.trainer import Trainer
from pdlf_brian.models import TERNARY_LIF
from pdlf_brian.protocols import problem_for
from pdlf_brian.reference import ReferenceNetwork

TASK = {"episode_steps": 30, "n_hidden": 12, "heldout_episodes": 1}


def config(family="halfcheetah_vel", **kw):
    base = dict(protocol=family, device="numpy", population=4, generations=3, eval_every=1, seed=2,
                progress=False, task=dict(TASK))
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.runtime
@pytest.mark.parametrize("family", ["halfcheetah_vel", "ant_dir"])
@pytest.mark.parametrize("learner", ["plastic", "weights"])
def test_closed_loop_actions_equal_the_reference_fed_the_same_observations(family, learner):
    problem = problem_for(config(family, device="runtime", learner=learner))
    genomes = np.random.default_rng(1).normal(0, 0.5, (2, problem.genome_size))
    values = problem.task_values[:3]
    net = problem.make(2, len(values), record=("output", "spikes"))
    out = problem.rollout(net, genomes, values, seeds=[5, 6, 7], record_steps=True)
    inputs = out["inputs"]                                      # (T, P, B, n_in), what the network saw
    assert inputs.shape == (problem.n_steps, 2, 3, problem.family.obs_dim)
    spikes = out["recording"].spikes
    assert 0.01 < np.mean(spikes != 0) < 0.99, "degenerate activity"
    ref = ReferenceNetwork(problem.shape, problem.synapse, TERNARY_LIF).run(genomes, inputs, batch=3,
                                                                            record=("output", "spikes"))
    np.testing.assert_array_equal(spikes, ref.spikes)
    np.testing.assert_allclose(out["recording"].output, ref.output, rtol=1e-9, atol=1e-12)
    env = problem.environments(6)
    want = np.clip(ref.output[:-1].reshape(problem.settings.episode_steps, 6, -1), env.action_low, env.action_high)
    np.testing.assert_allclose(out["action"], want, rtol=1e-9, atol=1e-12)
    # the task value reaches the network unnormalised, as the last input
    np.testing.assert_array_equal(inputs[0, 0, :, -1], values)


def ended_copies_skipped_equal(full, lean):
    """Live flags change nothing the episode produced, and idle a copy's network once it has ended."""
    np.testing.assert_array_equal(lean["returns"], full["returns"])
    assert lean["env_steps"] == full["env_steps"]
    for part, whole in zip(lean["stats"], full["stats"]):
        np.testing.assert_array_equal(part, whole)
    steps = full["steps"].ravel()                    # env steps of each copy (P x B)
    T = full["recording"].output.shape[0]
    P, B = full["returns"].shape
    lean_out = lean["recording"].output.reshape(T, P * B, -1)
    full_out = full["recording"].output.reshape(T, P * B, -1)
    for c, k in enumerate(steps):
        # the readout of steps 0..k-1 drove env steps 1..k; from step k on the copy's network is idle
        np.testing.assert_array_equal(lean_out[:k, c], full_out[:k, c])
        assert not lean_out[k:, c].any()
    assert (steps < T - 1).any(), "no copy ended early: the skipping is not exercised"


@pytest.mark.runtime
@pytest.mark.parametrize("learner", ["plastic", "weights"])
def test_live_flags_idle_ended_copies_without_changing_the_episode(learner, monkeypatch):
    problem = problem_for(config("ant_dir", device="runtime", learner=learner,
                                 task=dict(TASK, episode_steps=120)))
    genomes = np.random.default_rng(1).normal(0, 0.5, (2, problem.genome_size))
    values, seeds = problem.task_values[:3], [5, 6, 7]
    runs, full_net = {}, None
    for live_flags in (False, True):
        net = problem.make(2, 3, live_flags=live_flags)
        full_net = full_net if live_flags else net
        runs[live_flags] = problem.rollout(net, genomes, values, seeds, collect_stats=True, record_steps=True)
        runs[live_flags]["steps"] = problem.environments(6).steps.reshape(2, 3).copy()
    ended_copies_skipped_equal(runs[False], runs[True])
    # the NumPy reference, fed the same observations and cleared at the same steps, reads out the same
    steps = runs[True]["steps"].ravel()
    reference = problem.make(2, 3, device="numpy", live_flags=True)

    def replay(t, output):
        if t > 0:
            reference.set_live(t < steps)           # after env step t: the copies not yet done
        return runs[True]["inputs"][t]

    ref = reference.run(genomes, controller=replay, n_steps=problem.n_steps)
    np.testing.assert_allclose(ref.output, runs[True]["recording"].output, rtol=1e-9, atol=1e-12)
    assert reference.reference.rows.size == 0       # at the last step every episode is over
    with pytest.raises(ConfigError, match="expected 6 flags"):
        net.set_live(np.ones(5))
    with pytest.raises(ConfigError, match="without live_flags=True"):
        full_net.set_live(np.ones(6))
    with pytest.raises(ConfigError, match="cannot come back"):
        reference.set_live(np.ones(6))
    made = {}                                   # the training network idles ended copies
    monkeypatch.setattr(problem, "make", lambda *args, **kwargs: made.update(kwargs))
    problem.build(2)
    assert made["live_flags"]


def test_both_learners_train_and_the_score_is_the_mean_return(tmp_path):
    for learner in ("plastic", "weights"):
        c = config(learner=learner)
        problem = problem_for(c)
        log = Trainer(c, tmp_path / learner, problem).run()
        assert len(log) == 3 and log[-1]["env_steps"] == 3 * 4 * 8 * TASK["episode_steps"]
        assert all(np.isfinite(r["heldout"]) for r in log)
        assert problem.norm.count > 0


def test_terminated_episodes_stop_counting_steps():
    problem = problem_for(config("hopper_vel", task=dict(TASK, episode_steps=200)))
    genomes = np.random.default_rng(0).normal(0, 1.0, (4, problem.genome_size))
    ev = problem.evaluate(genomes, seed=0)
    assert ev.env_steps < 4 * 8 * 200          # random hoppers fall before 200 steps


def test_resume_continues_to_the_same_numbers_with_observation_statistics(tmp_path):
    from pdlf_brian.cli import main

    c = config(generations=4)
    Trainer(c, tmp_path / "straight", problem_for(c)).run()
    short = config(generations=2)
    Trainer(short, tmp_path / "resumed", problem_for(short)).run()
    assert main(["train", "--resume", str(tmp_path / "resumed"), "--set", "generations=4"]) == 0
    logs = [[{k: v for k, v in json.loads(x).items() if k != "wall_time"}
             for x in (tmp_path / name / "log.jsonl").read_text().splitlines()] for name in ("straight", "resumed")]
    assert logs[0] == logs[1]
    states = [json.loads((tmp_path / name / "problem_state.json").read_text()) for name in ("straight", "resumed")]
    assert states[0] == states[1] and states[0]["obs_norm"]["count"] > 0
    report = json.loads((tmp_path / "resumed" / "eval.json").read_text())
    assert len(report["unseen"]["task_values"]) == 72 and len(report["final"]["per_task_mean"]) == 8


def test_steering_schedule_changes_the_task_input():
    problem = problem_for(config("ant_dir"))
    net = problem.make(1, 2)
    genome = np.random.default_rng(0).normal(0, 0.3, (1, problem.genome_size))
    schedule = lambda step: [0.0, 0.0] if step < 10 else [1.5, -1.5]     # noqa: E731
    out = problem.rollout(net, genome, [0.0, 0.0], seeds=[1, 2], schedule=schedule, record_steps=True)
    assert np.all(out["inputs"][:11, 0, :, -1] == 0.0)
    np.testing.assert_array_equal(out["inputs"][11, 0, :, -1], [1.5, -1.5])
    np.testing.assert_array_equal(out["task_value"][10], [1.5, -1.5])


def test_tanh_action_map_stays_within_bounds():
    problem = problem_for(config(task=dict(TASK, action_map="tanh")))
    env = problem.environments(3)
    a = problem.actions(np.array([[-50.0] * 6, [0.0] * 6, [50.0] * 6]), env)
    np.testing.assert_allclose(a[0], env.action_low)
    np.testing.assert_allclose(a[2], env.action_high)
    np.testing.assert_allclose(a[1], (env.action_low + env.action_high) / 2)


def test_bad_control_input():
    with pytest.raises(ConfigError, match=r"unknown protocol 'cheetah'; allowed values are \['working_memory', 'halfcheetah_vel'"):
        problem_for(config("cheetah"))
    with pytest.raises(ConfigError, match="task_value"):
        problem_for(config(task=dict(TASK, values=[1.0, 12.0])))
    with pytest.raises(ConfigError, match=r"config field 'task.episode_steps': expected a positive integer, got 0"):
        problem_for(config(task=dict(TASK, episode_steps=0)))
    with pytest.raises(ConfigError, match=r"config field 'task.batch': expected a positive integer, got -1"):
        problem_for(TrainConfig(task={"batch": -1}))
    with pytest.raises(ConfigError, match=r"task.action_map': unknown map 'relu'; allowed values are \['clip', 'tanh'\]"):
        problem_for(config(task=dict(TASK, action_map="relu")))
    # standalone devices run the loop compiled (halfcheetah_vel, ant_dir); other families are refused
    for device in ("cpp_standalone", "cuda_standalone"):
        with pytest.raises(ConfigError, match="not 'swimmer_dir'"):
            problem_for(config("swimmer_dir", device=device))


def test_sigkill_then_resume_equals_uninterrupted_control_run(tmp_path):
    """A control run killed mid-generation resumes to the same log, observation statistics and report."""
    import os
    import signal
    import subprocess
    import sys
    import time

    def cli(run_dir):
        return [sys.executable, "-m", "pdlf_brian.cli", "train", "swimmer_dir", "--run-dir", str(run_dir),
                "--set", "device=numpy", "--set", "population=4", "--set", "generations=12", "--set", "eval_every=3",
                "--set", "progress=false", "--set", 'task={"episode_steps": 40, "n_hidden": 12, "heldout_episodes": 1}']

    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(cli(full), check=True, capture_output=True)
    proc = subprocess.Popen(cli(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = killed / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) >= 4):
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 4 <= len(log.read_text().splitlines()) < 12, "the run was not killed mid-run"
    subprocess.run([sys.executable, "-m", "pdlf_brian.cli", "train", "--resume", str(killed)], check=True,
                   capture_output=True)

    def read(run, name):
        text = (run / name).read_text()
        if name == "log.jsonl":
            return [{k: v for k, v in json.loads(x).items() if k != "wall_time"} for x in text.splitlines()]
        return json.loads(text)

    for name in ("log.jsonl", "problem_state.json", "eval.json"):
        assert read(killed, name) == read(full, name), name


def test_auto_device_is_the_protocols_default():
    assert problem_for(TrainConfig(protocol="ant_dir")).config.device == "runtime"
    assert problem_for(TrainConfig(protocol="working_memory")).config.device == "numpy"
    assert problem_for(TrainConfig(protocol="ant_dir", device="numpy")).config.device == "numpy"


def test_task_agnostic_baseline_does_not_see_the_task_value():
    problem = problem_for(config("ant_dir", task=dict(TASK, task_input=False)))
    genome = np.random.default_rng(0).normal(0, 0.3, (1, problem.genome_size))
    out = problem.rollout(problem.make(1, 2), genome, [1.0, -2.0], seeds=[1, 2], record_steps=True)
    assert np.all(out["inputs"][..., -1] == 0.0)
    np.testing.assert_array_equal(out["task_value"][0], [1.0, -2.0])      # the reward still uses it


def test_best_genome_keeps_the_observation_statistics_it_was_chosen_with(tmp_path):
    """eval.json scores best_genome.npy with the statistics of the generation that chose it, not the last."""
    from pdlf_brian.cli import evaluate_run
    from pdlf_brian.evolution.trainer import generation_seed
    from pdlf_brian.protocols import problem_for_run

    seen = []
    c = config(generations=5, seed=2)      # its best held-out genome comes at generation 1 of 0-4
    Trainer(c, tmp_path / "run", problem_for(c),
            callbacks=[lambda trainer, record: seen.append((record["heldout"], trainer.problem.state()))]).run()
    chosen = int(np.argmax([h for h, _ in seen]))
    assert chosen < len(seen) - 1, "setup: the best held-out genome must come before the last generation"
    kept = json.loads((tmp_path / "run" / "best_problem_state.json").read_text())
    assert kept == seen[chosen][1] and kept != seen[-1][1]

    report = json.loads(open(evaluate_run(tmp_path / "run", figure=False)["eval"]).read())
    assert report["problem_state"] == "best_problem_state.json"
    problem = problem_for_run(tmp_path / "run")
    assert problem.state() == kept
    genome, seed = np.load(tmp_path / "run" / "best_genome.npy"), generation_seed(c.seed, 10**6, 2)
    assert report["final"]["score"] == problem.final_report(genome, seed)["final"]["score"]
    problem.load_state(seen[-1][1])
    assert report["final"]["score"] != problem.final_report(genome, seed)["final"]["score"]
    # a run written before best_problem_state.json existed falls back to the last statistics, and says so
    last_score = problem.final_report(genome, seed)["final"]["score"]
    (tmp_path / "run" / "best_problem_state.json").unlink()
    report = json.loads(open(evaluate_run(tmp_path / "run", figure=False)["eval"]).read())
    assert report["problem_state"] == "problem_state.json" and report["final"]["score"] == last_score
