"""Training curves with spread over seeds: statistics on known logs, figures, the old entry point."""
import json
import os

import matplotlib

matplotlib.use("Agg")  # tests only: the analysis modules never select a backend

import numpy as np
import pytest

from pdlf_brian.analysis import curves
from pdlf_brian.analysis.figures import save_figure

ANALYSIS_DIR = os.path.join(os.path.dirname(__file__), "..", "analysis")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def make_log(values, heldout_every=None, steps_per_generation=100, offset=0.0):
    log = []
    for g, v in enumerate(values):
        log.append({"generation": g, "best": v + 1.0, "mean": v + offset, "std": 0.1,
                    "heldout": (v if heldout_every and g % heldout_every == 0 else None),
                    "env_steps": (g + 1) * steps_per_generation, "wall_time": 0.1 * g})
    return log


def write_run(tmp_path, name, log):
    run = tmp_path / name
    run.mkdir()
    with open(run / "log.jsonl", "w") as fh:
        for row in log:
            fh.write(json.dumps(row) + "\n")
    return str(run)


def test_statistics_of_known_curves():
    logs = [make_log([0.0, 1.0, 2.0]), make_log([2.0, 3.0, 4.0]), make_log([4.0, 5.0, 6.0])]
    stats = curves.curve_statistics(logs, "mean", "generation")
    assert stats["x"] == [0, 1, 2]
    np.testing.assert_allclose(stats["mean"], [2.0, 3.0, 4.0])
    np.testing.assert_allclose(stats["std"], [np.sqrt(8 / 3)] * 3)     # values m-2, m, m+2
    np.testing.assert_allclose(stats["min"], [0.0, 1.0, 2.0])
    np.testing.assert_allclose(stats["max"], [4.0, 5.0, 6.0])
    assert stats["n_seeds"] == 3 and stats["n_per_point"] == [3, 3, 3]
    json.dumps(stats)


def test_ragged_runs_and_missing_heldout():
    logs = [make_log([1.0, 1.0, 1.0, 1.0], heldout_every=2), make_log([3.0, 3.0], heldout_every=2)]
    stats = curves.curve_statistics(logs, "mean")
    assert stats["n_per_point"] == [2, 2, 1, 1]
    np.testing.assert_allclose(stats["mean"], [2.0, 2.0, 1.0, 1.0])
    np.testing.assert_allclose(stats["std"], [1.0, 1.0, 0.0, 0.0])
    held = curves.curve_statistics(logs, "heldout")
    assert held["x"] == [0, 2] and held["n_per_point"] == [2, 1]


def test_env_steps_alignment_interpolates_inside_each_run():
    a = make_log([0.0, 1.0, 2.0], steps_per_generation=100)     # x = 100, 200, 300
    b = make_log([0.0, 2.0], steps_per_generation=200)          # x = 200, 400
    stats = curves.curve_statistics([a, b], "mean", "env_steps")
    assert stats["x"] == [100, 200, 300, 400]
    # at 300: a gives 2, b interpolates 1; at 100 only a covers it; at 400 only b
    np.testing.assert_allclose(stats["mean"], [0.0, 0.5, 1.5, 2.0])
    assert stats["n_per_point"] == [1, 2, 2, 1]
    with pytest.raises(ValueError, match="x: expected"):
        curves.curve_statistics([a], "mean", "wall")


def test_curves_figure_groups_and_saves(tmp_path):
    groups = {"plastic": [make_log([0.0, 1.0, 2.0]), make_log([2.0, 3.0, 4.0])],
              "weights": [make_log([1.0, 1.0, 1.0])]}
    fig, numbers = curves.curves_figure(groups, key="mean", spread="minmax", levels={"zero action": 0.0})
    assert set(numbers["generation"]) == {"plastic", "weights"}
    np.testing.assert_allclose(numbers["generation"]["plastic"]["mean"], [1.0, 2.0, 3.0])
    assert numbers["env_steps"]["plastic"]["x"] == [100, 200, 300]
    assert numbers["generation"]["weights"]["n_seeds"] == 1
    json.dumps(numbers)
    paths = save_figure(fig, str(tmp_path / "sub" / "curves"))
    assert [os.path.basename(p) for p in paths] == ["curves.png", "curves.svg"]
    assert all(os.path.getsize(p) > 0 for p in paths)


def test_a_mean_over_fewer_seeds_is_drawn_dotted_without_a_band():
    import matplotlib.pyplot as plt

    a = make_log([0.0, 1.0, 2.0], steps_per_generation=100)     # env steps 100, 200, 300
    b = make_log([0.0, 2.0], steps_per_generation=200)          # 200, 400: only b reaches 400
    stats = curves.curve_statistics([a, b], "mean", "env_steps")
    fig, ax = plt.subplots()
    curves.draw_band(ax, stats, label="g")
    solid, dotted = ax.lines
    assert solid.get_linestyle() == "-" and dotted.get_linestyle() == ":"
    np.testing.assert_array_equal(np.isfinite(solid.get_ydata()), [False, True, True, False])
    np.testing.assert_array_equal(np.isfinite(dotted.get_ydata()), [True, True, True, True])
    band = ax.collections[0].get_paths()[0].vertices[:, 0]
    assert band.min() >= 200 and band.max() <= 300            # the band covers both seeds only
    fig2, ax2 = plt.subplots()
    curves.draw_band(ax2, curves.curve_statistics([a, a], "mean", "env_steps"), label="same")
    assert len(ax2.lines) == 1                                  # all points covered: no dotted line


def test_plot_training_keeps_its_signature(tmp_path):
    runs = [write_run(tmp_path, f"s{i}", make_log([i, i + 1.0], heldout_every=1)) for i in range(2)]
    path = str(tmp_path / "training.png")
    out = curves.plot_training(runs, path, labels=["plastic", "plastic"], heldout_label="held-out accuracy",
                               levels={"chance": 0.5}, title="t")
    assert out == path and os.path.getsize(path) > 0
    fig, numbers = curves.training_figure(runs, labels=["plastic", "plastic"])
    assert numbers["mean"]["plastic"]["n_seeds"] == 2
    np.testing.assert_allclose(numbers["heldout"]["plastic"]["mean"], [0.5, 1.5])
    np.testing.assert_allclose(numbers["best"]["plastic"]["mean"], [1.5, 2.5])


def test_no_module_selects_a_backend():
    for name in os.listdir(ANALYSIS_DIR):
        if name.endswith(".py"):
            with open(os.path.join(ANALYSIS_DIR, name)) as fh:
                assert "matplotlib.use(" not in fh.read(), name


def test_recent_change_fits_the_window_and_ignores_older_generations():
    rng = np.random.default_rng(3)
    log = [{"generation": g, "heldout": (1000.0 if g < 40 else 2.0 * g + rng.normal(0, 0.01)) if g % 5 == 0 else None}
           for g in range(101)]
    assert curves.recent_change(log, "heldout", window=50) == pytest.approx(100.0, abs=0.5)
    flat = [{"generation": g, "heldout": 7.0 if g % 10 == 0 else None} for g in range(60)]
    assert curves.recent_change(flat, "heldout", window=50) == pytest.approx(0.0, abs=1e-9)
    sparse = [{"generation": g, "heldout": float(g) if g in (0, 59) else None} for g in range(60)]
    assert curves.recent_change(sparse, "heldout", window=50) is None      # one value in the window
    with pytest.raises(ValueError, match="window"):
        curves.recent_change(flat, "heldout", window=0)
