"""Lesion studies run on trained run directories of both learners and write machine-readable summaries."""
import json

import numpy as np
import pytest

from pdlf_brian.cli import main
from pdlf_brian.errors import ConfigError
from pdlf_brian.protocols.lesion_study import main as study, recovery_steps


def _train(root, protocol, learner, task):
    run = root / f"{protocol}_{learner}"
    assert main(["train", protocol, "--run-dir", str(run), "--set", "device=numpy", "--set", f"learner={learner}",
                 "--set", "population=4", "--set", "generations=2", "--set", "eval_every=1",
                 "--set", "progress=false", "--set", f"task={json.dumps(task)}"]) == 0
    return str(run)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lesion_runs")
    wm = {"length": 3, "delay": 0, "batch": 4, "n_hidden": 10, "heldout_sequences": 16}
    ctl = {"episode_steps": 40, "n_hidden": 10, "heldout_episodes": 1}
    ant = [_train(root, "ant_dir", l, ctl) for l in ("plastic", "weights")]
    for k, run in enumerate(ant):
        # two generations leave a near-silent agent, on which a lesion changes nothing: give the runs an
        # active genome so that the test sees the lesion act
        genome = np.load(f"{run}/recommendation.npy")
        active = np.random.default_rng(k).normal(0, 0.5, genome.shape)
        for name in ("recommendation.npy", "best_genome.npy"):
            np.save(f"{run}/{name}", active)
    return {"wm": [_train(root, "working_memory", l, wm) for l in ("plastic", "weights")], "ant": ant}


def test_neuron_sweep_on_both_learners(runs, tmp_path):
    study(["neurons", *runs["wm"], "--out", str(tmp_path), "--fractions", "0", "0.5", "1.0", "--lesion-seeds", "0"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    for learner in ("plastic", "weights"):
        row = summary["learners"][learner]
        assert row["fractions"] == [0, 0.5, 1.0] and len(row["mean"]) == 3
        # every hidden neuron blocked: the readout is silent, and a silent output is never right
        assert row["mean"][2] == 0.0
        assert row["budget"] == {"generations": 2, "population": 4, "env_steps": row["budget"]["env_steps"]}
        assert row["budget"]["env_steps"] > 0
    lesions = json.loads((tmp_path / "lesions.json").read_text())
    assert set(lesions["neuron_sweep"]["scores"]) == {"plastic", "weights"}


def test_neuron_sweep_on_control_gives_zero_action_level(runs, tmp_path):
    study(["neurons", *runs["ant"], "--out", str(tmp_path), "--fractions", "0", "1.0", "--lesion-seeds", "0"])
    sweep = json.loads((tmp_path / "lesions.json").read_text())["neuron_sweep"]
    zero = sweep["levels"]["zero action"]
    for learner in ("plastic", "weights"):
        intact, blocked = sweep["scores"][learner][0]
        # every hidden neuron blocked: readout 0, so the agent scores exactly what the zero-action policy does
        assert blocked == pytest.approx(zero, rel=1e-9)
        assert intact != pytest.approx(zero, rel=1e-3)


def test_temporary_lesion_on_control_runs(runs, tmp_path):
    study(["temporary", *runs["ant"], "--out", str(tmp_path), "--start", "10", "--length", "5", "--window", "3"])
    lesions = json.loads((tmp_path / "lesions.json").read_text())["temporary"]
    for learner in ("plastic", "weights"):
        lesioned, intact = np.asarray(lesions["rewards"][learner][0]), np.asarray(lesions["intact"][learner][0])
        assert lesioned.shape == intact.shape == (40,)
        np.testing.assert_array_equal(lesioned[:10], intact[:10])      # identical before the lesion
        assert np.abs(lesioned[10:15] - intact[10:15]).max() > 1e-3     # the lesion acts in its window
    assert "recovery_steps" in json.loads((tmp_path / "summary.json").read_text())["learners"]["plastic"]


def test_temporary_lesion_in_longer_episodes_than_trained(runs, tmp_path):
    # the runs trained on 40-step episodes; the lesion at step 45 needs longer ones
    with pytest.raises(ConfigError, match="'start': step 45 is beyond the episode"):
        study(["temporary", runs["ant"][0], "--out", str(tmp_path), "--start", "45", "--length", "5"])
    study(["temporary", *runs["ant"], "--out", str(tmp_path), "--start", "45", "--length", "5",
           "--episode-steps", "60", "--episodes", "2"])
    data = json.loads((tmp_path / "lesions.json").read_text())["temporary"]
    for learner in ("plastic", "weights"):
        lesioned, intact = np.asarray(data["rewards"][learner][0]), np.asarray(data["intact"][learner][0])
        assert lesioned.shape == intact.shape == (60,)
        np.testing.assert_array_equal(lesioned[:45], intact[:45])
        assert np.abs(lesioned[45:50] - intact[45:50]).max() > 1e-3
    runs_ = json.loads((tmp_path / "summary.json").read_text())["runs"]
    assert {(r["episode_steps"], r["episodes_per_value"], r["generations"]) for r in runs_} == {(60, 2, 2)}
    learners = json.loads((tmp_path / "summary.json").read_text())["learners"]
    assert learners["plastic"]["after_steps"] == [100, 60]       # nothing 50 steps after a lesion ending at 50
    assert learners["plastic"]["reward_difference_after_mean"] is None


def test_recovery_steps():
    intact = np.ones(40)
    lesioned = np.ones(40)
    lesioned[10:20] = 0.0
    lesioned[20:24] = 0.5
    assert recovery_steps(lesioned, intact, 10, 10, window=1) == 4
    assert recovery_steps(np.zeros(40), intact, 10, 10, window=1) is None
