"""The stage table of a campaign continued in stages (`pdlf_brian.analysis.stages`, ``control_study stages``)."""
import json

import pytest

from pdlf_brian.analysis.stages import (read_stopping_rule, stage_rows, stage_table, stage_trend_figure, stopping_rule,
                                        stopping_rule_line)
from pdlf_brian.protocols.control_study import main as study

SLOPES = {"plastic_s0": 2.0, "plastic_s1": 4.0, "weights_s0": 0.0, "weights_s1": 0.0}


def write_log(path, slope, generations=100):
    path.mkdir(parents=True)
    with open(path / "log.jsonl", "w") as fh:
        for g in range(generations):
            row = {"generation": g, "best": 0.0, "mean": 0.0, "std": 0.0,
                   "heldout": slope * g if g % 10 == 9 else None, "env_steps": 1000 * (g + 1), "wall_time": g + 1.0}
            fh.write(json.dumps(row) + "\n")


def learner_row(learner, generations, scores, change=None):
    per_seed = [{"seed": s, "train_score": v, "unseen_score": v + 1, "generations": generations,
                 "env_steps": 1000 * generations} for s, v in enumerate(scores)]
    row = {"learner": learner, "train_score_mean": sum(scores) / 2, "train_score_std": abs(scores[0] - scores[1]) / 2,
           "unseen_score_mean": sum(scores) / 2 + 1, "unseen_score_std": 1.0, "generations": generations,
           "population": 4, "env_steps": 1000 * generations, "wall_seconds": 10.0 * generations,
           "seeds": [0, 1], "runs": [f"{learner}_s0", f"{learner}_s1"], "per_seed": per_seed}
    if change is not None:
        row.update(heldout_change_last_50_mean=change[0], heldout_change_last_50_std=change[1])
        for s, v in zip(per_seed, change[2]):
            s["heldout_change_last_50"] = v
    return row


def write_summary(path, generations, change=None, agnostic=True):
    path.mkdir(parents=True, exist_ok=True)
    rows = [learner_row("plastic", generations, [100.0 + generations, 120.0 + generations], change),
            learner_row("weights", generations, [50.0, 60.0])]
    trivial = {"zero_action": {"train_score_mean": 500.25, "unseen_score_mean": 499.75},
               "task_agnostic": {"train_score_mean": 7.0, "unseen_score_mean": 8.0} if agnostic else None}
    (path / "summary.json").write_text(json.dumps({"rows": rows, "trivial": trivial}))


@pytest.fixture
def campaign(tmp_path):
    for run, slope in SLOPES.items():
        write_log(tmp_path / "runs" / run, slope)
    write_summary(tmp_path / "gen60", 60, agnostic=False)                      # written before the trend field
    write_summary(tmp_path / "gen80", 80, change=(99.0, 1.0, [98.0, 100.0]))   # with it
    write_summary(tmp_path, 100)                                                # the current state
    return tmp_path


def test_one_row_per_stage_newest_first(campaign):
    rows = stage_rows(str(campaign))
    assert [r["generations"] for r in rows] == [100, 80, 60]
    plastic = rows[1]["learners"]["plastic"]
    assert plastic["train_score_mean"] == 190.0 and plastic["per_seed"] == [180.0, 200.0]
    assert rows[2]["task_agnostic"] is None and rows[1]["task_agnostic"] == {"train_score": 7.0, "unseen_score": 8.0}


def test_a_stage_without_the_trend_gets_it_from_the_logs_cut_at_that_stage(campaign):
    rows = {r["generations"]: r for r in stage_rows(str(campaign))}
    # held-out values rise by `slope` per generation: 50 generations move them by 50 * slope
    plastic = rows[60]["learners"]["plastic"]
    assert plastic["change_last_50_per_seed"] == pytest.approx([100.0, 200.0])
    assert plastic["change_last_50_mean"] == pytest.approx(150.0) and plastic["change_last_50_std"] == pytest.approx(50.0)
    assert plastic["flattened"] is False                                   # 150 > spread 10
    assert rows[60]["learners"]["weights"]["flattened"] is True            # 0 < spread 5
    assert rows[80]["learners"]["plastic"]["change_last_50_mean"] == 99.0  # the summary's own value is kept


