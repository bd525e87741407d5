"""Hidden-state embeddings: separable tasks score near 1, shuffled labels score near chance."""
import json

import matplotlib

matplotlib.use("Agg")  # tests only: the analysis modules never select a backend

import numpy as np
import pytest

from pdlf_brian.analysis import embedding


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def clusters(rng, n_per_task=30, n_tasks=3, dim=8, spread=0.3):
    centers = rng.normal(0, 3, size=(n_tasks, dim))
    states = {f"task {c}": centers[c] + spread * rng.normal(size=(n_per_task, dim)) for c in range(n_tasks)}
    return embedding.stack_states(states)


def test_separable_clusters_score_near_one(rng):
    X, y = clusters(rng)
    score = embedding.separability(X, y, seed=1)
    assert score["accuracy"] > 0.97
    assert score["chance"] == pytest.approx(1 / 3)
    assert score["n_classes"] == 3 and score["n_samples"] == 90 and len(score["fold_accuracies"]) == 5


def test_shuffled_labels_score_near_chance(rng):
    X, y = clusters(rng, n_per_task=60, n_tasks=2)
    shuffled = rng.permutation(y)
    score = embedding.separability(X, shuffled, seed=1)
    assert score["chance"] == pytest.approx(0.5)
    assert abs(score["accuracy"] - score["chance"]) < 0.15


def test_unbalanced_chance_and_checks(rng):
    X = rng.normal(size=(12, 2))
    y = np.array(["a"] * 9 + ["b"] * 3)
    assert embedding.chance_level(y) == pytest.approx(0.75)
    assert embedding.separability(X, y)["n_splits"] == 3      # limited by the smallest task
    with pytest.raises(ValueError, match="two tasks"):
        embedding.separability(X, ["a"] * 12)
    with pytest.raises(ValueError, match="labels: expected shape"):
        embedding.separability(X, y[:5])


def test_embedding_figure_is_seeded(rng):
    # states shaped like a Recording trace slice (T, B, H) per task
    states = {t: rng.normal(3 * t, 0.3, size=(5, 4, 6)) for t in range(2)}
    X, y = embedding.stack_states(states)
    assert X.shape == (40, 6) and list(y[:20]) == [0] * 20
    fig, numbers = embedding.embedding_figure(X, y, seed=3)
    _, again = embedding.embedding_figure(X, y, seed=3)
    assert np.shape(numbers["embedding"]) == (40, 2)
    np.testing.assert_allclose(numbers["embedding"], again["embedding"])
    assert numbers["separability"]["accuracy"] > 0.95
    json.dumps(numbers)


def test_identical_states_embed_at_the_origin():
    # a silent network gives all-zero states; scikit-learn's t-SNE segfaults on them
    states, labels = np.zeros((40, 6)), np.repeat(["a", "b"], 20)
    np.testing.assert_array_equal(embedding.tsne(states), np.zeros((40, 2)))
    _, numbers = embedding.embedding_figure(states, labels)
    assert numbers["separability"]["accuracy"] <= 0.6


def test_grouped_folds_do_not_reward_recognising_episodes(rng):
    # 4 tasks x 4 episodes; each episode has its own random offset and nothing depends on the task:
    # a shuffled split lets the readout learn each episode's offset (and so its task), held-out
    # episodes do not
    n_tasks, n_episodes, n_steps, dim = 4, 4, 30, 16
    offsets = rng.normal(0, 3, size=(n_tasks * n_episodes, dim))
    states = np.concatenate([o + 0.3 * rng.normal(size=(n_steps, dim)) for o in offsets])
    labels = np.repeat(np.arange(n_tasks).repeat(n_episodes), n_steps)
    episodes = np.repeat(np.tile(np.arange(n_episodes), n_tasks), n_steps)
    assert embedding.separability(states, labels)["accuracy"] > 0.9
    grouped = embedding.separability(states, labels, groups=episodes)
    assert grouped["grouped"] and grouped["n_splits"] == 4 and grouped["accuracy"] < 0.5
    # when the task does shape the states, held-out episodes still separate
    task_axis = rng.normal(0, 3, size=(n_tasks, dim))
    shaped = states + np.repeat(task_axis[np.arange(n_tasks).repeat(n_episodes)], n_steps, axis=0) * 2
    assert embedding.separability(shaped, labels, groups=episodes)["accuracy"] > 0.9
    with pytest.raises(ValueError, match="groups: expected one group per sample"):
        embedding.separability(states, labels, groups=episodes[:-1])
