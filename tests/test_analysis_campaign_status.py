"""The generated numbers of a staged campaign's READMEs (`pdlf_brian.analysis.campaign_status`,
``control_study status``)."""
import json

import pytest

from pdlf_brian.analysis.campaign_status import (earliest_pair, lead_since, read_block, replace_block,
                                                 status_brief, status_facts, status_markdown, turned_back)
from pdlf_brian.protocols.control_study import main as study
from test_analysis_stages import rows_with_changes, write_summary
from test_analysis_steering_stages import write_steering

CHANGES = {100: 10.0, 125: 3.0, 150: 8.0, 175: 9.0, 200: 1.0}    # below +5 at 125 and 200, never 50 apart


@pytest.fixture
def campaign(tmp_path):
    out = tmp_path / "camp"
    for generations, change in CHANGES.items():
        write_summary(out / f"gen{generations}", generations, change=(change, 1.0, [change - 1, change + 1]))
    write_summary(out, 200, change=(1.0, 1.0, [0.0, 2.0]))
    (out / "stopping_rule.json").write_text(json.dumps({"learner": "plastic", "below": 5, "apart": 50,
                                                         "stated_at": 0}))
    write_steering(out / "gen100" / "steering.json", "plastic_s0", 0, {"triangle": 0.0, "rectangle": 0.0})
    write_steering(out / "gen200" / "steering.json", "plastic_s0", 0, {"triangle": -240.0, "rectangle": -135.0})
    write_steering(out / "gen200" / "steering_s1.json", "plastic_s1", 1, {"triangle": 10.0, "rectangle": 90.0})
    return out


def verdict(below, apart=50):
    return {"apart": apart, "stages_below": below}


@pytest.mark.parametrize("below, pair", [
    ([], [2335, 2385]),              # nothing below: the next stage and the one 50 after it
    ([2310], [2310, 2360]),          # the latest is below: 50 after it completes the rule
    ([2285], [2285, 2335]),          # the stage before the latest is below: the next one completes it
    ([2260], [2335, 2385]),          # too early to pair with a future stage
])
def test_earliest_pair_is_the_soonest_the_rule_can_complete(below, pair):
    assert earliest_pair(verdict(below), latest=2310, step=25) == pair


def test_turned_back_needs_the_command_and_moving():
    assert turned_back({"exit_error_deg": 44.0, "exit_distance": 3.0})
    assert not turned_back({"exit_error_deg": 46.0, "exit_distance": 3.0})
    assert not turned_back({"exit_error_deg": 10.0, "exit_distance": 0.2})     # standing: its heading is noise


def test_lead_since_is_the_start_of_the_unbroken_lead():
    rows = rows_with_changes({100: 1.0, 125: 1.0, 150: 1.0, 175: 1.0})
    for row, (plastic, weights) in zip(sorted(rows, key=lambda r: r["generations"]),
                                       [([5, 6], [1, 2]), ([1, 6], [2, 3]), ([5, 6], [1, 4]), ([7, 8], [1, 2])]):
        row["learners"]["plastic"]["per_seed"], row["learners"]["weights"] = plastic, {"per_seed": weights}
    assert lead_since(rows, "plastic", "weights") == 150           # 125 broke the lead that 100 began
    newest = max(rows, key=lambda r: r["generations"])
    newest["learners"]["weights"]["per_seed"] = [1, 7]
    assert lead_since(rows, "plastic", "weights") is None


def test_status_states_the_rule_the_stages_below_and_the_earliest_pair(campaign):
    text = status_markdown(status_facts(str(campaign)))
    assert text.startswith("**Where it stands at 200 generations**")
    assert "**not yet met at 200**" in text
    assert "Stages below +5: 125 (+3) and 200 (+1); the stage 50 generations after 125 rose: 175 (+9)." in text
    assert "The earliest the rule can now be met is at 200 and 250." in text
    assert "plastic **310 ± 10** (seeds 300, 320; unseen 311 ± 1)" in text
    assert "every plastic seed above every weight-trained one at every stage since 100" in text
    assert "Budget:** 200 generations of 4 per run" in text         # no episode length: no possible env steps