def test_table_has_a_line_per_stage_with_its_numbers(campaign):
    table = stage_table(stage_rows(str(campaign))).splitlines()
    assert len(table) == 2 + 3
    assert table[0].startswith("| generations | plastic: held-out / unseen")
    assert table[3].startswith("| 80 | 190 ± 10 / 191 ± 1 | 180 (+98), 200 (+100) | +99 ± 1 rising | 55 ± 5 / 56 ± 1 | 50 (+0), 60 (+0) |")
    assert "| 7 / 8 | 500.2 / 499.8 | 0.1 M / 0.1 M | 800 / 800 |" in table[3]
    assert "| 60 |" in table[4] and "+150 ± 50 rising" in table[4] and "+0 ± 0 flat" in table[4]
    assert "| 160 (+100), 180 (+200) |" in table[4]     # each seed's own trend, from the logs


def test_table_calls_a_curve_that_fell_by_its_spread_falling(campaign):
    rows = stage_rows(str(campaign))
    rows[0]["learners"]["weights"].update(change_last_50_mean=-6.0, change_last_50_std=1.0, flattened=True)
    rows[0]["learners"]["plastic"].update(change_last_50_mean=-6.0, change_last_50_std=1.0, flattened=True)
    line = stage_table(rows).splitlines()[2]
    assert "| \u22126 ± 1 falling |" in line      # weights: fell by more than its spread, 5
    assert "| \u22126 ± 1 flat |" in line         # plastic: by less than its spread, 10


def test_stages_command_writes_stages_json(campaign, capsys):
    study(["stages", "--out", str(campaign)])
    assert "| 100 |" in capsys.readouterr().out
    stored = json.loads((campaign / "stages.json").read_text())
    assert [s["generations"] for s in stored["stages"]] == [100, 80, 60]


def test_trend_figure_draws_the_stages_in_order_with_their_numbers(campaign):
    fig, data = stage_trend_figure(stage_rows(str(campaign)))
    assert data["generations"] == [60, 80, 100]
    plastic = data["learners"]["plastic"]
    assert plastic["mean"] == [170.0, 190.0, 210.0] and plastic["spread"] == [10.0, 10.0, 10.0]
    assert plastic["per_seed"] == [[160.0, 180.0, 200.0], [180.0, 200.0, 220.0]]
    assert plastic["change_mean"][:2] == pytest.approx([150.0, 99.0])
    assert plastic["change_per_seed"][1][:2] == pytest.approx([200.0, 100.0])
    assert data["zero_action"] == [500.25] * 3
    assert len(fig.axes) == 2


def test_trend_figure_leaves_out_stages_before_since(campaign):
    assert stage_trend_figure(stage_rows(str(campaign)), since=80)[1]["generations"] == [80, 100]
    with pytest.raises(ValueError, match="since: no stage has at least 200 generations"):
        stage_trend_figure(stage_rows(str(campaign)), since=200)


def test_trend_figure_names_a_zero_action_level_far_below_the_curves(campaign):
    rows = stage_rows(str(campaign))
    for row in rows:
        row["zero_action"] = {"train_score": -5000.0, "unseen_score": -5000.0}
    data = stage_trend_figure(rows)[1]
    assert data["zero_action"] == [-5000.0] * 3
    assert data["score_axis"][0] > 0                           # the curves (50-220) keep their axis
    rows[0]["zero_action"]["train_score"] = 100.0               # a level among the curves sets nothing
    assert stage_trend_figure(rows)[1]["score_axis"][0] < -4000


def test_stages_command_draws_the_trend(campaign):
    study(["stages", "--out", str(campaign), "--since", "80"])
    assert json.loads((campaign / "stages_trend.json").read_text())["generations"] == [80, 100]
    for ext in ("png", "svg"):
        assert (campaign / f"stages_trend.{ext}").stat().st_size > 0
    with pytest.raises(SystemExit, match="since: no stage"):
        study(["stages", "--out", str(campaign), "--since", "1000"])


