"""Steering across a campaign's stages (`pdlf_brian.analysis.steering_stages`, ``control_study stages``)."""
import json

import numpy as np
import pytest

from pdlf_brian.analysis.steering_stages import stage_steering, steering_stages_figure
from pdlf_brian.protocols.control_study import main as study, schedule_values
from test_analysis_control import walk
from test_analysis_stages import write_summary

N = 480                                   # steps: triangle segments of 160, rectangle of 120


def headings(schedule, last_turn):
    """Walk each segment at its command; in the last one, turn by ``last_turn`` degrees over 20 steps."""
    values, marks = schedule_values(schedule, N)
    out = np.degrees(values.copy())
    last = marks[-1]
    start = out[last - 1]
    out[last:last + 20] = np.linspace(start, start + last_turn, 20)
    out[last + 20:] = start + last_turn
    return np.radians(out)


def write_steering(path, run, seed, turns, learner="plastic"):
    schedules, per = {}, {}
    for name, turn in turns.items():
        values, marks = schedule_values(name, N)
        schedules[name] = {"direction": values.tolist(), "marks": marks}
        x, y = walk(headings(name, turn))
        per[name] = {"x": x.tolist(), "y": y.tolist(), "direction": values.tolist(), "reward": [1.0] * N,
                     "return": float(N), "alive_steps": N}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"family": "ant_dir", "episode_steps": N, "schedules": schedules,
                                "learners": {learner: {"run": run, "seed": seed, "schedules": per}}}))


@pytest.fixture
def campaign(tmp_path):
    write_steering(tmp_path / "gen100" / "steering.json", "plastic_s0", 0, {"triangle": 0.0, "rectangle": 0.0})
    write_steering(tmp_path / "gen200" / "steering.json", "plastic_s0", 0, {"triangle": -240.0, "rectangle": -135.0})
    write_steering(tmp_path / "gen200" / "steering_s1.json", "plastic_s1", 1, {"triangle": 120.0, "rectangle": 90.0})
    write_steering(tmp_path / "gen200" / "steering_s0.json", "plastic_s0", 0, {"triangle": 5.0, "rectangle": 5.0})
    return tmp_path


def test_one_row_per_stage_run_and_schedule(campaign):
    rows = stage_steering(str(campaign))
    key = {(r["generations"], r["run"], r["schedule"]): r for r in rows}
    assert sorted({k[:2] for k in key}) == [(100, "plastic_s0"), (200, "plastic_s0"), (200, "plastic_s1")]
    triangle = key[(200, "plastic_s0", "triangle")]                 # steering.json wins over steering_s0.json
    assert triangle["previous_deg"] == pytest.approx(120.0) and triangle["command_deg"] == pytest.approx(-120.0)
    assert triangle["left_deg"] == pytest.approx(120.0) and triangle["right_deg"] == pytest.approx(-240.0)
    assert triangle["turn_deg"] == pytest.approx(-240.0, abs=8.0)
    assert triangle["exit_error_deg"] < 5.0                          # it ends walking at the command
    left = key[(200, "plastic_s1", "triangle")]
    assert left["turn_deg"] == pytest.approx(120.0, abs=8.0) and left["exit_error_deg"] < 5.0
    still = key[(100, "plastic_s0", "triangle")]
    assert abs(still["turn_deg"]) < 5.0 and still["exit_error_deg"] == pytest.approx(120.0, abs=5.0)
    part = key[(200, "plastic_s0", "rectangle")]                     # 180° -> -90°: half of the right turn
    assert part["right_deg"] == pytest.approx(-270.0) and part["exit_error_deg"] == pytest.approx(135.0, abs=5.0)
    assert "arc" not in {r["schedule"] for r in rows}                # not written here
    assert stage_steering(str(campaign), learner="weights") == []


def test_the_figure_draws_each_run_against_the_stages(campaign):
    fig, numbers = steering_stages_figure(stage_steering(str(campaign)))
    assert len(fig.axes) == 4
    triangle = numbers["schedules"]["triangle"]
    assert (triangle["left_deg"], triangle["right_deg"]) == pytest.approx((120.0, -240.0))
    assert triangle["runs"]["plastic_s0"]["generations"] == [100, 200]
    assert triangle["runs"]["plastic_s1"]["generations"] == [200]
    hollow = [line for line in fig.axes[0].lines if line.get_markerfacecolor() == "white" and len(line.get_xdata())]
    assert hollow == []                                   # every synthetic agent walks through its last steps
    standing = [dict(r, exit_distance=0.0) if r["generations"] == 100 else r for r in stage_steering(str(campaign))]
    fig, _ = steering_stages_figure(standing)
    hollow = [line for line in fig.axes[0].lines if line.get_markerfacecolor() == "white" and len(line.get_xdata())]
    assert [list(line.get_xdata()) for line in hollow] == [[100]]
    with pytest.raises(ValueError, match="schedules"):
        steering_stages_figure(stage_steering(str(campaign)), schedules=("arc",))


def test_stages_command_draws_the_steering_where_stages_kept_it(campaign, tmp_path_factory):
    write_summary(campaign / "gen100", 100)
    write_summary(campaign / "gen200", 200)
    study(["stages", "--out", str(campaign)])
    assert (campaign / "stages_steering.png").is_file()
    drawn = json.loads((campaign / "stages_steering.json").read_text())
    assert set(drawn["schedules"]) == {"triangle", "rectangle"}
    bare = tmp_path_factory.mktemp("bare")                           # no steering kept: no figure
    write_summary(bare / "gen100", 100)
    study(["stages", "--out", str(bare)])
    assert not (bare / "stages_steering.png").exists()
