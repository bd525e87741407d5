"""`pdlf report` writes every figure that applies, as PNG and SVG with its numbers, and one HTML page."""
import json
import os

import pytest

from pdlf_brian.cli import main

SMALL = ["--set", "device=numpy", "--set", "population=4", "--set", "generations=3", "--set", "eval_every=1",
         "--set", "snapshot_every=1", "--set", "progress=false",
         "--set", 'task={"length": 3, "delay": 0, "batch": 4, "n_hidden": 6, "heldout_sequences": 16}']


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    for learner in ("plastic", "weights"):
        for seed in (0, 1):
            run = root / "runs" / f"{learner}_s{seed}"
            assert main(["train", "working_memory", "--run-dir", str(run), "--set", f"learner={learner}",
                         "--set", f"seed={seed}"] + SMALL) == 0
    return root


def test_report_on_a_results_folder(results, capsys):
    assert main(["report", str(results)]) == 0
    out = results / "figures"
    names = set(os.listdir(out))
    for figure in ("training_0", "training_0_spread", "rule_params_plastic_s0", "plasticity_window_plastic_s0"):
        assert {f"{figure}.png", f"{figure}.svg", f"{figure}.json"} <= names, figure
    numbers = json.loads((out / "training_0_spread.json").read_text())
    assert numbers["generation"]["plastic"]["n_seeds"] == 2
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 4 and "evaluations" in page


def test_report_looks_inside_the_networks(results):
    assert main(["report", str(results)]) == 0
    out = results / "figures"
    names = set(os.listdir(out))
    for learner in ("plastic", "weights"):        # the first run of each learner
        for figure in ("activity", "embedding", "weights"):
            assert f"{figure}_{learner}_s0.png" in names, (figure, learner)
        assert f"embedding_{learner}_s1.png" not in names
    embedding = json.loads((out / "embedding_plastic_s0.json").read_text())
    assert set(embedding["labels"]) == {"first bit 0", "first bit 1"}
    assert embedding["separability"]["chance"] >= 0.5
    # the weight-trained network's weights do not depend on the stimulus; the figure must say so
    fixed = json.loads((out / "weights_weights_s0.json").read_text())["differences"]
    assert len(fixed) >= 2 and all(row["diff_norm"] == 0 for row in fixed.values())
    activity = json.loads((out / "activity_plastic_s0.json").read_text())
    assert set(activity["rates"]) >= {"presentation", "recall"}


def test_report_of_nothing_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "nothing to draw" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
