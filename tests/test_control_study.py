"""The control study (issue 10): equal-budget runs, trivial policies, steering, summary, report, resume."""
import json
import os

import numpy as np
import pytest

from pdlf_brian.protocols.control_study import main as study, schedule_values, zero_action_report

TINY = ["--population", "4", "--generations", "2", "--episode-steps", "20", "--hidden", "8",
        "--heldout-episodes", "1", "--eval-every", "1", "--snapshot-every", "1", "--device", "numpy"]
STEPS = 20


def read(path):
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    root = tmp_path_factory.mktemp("control")
    flags = TINY + ["--jobs", "1", "--out", str(root)]
    study(["train", "ant_dir", "--seeds", "0", "1"] + flags)
    study(["trivial", "ant_dir", "--seeds", "0", "1", "--agnostic-seeds", "0"] + flags)
    study(["steer", "--out", str(root)])
    study(["steer", "--out", str(root), "--seed", "1", "--learners", "plastic"])
    study(["summarise", "--out", str(root)])
    return root


def test_every_subcommand_writes_what_it_says(out):
    assert sorted(os.listdir(out / "runs")) == ["agnostic_s0", "plastic_s0", "plastic_s1", "weights_s0", "weights_s1"]
    for name in os.listdir(out / "runs"):
        report = read(out / "runs" / name / "eval.json")
        assert report["generations"] == 2
        assert len(report["final"]["per_task_mean"]) == 8 and len(report["unseen"]["per_task_mean"]) == 72
    config = read(out / "runs" / "agnostic_s0" / "config.json")
    assert config["learner"] == "weights" and config["task"]["task_input"] is False
    plastic, weights = (read(out / "runs" / f"{learner}_s0" / "config.json") for learner in ("plastic", "weights"))
    assert {k: v for k, v in plastic.items() if k != "learner"} == {k: v for k, v in weights.items() if k != "learner"}
    trivial = read(out / "trivial.json")
    assert [r["seed"] for r in trivial["zero_action"]] == [0, 1] and trivial["agnostic_runs"] == ["agnostic_s0"]
    steering = read(out / "steering.json")
    assert set(steering["learners"]) == {"plastic", "weights"} and steering["episode_steps"] == STEPS
    for result in steering["learners"].values():
        assert result["seed"] == 0
        for name in ("triangle", "rectangle", "arc"):
            run = result["schedules"][name]
            assert len(run["x"]) == len(run["y"]) == len(run["direction"]) == len(run["reward"]) == STEPS
            assert np.isfinite(run["return"]) and 1 <= run["alive_steps"] <= STEPS
    other = read(out / "steering_s1.json")         # --seed writes beside the default file
    assert list(other["learners"]) == ["plastic"] and other["learners"]["plastic"]["run"] == "plastic_s1"
    assert other["schedules"] == steering["schedules"]


def test_steer_prints_where_each_segment_went_and_how_it_turned(out, capsys):
    study(["steer", "--out", str(out), "--seed", "1", "--learners", "plastic"])
    lines = capsys.readouterr().out.splitlines()
    per = {line.split(":")[0].strip(): line for line in lines if line.startswith("  ")}
    assert set(per) == {"triangle", "rectangle", "arc"}
    assert per["triangle"].count("turned") == 3 and per["rectangle"].count("turned") == 4
    assert per["triangle"].lstrip().startswith("triangle: 0°:") and "-120°:" in per["triangle"]


def test_separability_of_hidden_states_per_run_and_learner(out):
    study(["separability", "--out", str(out), "--episodes", "2"])
    data = read(out / "separability.json")
    assert data["chance"] == pytest.approx(1 / 8)                 # 8 directions, balanced
    assert set(data["learners"]) == {"plastic", "weights", "agnostic"}
    assert data["learners"]["plastic"]["seeds"] == [0, 1] and data["learners"]["agnostic"]["seeds"] == [0]
    for row in data["runs"]:
        assert 0 <= row["accuracy"] <= 1 and row["generations"] == 2
        # 20-step episodes are 21 network steps: states at steps 10, 15, 20 of 8 values x 2 episodes
        assert row["n_samples"] == 3 * 16
    plastic = [r["accuracy"] for r in data["runs"] if r["kind"] == "plastic"]
    assert data["learners"]["plastic"]["mean"] == pytest.approx(np.mean(plastic))


