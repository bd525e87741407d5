"""A user's own rule, registered under a new name, trains from the CLI and from Python on every device,
and the genome the trainer sizes is the rule the device simulates."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pdlf_brian.evolution.config import TrainConfig
from pdlf_brian.evolution.trainer import Trainer
from pdlf_brian.models import TERNARY_LIF
from pdlf_brian.protocols import problem_for
from pdlf_brian.reference import ReferenceNetwork
from pdlf_brian.rule import RULES, PlasticityRule, everything, get_rule, only

RULE_FILE = textwrap.dedent('''
    from pdlf_brian.rule import PlasticityRule, everything, only

    # a rule unlike the built-ins: a bounded pre/post term and a weight decay, three parameters
    TANH_RULE = PlasticityRule(
        name="draft",
        parameters="lr : 1 (constant)\\nG : 1 (constant)\\nK : 1 (constant)",
        rate="lr",
        terms={"bounded": "G*tanh(x + y)", "decay": "-K*w"},
        ablations={"full": everything(), "bounded-only": only("bounded")},
    ).set_name("tanh_coop", register=True)
''')
TASK = {"length": 3, "delay": 1, "batch": 4, "n_hidden": 6, "heldout_sequences": 16}
DEVICES = [pytest.param("numpy"), pytest.param("runtime", marks=pytest.mark.runtime),
           pytest.param("cpp_standalone", marks=pytest.mark.cpp_standalone)]


@pytest.fixture(scope="module")
def rule_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "my_rules.py"
    path.write_text(RULE_FILE)
    return str(path)


def _expected_size(problem, n_params):
    return n_params * problem.shape.n_synapses


def test_set_name_registers_and_the_file_spec_imports(rule_file):
    rule = get_rule(f"{rule_file}:TANH_RULE")
    assert rule.name == "tanh_coop" and RULES["tanh_coop"] is rule
    assert get_rule("tanh_coop") is rule
    assert rule.resolve("bounded-only").parameters == ("lr", "G")


@pytest.mark.parametrize("device", DEVICES)
def test_user_rule_trains_through_the_python_api(device, rule_file, tmp_path):
    get_rule(f"{rule_file}:TANH_RULE")          # registers 'tanh_coop' in this process
    config = TrainConfig(device=device, rule="tanh_coop", population=4, generations=2, eval_every=1,
                         progress=False, task=dict(TASK))
    problem = problem_for(config)
    assert problem.synapse.rule_name == "tanh_coop"
    assert problem.genome_size == _expected_size(problem, 3)
    log = Trainer(config, tmp_path / "run", problem).run()
    assert len(log) == 2 and all(r["heldout"] is not None for r in log)
    # the device simulates the user's rule: its run equals the reference running that rule
    net = problem.network(config.population)
    assert net.synapse == problem.synapse and net.genome_size == problem.genome_size
    rng = np.random.default_rng(0)
    genomes = rng.normal(0, 0.5, (4, net.genome_size))
    trials = problem.task.sample(rng, TASK["batch"])
    inputs = np.broadcast_to(trials.inputs[:, None], (problem.task.n_steps, 4, TASK["batch"], 3))
    got = net.run(genomes, inputs)
    want = ReferenceNetwork(problem.shape, problem.synapse, TERNARY_LIF).run(genomes, inputs, batch=TASK["batch"])
    np.testing.assert_allclose(got.output, want.output, rtol=1e-9, atol=1e-12)
    assert np.abs(want.weights["in"]).max() > 0
    # and it is not the built-in rule: the same numbers under PDLF's 5 parameters are another genome
    assert problem.genome_size != problem_for(TrainConfig(device=device, task=dict(TASK))).genome_size


@pytest.mark.parametrize("device", DEVICES)
def test_user_rule_trains_through_the_cli(device, rule_file, tmp_path):
    run_dir = tmp_path / "cli_run"
    cmd = [sys.executable, "-m", "pdlf_brian.cli", "train", "working_memory", "--run-dir", str(run_dir),
           "--set", f"rule={rule_file}:TANH_RULE", "--set", "ablation=bounded-only", "--set", f"device={device}",
           "--set", "population=4", "--set", "generations=2", "--set", "eval_every=1", "--set", "progress=false"]
    cmd += ["--set", f"task={json.dumps(TASK)}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert done.returncode == 0, done.stderr[-2000:]
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["rule"] == f"{rule_file}:TANH_RULE" and saved["ablation"] == "bounded-only"
    genome = np.load(run_dir / "recommendation.npy")
    problem = problem_for(TrainConfig.from_dict(saved))
    assert problem.synapse.parameters == ("lr", "G")
    assert len(genome) == _expected_size(problem, 2)
    assert (run_dir / "eval.json").exists() and (run_dir / "figures" / "training.png").exists()


def test_unknown_ablation_of_a_user_rule_is_refused(rule_file):
    from pdlf_brian.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown ablation 'no-SCP' of rule 'tanh_coop'; allowed values are "
                                          r"\['full', 'bounded-only'\]"):
        TrainConfig(rule=f"{rule_file}:TANH_RULE", ablation="no-SCP")
    with pytest.raises(ConfigError, match=r"has no attribute 'NOPE'"):
        TrainConfig(rule=f"{rule_file}:NOPE")


def test_rule_passed_as_object_and_registry_entries_are_rules():
    assert all(isinstance(r, PlasticityRule) for r in RULES.values())
    rule = PlasticityRule("tmp", "eta : 1 (constant)\nD : 1 (constant)", "eta", {"drift": "D"},
                          {"full": everything(), "none": only()})
    assert get_rule(rule) is rule and "tmp" not in RULES
