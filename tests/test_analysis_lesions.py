"""Lesion curves: score against lesion fraction, reward around a temporary lesion, ablation curves."""
import json

import matplotlib

matplotlib.use("Agg")  # tests only: the analysis modules never select a backend

import numpy as np
import pytest

from pdlf_brian.analysis import lesions


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_lesion_fraction_statistics_and_figure():
    fractions = [0.0, 0.4, 0.8]
    scores = {"plastic": np.array([[10.0, 8.0, 6.0], [12.0, 10.0, 8.0]]),
              "weights": np.array([[10.0, 5.0, 1.0], [10.0, 5.0, 3.0]])}
    stats = lesions.lesion_fraction_statistics(fractions, scores)
    np.testing.assert_allclose(stats["learners"]["plastic"]["mean"], [11.0, 9.0, 7.0])
    np.testing.assert_allclose(stats["learners"]["plastic"]["std"], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(stats["learners"]["weights"]["relative"], [1.0, 0.5, 0.2])
    assert stats["learners"]["weights"]["n_seeds"] == [2, 2, 2]
    fig, numbers = lesions.lesion_fraction_figure(fractions, scores, levels={"zero action": 0.0})
    assert numbers["learners"] == stats["learners"] and numbers["levels"] == {"zero action": 0.0}
    json.dumps(numbers)
    with pytest.raises(ValueError, match="columns"):
        lesions.lesion_fraction_statistics([0.0, 0.5], scores)


def test_temporary_lesion_recovery():
    steps = np.arange(100)
    reward = np.where((steps >= 40) & (steps < 50), 0.0, 1.0)
    rewards = {"plastic": np.stack([reward, 3 * reward]), "weights": np.stack([reward * (steps < 40)] * 2)}
    fig, numbers = lesions.temporary_lesion_figure(rewards, lesion_start=40, lesion_length=10, window=20)
    plastic, weights = numbers["learners"]["plastic"], numbers["learners"]["weights"]
    assert numbers["lesion"] == [40, 50]
    np.testing.assert_allclose(plastic["mean"], 2 * reward)
    np.testing.assert_allclose(plastic["std"], reward)
    assert plastic["recovery"]["before"] == pytest.approx(2.0) and plastic["recovery"]["during"] == 0
    assert plastic["recovery"]["recovered_fraction"] == pytest.approx(1.0)
    assert weights["recovery"]["recovered_fraction"] == pytest.approx(0.0)
    json.dumps(numbers)
    _, smoothed = lesions.temporary_lesion_figure(rewards, 40, 10, smooth=5)
    assert smoothed["learners"]["plastic"]["mean"][45] == pytest.approx(0.0)
    assert smoothed["learners"]["plastic"]["mean"][40] == pytest.approx(2 * 2 / 5)
    # the ends average the steps that exist: a constant stays constant there
    assert smoothed["learners"]["plastic"]["mean"][0] == pytest.approx(2.0)
    assert smoothed["learners"]["plastic"]["mean"][-1] == pytest.approx(2.0)


def test_ablation_figure_reuses_curves():
    def log(values):
        return [{"generation": g, "best": v, "mean": v, "std": 0, "heldout": None, "env_steps": 10 * (g + 1),
                 "wall_time": 0} for g, v in enumerate(values)]
    runs = {"full": [log([0, 1, 2]), log([0, 3, 4])], "no-PDP": [log([0, 0, 0])]}
    fig, numbers = lesions.ablation_figure(runs)
    np.testing.assert_allclose(numbers["generation"]["full"]["mean"], [0, 2, 3])
    np.testing.assert_allclose(numbers["generation"]["full"]["std"], [0, 1, 1])
    assert numbers["env_steps"]["no-PDP"]["x"] == [10, 20, 30]
