"""The command line ends bad input with one `pdlf: error:` line naming the path or field, never a traceback;
run directories load with checks; checkpoints hold state, not history."""
import json
import os
import pickle

import numpy as np
import pytest

from pdlf_brian.cli import main
from pdlf_brian.evolution.config import TrainConfig
from pdlf_brian.evolution.trainer import Trainer

SMALL = ["--set", "device=numpy", "--set", "population=4", "--set", "generations=3", "--set", "eval_every=1",
         "--set", "progress=false", "--set", 'task={"length": 3, "delay": 0, "batch": 4, "n_hidden": 6, '
                                            '"heldout_sequences": 16}']


def error_line(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pdlf: error: "), err
    return err[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "working_memory", "--run-dir", str(run_dir)] + SMALL) == 0
    return run_dir


def test_eval_of_a_missing_or_incomplete_run_directory(capsys, tmp_path):
    line = error_line(capsys, ["eval", str(tmp_path / "nowhere")])
    assert str(tmp_path / "nowhere") in line and "does not exist" in line
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    line = error_line(capsys, ["eval", str(tmp_path / "half")])
    assert "missing ['log.jsonl', 'checkpoint.pkl', 'recommendation.npy']" in line


def test_resume_of_a_missing_run_and_of_another_protocols_run(capsys, tmp_path, trained):
    line = error_line(capsys, ["train", "--resume", str(tmp_path / "nowhere")])
    assert "cannot resume" in line
    config = json.loads((trained / "config.json").read_text())
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps(dict(config, protocol="control")))
    (other / "checkpoint.pkl").write_bytes(b"")
    line = error_line(capsys, ["train", "--resume", str(other)])
    assert "config field 'protocol': unknown protocol 'control'" in line


def test_eval_of_a_genome_sized_for_another_problem(capsys, tmp_path, trained):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    np.save(copy / "recommendation.npy", np.zeros(7))
    os.remove(copy / "best_genome.npy")
    line = error_line(capsys, ["eval", str(copy)])
    assert "its genome has 7 values" in line


def test_missing_and_malformed_config_files(capsys, tmp_path):
    line = error_line(capsys, ["train", "--config", str(tmp_path / "none.json")])
    assert "--config" in line and "cannot read the file" in line
    bad = tmp_path / "bad.json"
    bad.write_text('{"population": 8,')
    assert "malformed JSON" in error_line(capsys, ["train", "--config", str(bad)])
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("population = = 8")
    assert "malformed TOML" in error_line(capsys, ["train", "--config", str(bad_toml)])


def test_unreachable_dask_scheduler(capsys, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    import pdlf_brian.evolution.executors as executors

    monkeypatch.setattr(executors, "CONNECT_TIMEOUT", "1s")
    line = error_line(capsys, ["train", "--run-dir", str(tmp_path / "r"), "--set", "executor=dask",
                               "--set", "scheduler=tcp://127.0.0.1:9"] + SMALL)
    assert "cannot reach the Dask scheduler 'tcp://127.0.0.1:9'" in line


def test_set_with_resume_extends_generations_and_refuses_the_rest(capsys, tmp_path, trained):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    line = error_line(capsys, ["train", "--resume", str(run), "--set", "task.length=5"])
    assert "['task'] would change the numbers" in line
    assert main(["train", "--resume", str(run), "--set", "generations=5"]) == 0
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [r["generation"] for r in log] == [0, 1, 2, 3, 4]
    assert json.loads((run / "config.json").read_text())["generations"] == 5
    # the extended run equals a run made with 5 generations from the start
    direct = tmp_path / "direct"
    assert main(["train", "working_memory", "--run-dir", str(direct)] + SMALL + ["--set", "generations=5"]) == 0
    strip = [{k: v for k, v in r.items() if k != "wall_time"} for r in log]
    want = [{k: v for k, v in json.loads(x).items() if k != "wall_time"}
            for x in (direct / "log.jsonl").read_text().splitlines()]
    assert strip == want


def test_run_directory_holds_the_schema(trained):
    names = set(os.listdir(trained))
    assert {"config.json", "log.jsonl", "checkpoint.pkl", "recommendation.npy", "best_genome.npy",
            "eval.json", "figures", "snapshots"} <= names
    report = json.loads((trained / "eval.json").read_text())
    assert {"final", "after_reset", "genome"} <= set(report)
    assert os.listdir(trained / "snapshots") == ["generation_000003.npy"]


def test_checkpoint_stays_small_at_20000_dimensions(tmp_path):
    """50 generations of population 64 at 23,040 dimensions: the checkpoint holds state, not history."""
    from pdlf_brian.evolution.problem import Evaluation, Problem

    class Sphere(Problem):
        genome_size = 23040
        config = None

        def evaluate(self, genomes, seed):
            return Evaluation(-np.sum((genomes - 0.1) ** 2, axis=1), len(genomes))

    config = TrainConfig(population=64, generations=50, eval_every=0, snapshot_every=0, progress=False)
    problem = Sphere()
    problem.config = config
    Trainer(config, tmp_path / "big", problem).run()
    size = os.path.getsize(tmp_path / "big" / "checkpoint.pkl")
    assert size < 5e6, f"checkpoint is {size / 1e6:.1f} MB"
    with open(tmp_path / "big" / "checkpoint.pkl", "rb") as fh:
        state = pickle.load(fh)
    assert state["generation"] == 50 and len(state["optimizer"].archive) <= 4
