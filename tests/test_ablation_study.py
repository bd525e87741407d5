"""The ablation study trains each named ablation at equal budget and measures the raw weights' growth."""
import json

from pdlf_brian.analysis.report import make_report
from pdlf_brian.protocols.ablation_study import main as study


def test_ablation_study_on_working_memory(tmp_path):
    task = '{"length": 3, "delay": 0, "batch": 4, "n_hidden": 8, "heldout_sequences": 16}'
    study(["working_memory", "--ablations", "full", "no-PDP", "--seeds", "0", "1", "--generations", "2",
           "--population", "4", "--eval-every", "1", "--jobs", "1", "--set", f"task={task}", "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "summary.json").read_text())["ablations"]
    assert rows["full"]["parameters"] == ["eta", "A", "B", "C", "D"]
    assert rows["no-PDP"]["parameters"] == ["eta", "A", "C", "D"]
    for row in rows.values():
        assert row["seeds"] == [0, 1] and row["generations"] == 2
        assert row["scale_in_max_mean"] >= row["scale_in_median_mean"] > 0
    config = json.loads((tmp_path / "runs" / "no-PDP_s1" / "config.json").read_text())
    assert config["ablation"] == "no-PDP" and config["seed"] == 1
    ablations = json.loads((tmp_path / "ablations.json").read_text())
    assert ablations["runs"]["full"] == ["full_s0", "full_s1"]
    budget = f"2 generations, population 4, {rows['full']['env_steps'] / 1e6:.1f} M env steps per run, 2 seeds"
    assert ablations["title"].endswith(budget)
    trained = json.loads((tmp_path / "summary.json").read_text())["meta"]["command"]
    study(["working_memory", "--ablations", "full", "no-PDP", "--seeds", "0", "1", "--out", str(tmp_path), "--summarise"])
    meta = json.loads((tmp_path / "summary.json").read_text())["meta"]
    assert meta["command"] == trained and meta["summarised_by"].endswith("--summarise")    # how the runs were made
    make_report([str(tmp_path)])
    heldout = json.loads((tmp_path / "figures" / "ablations_heldout.json").read_text())
    assert heldout["key"] == "heldout" and set(heldout["generation"]) == {"full", "no-PDP"}
    assert (tmp_path / "figures" / "ablations.png").exists()


def test_ablation_study_on_control_reports_unseen_scores(tmp_path):
    task = '{"episode_steps": 20, "n_hidden": 8, "heldout_episodes": 1}'
    study(["halfcheetah_vel", "--ablations", "no-SCP", "--seeds", "0", "--generations", "1", "--population", "4",
           "--eval-every", "1", "--jobs", "1", "--set", f"task={task}", "--out", str(tmp_path)])
    row = json.loads((tmp_path / "summary.json").read_text())["ablations"]["no-SCP"]
    assert row["parameters"] == ["eta", "B", "C", "D"] and row["generations"] == 1
    assert row["unseen_mean"] < 0 and row["unseen_std"] == 0.0       # one seed: no spread
    assert row["scale_out_max_mean"] >= row["scale_out_median_mean"] > 0