def test_summary_fields_and_types(out):
    summary = read(out / "summary.json")
    assert summary["kind"] == "control" and summary["family"] == "ant_dir"
    assert [row["learner"] for row in summary["rows"]] == ["plastic", "weights"]
    for row in summary["rows"]:
        for key in ("train_score_mean", "train_score_std", "unseen_score_mean", "unseen_score_std", "wall_seconds"):
            assert isinstance(row[key], float) and np.isfinite(row[key]), key
        for key in ("generations", "population", "env_steps"):
            assert isinstance(row[key], int), key
        assert row["seeds"] == [0, 1] and row["generations"] == 2 and row["population"] == 4
        assert 0 < row["env_steps"] <= 2 * 4 * 8 * STEPS
        scores = [read(out / "runs" / f"{row['learner']}_s{s}" / "eval.json")["final"]["score"] for s in (0, 1)]
        assert row["train_score_mean"] == pytest.approx(np.mean(scores))
        assert row["train_score_std"] == pytest.approx(np.std(scores))
        # two generations hold too few held-out points for a trend
        assert row["heldout_change_last_50_mean"] is None
        assert row["flattened"] is None
        assert [s["heldout_change_last_50"] for s in row["per_seed"]] == [None, None]
    zero, agnostic = summary["trivial"]["zero_action"], summary["trivial"]["task_agnostic"]
    assert zero["seeds"] == [0, 1] and zero["max_abs_action"] == 0.0 and isinstance(zero["train_score_mean"], float)
    assert agnostic["seeds"] == [0] and agnostic["best"]["run"] == "agnostic_s0"
    assert isinstance(agnostic["unseen_score_mean"], float)
    per = summary["per_task"]
    assert len(per["train_values"]) == 8 and len(per["unseen_values"]) == 72
    for stats in [*per["learners"].values(), *per["trivial"].values()]:
        assert len(stats["train"]["mean"]) == 8 and len(stats["unseen"]["mean"]) == 72
    assert set(per["learners"]) == {"plastic", "weights"} and set(per["trivial"]) == {"zero_action", "task_agnostic"}
    assert summary["incomplete"] == []
    assert summary["warnings"] == [], summary["warnings"]


def test_zero_action_policy_outputs_zero_actions(out):
    from pdlf_brian.evolution.config import TrainConfig

    assert all(r["max_abs_action"] == 0.0 for r in read(out / "trivial.json")["zero_action"])
    config = TrainConfig(protocol="halfcheetah_vel", learner="weights", device="numpy", population=4, progress=False,
                         task={"episode_steps": 10, "n_hidden": 4, "heldout_episodes": 1, "action_map": "tanh"})
    report = zero_action_report(config, seed=3)
    assert report["max_abs_action"] == 0.0
    # halfcheetah_vel: reward -|v - v*| - control cost; an idle cheetah (settling, |v| < 0.2) earns about -v* a step
    targets = np.asarray(report["final"]["task_values"])
    np.testing.assert_allclose(report["final"]["per_task_mean"], -10 * targets, atol=2.0)