def test_status_counts_turns_back_at_the_full_stages(campaign):
    facts = status_facts(str(campaign))
    steering = facts["steering"]
    assert steering["stages"] == [100, 200]
    triangle = steering["schedules"]["triangle"]["runs"]
    assert triangle["plastic_s0"]["turned_back"] == [200]           # −240°: the long way round to the command
    assert triangle["plastic_s1"]["turned_back"] == []              # 10°: nowhere near it
    text = status_markdown(facts)
    assert "turned back seed 0 at 1 (200) of the 2 full stages from 100 to 200, seed 1 at 0" in text
    assert "at 200: seed 0 turned 240° to the right, ending 0° off" in text
    assert "Falls in steering episodes since 100: none." in text
    later = status_facts(str(campaign), steering_since=150)["steering"]
    assert later["stages"] == [200] and later["schedules"]["triangle"]["runs"]["plastic_s0"]["turned_back"] == [200]


def test_status_when_the_rule_is_met(campaign):
    for generations in (150, 175):
        write_summary(campaign / f"gen{generations}", generations, change=(2.0, 1.0, [1.0, 3.0]))
    facts = status_facts(str(campaign))
    assert facts["rule"]["met"] and facts["rule"]["pair"] == [125, 175]
    text = status_markdown(facts)
    assert "**met at 125 and 175**" in text and "earliest" not in text
    assert "**met at 125 and 175**" in status_brief(facts)


def test_replace_block_fills_between_the_markers_and_names_a_bad_block():
    text = "head\n<!-- status:x -->\nold\n<!-- /status:x -->\ntail"
    new = replace_block(text, "x", "new\nlines")
    assert new == "head\n<!-- status:x -->\nnew\nlines\n<!-- /status:x -->\ntail"
    assert read_block(new, "x") == "new\nlines" and replace_block(new, "x", "new\nlines") == new
    for bad in ("no markers", text + text, "<!-- /status:x --><!-- status:x -->"):
        with pytest.raises(ValueError, match="block 'x'"):
            replace_block(bad, "x", "body")


def test_status_command_writes_checks_and_refuses_a_readme_without_blocks(campaign, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# Camp\n\n<!-- status:camp-brief -->\n<!-- /status:camp-brief -->\n\n"
                      "<!-- status:camp-table -->\n<!-- /status:camp-table -->\n")
    with pytest.raises(SystemExit, match="stale blocks"):
        study(["status", "--out", str(campaign), "--readme", str(readme), "--check"])
    study(["status", "--out", str(campaign), "--readme", str(readme)])
    assert "camp-brief, camp-table: written" in capsys.readouterr().out
    text = readme.read_text()
    assert "At 200 generations (0.2 M env steps per plastic run) the plastic mean is 310 ± 10" in text
    assert "| 200 | 310 ± 10 / 311 ± 1 |" in text
    study(["status", "--out", str(campaign), "--readme", str(readme), "--check"])
    assert "current" in capsys.readouterr().out
    write_summary(campaign / "gen225", 225, change=(20.0, 1.0, [19.0, 21.0]))      # a new stage: stale again
    with pytest.raises(SystemExit, match="stale blocks"):
        study(["status", "--out", str(campaign), "--readme", str(readme), "--check"])
    empty = tmp_path / "EMPTY.md"
    empty.write_text("# nothing generated here\n")
    with pytest.raises(SystemExit, match="holds no block of camp, camp-brief, camp-table"):
        study(["status", "--out", str(campaign), "--readme", str(empty)])
    with pytest.raises(SystemExit, match="readme: no file"):
        study(["status", "--out", str(campaign), "--readme", str(tmp_path / "MISSING.md")])
    with pytest.raises(SystemExit, match="out: no campaign directory"):
        study(["status", "--out", str(tmp_path / "nowhere"), "--readme", str(readme)])