def test_stages_command_names_a_missing_directory(tmp_path):
    with pytest.raises(SystemExit, match="out: no campaign directory"):
        study(["stages", "--out", str(tmp_path / "nowhere")])
    with pytest.raises(SystemExit, match="holds no gen<N>/summary.json"):
        study(["stages", "--out", str(tmp_path)])


def rows_with_changes(changes, learner="plastic"):
    """Minimal `stage_rows` whose ``learner`` changed by ``changes[g]`` over the last 50 at stage g."""
    return [{"generations": g, "learners": {learner: {"change_last_50_mean": c}}} for g, c in changes.items()]


def test_stopping_rule_needs_two_stages_below_it_the_given_generations_apart():
    changes = {100: 1.0, 125: 30.0, 150: 4.0, 175: 2.0, 200: 9.0, 225: 4.9}
    verdict = stopping_rule(rows_with_changes(changes), "plastic", below=5, apart=50, stated_at=100)
    assert verdict["judged"] == [125, 150, 175, 200, 225]           # 100: stated there, not judged
    assert verdict["stages_below"] == [150, 175, 225]
    assert verdict["met"] and verdict["pair"] == [175, 225]          # 150's partner, 200, rose by 9
    assert "met at 175 and 225 (stages below: 150, 175, 225)" in stopping_rule_line(verdict)


def test_stopping_rule_is_not_met_by_one_low_stage_or_by_neighbours():
    changes = {150: 4.0, 175: 4.0, 200: 5.0, 250: -20.0}    # 5.0 is not below 5; 150/175 25 apart; 225 not run
    verdict = stopping_rule(rows_with_changes(changes), "plastic", below=5, apart=50)
    assert not verdict["met"] and verdict["pair"] is None and verdict["stages_below"] == [150, 175, 250]
    assert stopping_rule_line(verdict).endswith("not met at 250 (stages below: 150, 175, 250)")


def test_stopping_rule_names_a_learner_the_stages_lack():
    with pytest.raises(ValueError, match="learner: no stage has 'plastik'; the stages have plastic"):
        stopping_rule(rows_with_changes({100: 1.0}), "plastik", below=5)


@pytest.mark.parametrize("rule, message", [
    ({"learner": "plastic", "below": 5, "apart": 50}, "missing field\\(s\\) stated_at"),
    ({"learner": "plastic", "below": "5", "apart": 50, "stated_at": 0}, "below must be a number"),
    ({"learner": "plastic", "below": 5, "apart": 0, "stated_at": 0}, "apart must be a whole number of generations of at least 1"),
    ({"learner": 1, "below": 5, "apart": 50, "stated_at": 0}, "learner must be a learner's name"),
])
def test_a_bad_stopping_rule_file_names_its_field(tmp_path, rule, message):
    (tmp_path / "stopping_rule.json").write_text(json.dumps(rule))
    with pytest.raises(ValueError, match=message):
        read_stopping_rule(str(tmp_path))
    assert read_stopping_rule(str(tmp_path / "elsewhere")) is None


def test_stages_command_judges_the_campaigns_stopping_rule(campaign, capsys):
    # plastic changes: 150 at 60 and 100 (from the logs), 99 at 80 (its summary's)
    (campaign / "stopping_rule.json").write_text(json.dumps(
        {"learner": "plastic", "below": 140, "apart": 40, "stated_at": 50, "why": "a test"}))
    study(["stages", "--out", str(campaign)])
    out = capsys.readouterr().out
    assert out.rstrip().endswith("not met at 100 (stages below: 80)")
    stored = json.loads((campaign / "stages.json").read_text())["stopping_rule"]
    assert stored["stages_below"] == [80] and stored["met"] is False
    assert json.loads((campaign / "stages_trend.json").read_text())["stopping_rule"]["below"] == 140
    (campaign / "stopping_rule.json").write_text(json.dumps({"learner": "plastic", "below": 500, "apart": 40, "stated_at": 50}))
    study(["stages", "--out", str(campaign)])
    assert capsys.readouterr().out.rstrip().endswith("met at 60 and 100 (stages below: 60, 80, 100)")
    (campaign / "stopping_rule.json").write_text(json.dumps({"learner": "plastic", "below": 5, "apart": 40}))
    with pytest.raises(SystemExit, match="missing field"):
        study(["stages", "--out", str(campaign)])