def test_steering_schedules_change_the_task_value_at_the_right_steps(out):
    values, marks = schedule_values("triangle", 20)
    assert marks == [0, 7, 14] and np.allclose(values[[0, 6, 7, 13, 14, 19]], [0, 0, 2 * np.pi / 3, 2 * np.pi / 3,
                                                                                -2 * np.pi / 3, -2 * np.pi / 3])
    values, marks = schedule_values("rectangle", 20)
    assert marks == [0, 5, 10, 15] and np.allclose(values[::5], [0, np.pi / 2, np.pi, -np.pi / 2])
    assert len(set(values[:5])) == len(set(values[15:])) == 1
    values, marks = schedule_values("arc", 21)
    assert marks == [0, 5, 10, 15] and np.allclose(values, np.linspace(0, np.pi, 21))
    steering = read(out / "steering.json")
    for name, schedule in steering["schedules"].items():
        expected, _ = schedule_values(name, STEPS)
        np.testing.assert_allclose(schedule["direction"], expected, atol=1e-6)
        for result in steering["learners"].values():
            # what the environment used at each env step (recorded during the episode)
            np.testing.assert_allclose(result["schedules"][name]["direction"], expected, atol=1e-6)


def test_resume_continues_the_runs(tmp_path):
    flags = TINY + ["--seeds", "0", "--out", str(tmp_path)]
    study(["train", "ant_dir", "--jobs", "1"] + flags)
    before = {learner: (tmp_path / "runs" / f"{learner}_s0" / "log.jsonl").read_text().splitlines()
              for learner in ("plastic", "weights")}
    study(["train", "ant_dir", "--jobs", "2", "--population", "8"] + flags + ["--generations", "3"])
    for learner, lines in before.items():
        run = tmp_path / "runs" / f"{learner}_s0"
        after = run.joinpath("log.jsonl").read_text().splitlines()
        assert after[:2] == lines and len(after) == 3
        assert read(run / "config.json")["population"] == 4     # the saved config is kept
        assert read(run / "eval.json")["generations"] == 3
    stamp = os.path.getmtime(tmp_path / "runs" / "weights_s0" / "eval.json")
    study(["train", "ant_dir", "--jobs", "1", "--learners", "weights"] + flags + ["--generations", "3"])
    assert os.path.getmtime(tmp_path / "runs" / "weights_s0" / "eval.json") == stamp   # not re-evaluated
    rows = read(tmp_path / "summary.json")["rows"]
    assert [r["generations"] for r in rows] == [3, 3]


def test_report_draws_the_control_figures(out):
    from pdlf_brian.cli import main

    (out / "runs.json").write_text("[]")          # the working-memory grid's figures must skip a control summary
    assert main(["report", str(out)]) == 0
    names = set(os.listdir(out / "figures"))
    for figure in ("control_task_values", "control_heldout_curves", "control_steering", "control_steering_s1",
                   "training_0_spread"):
        assert {f"{figure}.png", f"{figure}.svg", f"{figure}.json"} <= names, figure
    assert "accuracy_grid.png" not in names
    numbers = read(out / "figures" / "control_steering.json")
    segments = numbers["schedules"]["rectangle"]["learners"]["weights"]["segments"]
    assert [s["start"] for s in segments] == [0, 5, 10, 15]
    error = np.angle(np.exp(1j * (np.array([s["intended"] for s in segments]) - [0, np.pi / 2, np.pi, -np.pi / 2])))
    assert np.allclose(error, 0)
    assert {"turn_deg", "exit_heading", "exit_distance"} <= set(segments[0])
    values = read(out / "figures" / "control_task_values.json")
    assert len(values["unseen_values"]) == 72 and set(values["trivial"]) == {"zero_action", "task_agnostic"}
    spread = read(out / "figures" / "training_0_spread.json")
    assert set(spread["generation"]) == {"plastic", "weights", "weights task-agnostic"}
    page = (out / "figures" / "report.html").read_text()
    assert "control_steering" in page and "plastic_s1 at 2 generations" in page
    assert set(read(out / "figures" / "control_steering_s1.json")["schedules"]["arc"]["learners"]) == {"plastic"}
    embedding = read(out / "figures" / "embedding_plastic_s0.json")
    assert len(set(embedding["labels"])) == 8                  # one class per training direction
    assert {"weights_plastic_s0.png", "activity_weights_s0.png"} <= names


