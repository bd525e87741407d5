"""The control READMEs state the ant_dir stage that its committed `summary.json` holds.

The stage-dependent numbers are generated (``control_study status`` fills the READMEs' status blocks
from the committed files); a block not rewritten after a stage, or a hand-written sentence left at the
previous stage, is the slip these checks catch.
"""
import json
import os
import re

import pytest

from pdlf_brian.analysis.campaign_status import fill_blocks, read_block, render_blocks
from pdlf_brian.analysis.stages import campaign_stopping_rule, stage_rows

ROOT = os.path.join(os.path.dirname(__file__), "..")
RESULTS = os.path.join(ROOT, "results", "control")


def read(*parts):
    with open(os.path.join(*parts), encoding="utf-8") as fh:
        return fh.read()


@pytest.fixture(scope="module")
def stage():
    summary = json.loads(read(RESULTS, "ant_dir", "summary.json"))
    rows = {row["learner"]: row for row in summary["rows"]}
    plastic = rows["plastic"]
    return {
        "generations": plastic["generations"],
        "plastic": f"{plastic['train_score_mean']:,.0f} ± {plastic['train_score_std']:.0f}",
        "weights": f"{rows['weights']['train_score_mean']:.0f} ± {rows['weights']['train_score_std']:.0f}",
    }


def test_both_learners_stand_at_the_same_stage():
    summary = json.loads(read(RESULTS, "ant_dir", "summary.json"))
    assert {row["generations"] for row in summary["rows"]} == {summary["rows"][0]["generations"]}


#: How the READMEs' blocks are written (the results README's ant_dir commands give the same).
STEERING_SINCE = 685


@pytest.fixture(scope="module")
def rendered():
    return render_blocks(os.path.join(RESULTS, "ant_dir"), steering_since=STEERING_SINCE)


@pytest.mark.parametrize("where, names", [
    (("results", "control", "README.md"), ["ant_dir", "ant_dir-brief", "ant_dir-table"]),
    (("README.md",), ["ant_dir-brief"]),
])
def test_status_blocks_are_what_the_committed_files_give(rendered, where, names):
    text = read(ROOT, *where)
    new, filled = fill_blocks(text, rendered)
    assert filled == names
    stale = [name for name in names if read_block(new, name) != read_block(text, name)]
    assert not stale, (f"{os.path.join(*where)}: stale status blocks {stale}; run the README's "
                       f"`control_study status --out results/control/ant_dir --steering-since {STEERING_SINCE} ...`")


def test_results_readme_gives_its_status_command():
    assert (f"control_study status --out results/control/ant_dir --steering-since {STEERING_SINCE}"
            in read(RESULTS, "README.md"))


@pytest.mark.parametrize("pattern", [
    r'## ant_dir: [^\n]*\n```bash\nFLAGS="--population 64 --generations (\d+) ',   # its command
    r"\*\*Where it stands at (\d+) generations\*\*",
    r"\n\| (\d+) \| \d+ ± \d+ / ",                               # newest row of the stage table
])
def test_results_readme_names_the_summarised_stage(stage, pattern):
    found = re.findall(pattern, read(RESULTS, "README.md"))
    assert found, f"results/control/README.md lacks {pattern!r}"
    assert int(found[0]) == stage["generations"], (pattern, found[0])


def test_results_readme_gives_the_summarised_scores(stage):
    text = read(RESULTS, "README.md")
    assert f"plastic **{stage['plastic']}**" in text                  # where it stands
    assert f"weight-trained {stage['weights']} (" in text
    assert f"plastic mean is {stage['plastic']} against 500.2" in read_block(text, "ant_dir-brief")


def test_history_starts_with_the_summarised_stage(stage):
    first = re.search(r"^- \*\*At (\d+) generations\*\*", read(RESULTS, "ant_dir", "HISTORY.md"), re.M)
    assert first and int(first.group(1)) == stage["generations"]


def test_top_readme_names_the_summarised_stage(stage):
    brief = read_block(read(ROOT, "README.md"), "ant_dir-brief")
    assert brief.startswith(f"At {stage['generations']} generations (")
    assert f"the plastic mean is {stage['plastic']} against" in brief


def full_stages():
    """Stages with steering episodes (`gen<N>/steering.json`), in order."""
    folder = os.path.join(RESULTS, "ant_dir")
    return sorted(int(name[3:]) for name in os.listdir(folder)
                  if re.fullmatch(r"gen\d+", name) and os.path.exists(os.path.join(folder, name, "steering.json")))


def test_steering_counts_name_the_latest_full_stage():
    stages = [n for n in full_stages() if n >= 685]
    pattern = r"of the (\d+) full stages from 685 to (\d+)"
    for where, text in [("results/control/README.md", read(RESULTS, "README.md")), ("README.md", read(ROOT, "README.md"))]:
        found = set(re.findall(pattern, text))
        assert found == {(str(len(stages)), str(stages[-1]))}, (where, found)
    newest = re.search(pattern, read(RESULTS, "ant_dir", "HISTORY.md"))
    assert newest and (int(newest.group(1)), int(newest.group(2))) == (len(stages), stages[-1])


def test_status_states_the_stopping_rules_verdict_on_the_committed_stages():
    """Whether ant_dir is finished is computed (`stopping_rule` on the committed stages and
    ``stopping_rule.json``), not read off the table by hand."""
    out = os.path.join(RESULTS, "ant_dir")
    verdict = campaign_stopping_rule(out, stage_rows(out))
    text, top = read(RESULTS, "README.md"), read(ROOT, "README.md")
    status = next(line for line in text.splitlines() if line.startswith("**Status:"))
    if verdict["met"]:
        first, last = verdict["pair"]
        assert f"ant_dir finished at {last} generations" in status, status
        for where in (text, top):
            assert f"met at {first} and {last}" in where
    else:
        assert "ant_dir trains on" in status, status
        latest = max(verdict["judged"])
        for where in (text, top):
            assert f"not yet met at {latest}" in where
    brief = read_block(text, "ant_dir-brief")
    for generations in verdict["stages_below"]:
        assert f"{generations} (" in brief, generations
