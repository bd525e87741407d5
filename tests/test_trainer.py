"""The training loop: config validation, determinism, kill-and-resume, executors."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from pdlf_brian.errors import ConfigError
from pdlf_brian.evolution.config import TrainConfig, load_config
from pdlf_brian.evolution.trainer import Trainer
from pdlf_brian.protocols import problem_for

SMALL = {"length": 4, "delay": 2, "batch": 8, "n_hidden": 16, "heldout_sequences": 64}


def small_config(**kw):
    base = dict(protocol="working_memory", device="numpy", population=16, generations=4, eval_every=2,
                seed=3, progress=False, task=dict(SMALL))
    base.update(kw)
    return TrainConfig(**base)


def strip_time(log):
    return [{k: v for k, v in r.items() if k != "wall_time"} for r in log]


# -- config validation -------------------------------------------------------------------------
def test_unknown_key_lists_allowed_keys():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['populaton'\]; allowed keys are \['protocol'"):
        load_config(overrides=["populaton=8"])


def test_wrong_type():
    with pytest.raises(ConfigError, match=r"config field 'generations': expected int, got str 'many'"):
        load_config(overrides=["generations=many"])


def test_population_zero_and_odd_population_for_pgpe():
    with pytest.raises(ConfigError, match="config field 'population': must be at least 1, got 0"):
        load_config(overrides=["population=0"])
    with pytest.raises(ConfigError, match="antithetic pairs, so the population must be even, got 7"):
        load_config(overrides=["population=7"])
    assert load_config(overrides=["population=7", "optimizer=TBPSA"]).population == 7


def test_unknown_optimizer_executor_and_task_key():
    with pytest.raises(ConfigError, match="'Adam' is not in Nevergrad's registry"):
        load_config(overrides=["optimizer=Adam"])
    with pytest.raises(ConfigError, match=r"unknown executor 'mpi'; allowed values are \['inprocess', 'process', 'dask'\]"):
        load_config(overrides=["executor=mpi"])
    with pytest.raises(ConfigError, match=r"section 'task': unknown key\(s\) \['lenght'\]"):
        problem_for(load_config(overrides=["task.lenght=4"]))


def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('population = 8\ngenerations = 3\n[task]\nlength = 6\n')
    config = load_config(str(path), ["task.delay=2", "learner=weights"])
    assert (config.population, config.generations, config.learner) == (8, 3, "weights")
    assert config.task == {"length": 6, "delay": 2}


# -- determinism and executors -------------------------------------------------------------------
def _train(tmp_path, name, **kw):
    config = small_config(**kw)
    trainer = Trainer(config, tmp_path / name, problem_for(config))
    log = trainer.run()
    return strip_time(log), np.load(tmp_path / name / "best_genome.npy")


def test_same_seed_same_numbers_and_another_seed_differs(tmp_path):
    a, ga = _train(tmp_path, "a")
    b, gb = _train(tmp_path, "b")
    c, _ = _train(tmp_path, "c", seed=4)
    assert a == b and np.array_equal(ga, gb)
    assert a != c
    assert all(r["heldout"] is not None for r in a[1::2])


def test_existing_run_directory_is_not_overwritten(tmp_path):
    _train(tmp_path, "a")
    with pytest.raises(ConfigError, match="already holds a run; pass --resume"):
        _train(tmp_path, "a")


def test_executors_give_identical_results(tmp_path):
    inproc, g1 = _train(tmp_path, "in", shards=2)
    single, _ = _train(tmp_path, "single", shards=1)
    pool, g2 = _train(tmp_path, "pool", shards=2, executor="process", workers=2)
    assert inproc == single == pool and np.array_equal(g1, g2)
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        dask, g3 = _train(tmp_path, "dask", shards=2, executor="dask", scheduler=cluster.scheduler_address)
    assert dask == inproc and np.array_equal(g1, g3)


# -- kill and resume ------------------------------------------------------------------------------
def _cli(run_dir, *extra):
    return [sys.executable, "-m", "pdlf_brian.cli", "train", "working_memory", "--run-dir", str(run_dir),
            "--set", "device=numpy", "--set", "population=32", "--set", "generations=24",
            "--set", "eval_every=4", "--set", "progress=false", "--set", "task.length=8",
            "--set", "task.delay=8", "--set", "task.batch=16", "--set", "task.n_hidden=48", *extra]


def _read_log(run_dir):
    with open(os.path.join(run_dir, "log.jsonl")) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path):
    full_dir, killed_dir = tmp_path / "full", tmp_path / "killed"
    subprocess.run(_cli(full_dir), check=True, capture_output=True)
    proc = subprocess.Popen(_cli(killed_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log_path = killed_dir / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if log_path.exists() and len(log_path.read_text().splitlines()) >= 6:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    logged = len(_read_log(killed_dir))
    assert 6 <= logged < 24, f"the run was not killed mid-run ({logged} generations logged)"
    resume = [sys.executable, "-m", "pdlf_brian.cli", "train", "--resume", str(killed_dir)]
    subprocess.run(resume, check=True, capture_output=True)
    assert strip_time(_read_log(killed_dir)) == strip_time(_read_log(full_dir))
    np.testing.assert_array_equal(np.load(killed_dir / "best_genome.npy"), np.load(full_dir / "best_genome.npy"))
    assert json.load(open(killed_dir / "eval.json")) == json.load(open(full_dir / "eval.json"))


@pytest.mark.slow
@pytest.mark.runtime
def test_executors_identical_on_a_brian2_device(tmp_path):
    """Shards on worker processes, each with its own compiled Brian2 network, match in-process."""
    kw = dict(device="runtime", generations=2, eval_every=0, shards=2)
    inproc, _ = _train_last(tmp_path, "in", **kw)
    pool, _ = _train_last(tmp_path, "pool", executor="process", workers=2, **kw)
    assert inproc == pool


def _train_last(tmp_path, name, **kw):
    config = small_config(**kw)
    log = Trainer(config, tmp_path / name, problem_for(config)).run()
    return strip_time(log), None