def test_control_figures_name_their_budget():
    from pdlf_brian.analysis.control import budget_text

    rows = [{"learner": "plastic", "seeds": [0, 1, 2], "generations": 50, "population": 64, "episode_steps": 500},
            {"learner": "weights", "seeds": [0, 1, 3], "generations": 40, "population": 64, "episode_steps": 500}]
    assert budget_text({"rows": rows}) == "4 seeds, generations 40/50, population 64, 500-step episodes"
    assert budget_text({"rows": []}) == ""


def test_steering_figure_marks_where_an_episode_ended():
    from pdlf_brian.analysis.control import steering_figure

    n = 20
    values, marks = schedule_values("rectangle", n)

    def run(alive):
        x = np.minimum(np.arange(n), alive - 1) * 0.1          # stays where it fell
        return {"x": x.tolist(), "y": [0.0] * n, "direction": values.tolist(), "reward": [1.0] * n,
                "return": float(alive), "alive_steps": alive}

    steering = {"family": "ant_dir", "episode_steps": n,
                "schedules": {"rectangle": {"direction": values.tolist(), "marks": marks}},
                "learners": {"plastic": {"run": "plastic_s0", "schedules": {"rectangle": run(n)}},
                             "weights": {"run": "weights_s0", "schedules": {"rectangle": run(7)}}}}
    fig, numbers = steering_figure(steering)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["plastic (plastic_s0): 20", "weights (weights_s0): 7, fell at step 7"]
    crosses = [line for line in fig.axes[0].lines if line.get_marker() == "x"]
    assert len(crosses) == 1 and crosses[0].get_xdata()[0] == pytest.approx(0.6)
    assert numbers["schedules"]["rectangle"]["learners"]["weights"]["alive_steps"] == 7


def test_summary_carries_each_runs_held_out_trend(out, monkeypatch):
    """The summary's trend fields come from `recent_change` of each run's log, averaged over seeds."""
    from pdlf_brian.analysis import curves
    from pdlf_brian.protocols.control_study import group_row, run_row

    trends = iter([10.0, 30.0])
    monkeypatch.setattr(curves, "recent_change", lambda log, key, window: next(trends))
    rows = [run_row(str(out / "runs" / f"plastic_s{s}")) for s in (0, 1)]
    assert [r["heldout_change_last_50"] for r in rows] == [10.0, 30.0]
    group = group_row("plastic", rows)
    assert group["heldout_change_last_50_mean"] == pytest.approx(20.0)
    assert group["heldout_change_last_50_std"] == pytest.approx(10.0)
    assert group["flattened"] == (20.0 < group["train_score_std"])


def test_flattened_compares_the_recent_rise_with_the_spread_over_seeds():
    from pdlf_brian.analysis.curves import flattened

    assert flattened(66.0, 37.0, 5) is False          # halfcheetah_vel plastic at 400 generations
    assert flattened(32.0, 144.0, 5) is True
    assert flattened(-5.0, 0.0, 3) is True            # falling curves have stopped rising
    assert flattened(1.0, 0.0, 1) is None             # one seed has no spread
    assert flattened(None, 10.0, 3) is None


def test_trend_verdict_tells_a_falling_curve_from_a_flat_one():
    from pdlf_brian.analysis.curves import trend_verdict

    assert trend_verdict(66.0, 37.0, 5) == "rising"
    assert trend_verdict(-5.0, 37.0, 5) == "flat"
    assert trend_verdict(-390.0, 19.0, 3) == "falling"   # the tanh pilot's weight-trained Ants
    assert trend_verdict(1.0, 0.0, 1) is None


def test_printed_summary_names_the_trend(capsys):
    from pdlf_brian.protocols.control_study import _print_summary

    row = dict(learner="weights", train_score_mean=421.1, train_score_std=18.8, unseen_score_mean=420.2,
               generations=50, seeds=[0, 1, 2], heldout_change_last_50_mean=-390.1)
    _print_summary({"rows": [row, dict(row, learner="plastic", heldout_change_last_50_mean=60.0)],
                    "trivial": {}, "warnings": []})
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("moved -390.1 over the last 50 generations (falling)")
    assert out[1].endswith("(rising)")
