"""The control closed loop compiled into a cuda_standalone project (`pdlf_brian.compiled_env`): the network
runs on the GPU, MuJoCo on the host between its steps; only the actions and the inputs cross the bus
(and the live flags, on the steps where an episode ends).

Building needs nvcc, not a GPU: the project is generated and compiled wherever a CUDA toolkit is found.
Running it needs a GPU: the episodes are checked only where one is present (``nvidia-smi -L``);
elsewhere they are skipped, and a skip is not a pass.

A GPU sums a neuron's synaptic inputs in the order its threads finish, so its readout can differ from
the CPU's in the last bits, and a closed loop amplifies that (MuJoCo's contacts, spike thresholds). The
episodes are therefore checked in halves (`pdlf_brian.loop_check`): the network fed the episode's own
inputs gives its readout (against the NumPy reference), and the physics fed its own actions gives its
rewards, terminations and inputs; end to end, the CUDA episode equals the runtime one over its first
steps, and the step where they part is reported. The first H200 run (2026-12-01) failed end to end on all
four cases, before these halves existed; see ``benchmarks/results/gpu_h200/README.md``.

Every build runs in a subprocess: Brian2's device is global per process.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pdlf_brian.cuda import find_cuda_toolkit, gpu_available
from pdlf_brian.loop_check import first_divergence

pytestmark = [pytest.mark.cuda_standalone,
              pytest.mark.skipif(find_cuda_toolkit() is None,
                                 reason="no CUDA toolkit (nvcc) found: set CUDA_PATH or put nvcc on PATH")]

SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    import numpy as np
    from pdlf_brian.compiled_env import CompiledEnvironment
    from pdlf_brian.engine import make_network
    from pdlf_brian.evolution.config import TrainConfig
    from pdlf_brian.protocols import problem_for

    from pdlf_brian.loop_check import check_network_half, check_physics_half

    directory, family, learner, mode = sys.argv[1:5]
    P, B, n_hidden, sigma, nthread = json.loads(sys.argv[5]) if len(sys.argv) > 5 else (2, 3, 12, 0.5, 1)
    EPISODE = 200
    c = TrainConfig(protocol=family, device="runtime", learner=learner, population=P, generations=1, seed=2,
                    progress=False, task=dict(episode_steps=EPISODE, n_hidden=n_hidden, heldout_episodes=1,
                                              nthread=nthread))
    problem = problem_for(c)
    problem.norm.update(np.random.default_rng(3).normal(0.2, 2.0, (500, problem.family.obs_dim)))
    env = CompiledEnvironment(family, record_steps=True, nthread=nthread)
    start = time.perf_counter()
    net = make_network(problem.shape, problem.synapse, n_individuals=P, batch=B, device="cuda_standalone",
                       n_steps=problem.n_steps, directory=os.path.join(directory, "project"), environment=env, live_flags=True,
                       cuda_options={"compute_capability": None if mode == "run" else 7.5})
    info = {"build_seconds": time.perf_counter() - start, "binary": os.path.join(net.directory, "main")}
    if mode == "run":
        binary = info["binary"]
        built = os.stat(binary).st_mtime_ns
        net._device.build = lambda *a, **k: sys.exit("the project was rebuilt")
        rng = np.random.default_rng(1)
        values8 = list(problem.task_values) * 2
        for k, (values, seeds) in enumerate([(values8[:B], list(range(5, 5 + B))),
                                             (values8[4:4 + B], list(range(11, 11 + B)))]):
            genomes = rng.normal(0, sigma, (P, problem.genome_size))
            compiled = env.rollout(genomes, list(values), seeds, norm=problem.norm)
            runtime = problem.rollout(problem.make(P, B, live_flags=True), genomes, list(values), seeds,
                                      record_steps=True)
            out = {}
            for name, run in (("cuda", compiled), ("runtime", runtime)):
                for key in ("inputs", "action", "reward", "returns"):
                    out[f"{name}_{key}"] = np.asarray(run[key])
                out[f"{name}_output"] = run["recording"].output
                out[f"{name}_env_steps"] = run["env_steps"]
            out["cuda_terminated"] = compiled["terminated"]
            out["cuda_steps"] = compiled["steps"]
            environments = problem.environments(P * B)
            out["runtime_terminated"] = environments.terminated.reshape(P, B)
            out["runtime_steps"] = environments.steps.reshape(P, B)
            np.savez(os.path.join(directory, f"episode{k}.npz"), **out)
            info[f"halves{k}"] = {"network": check_network_half(problem, genomes, compiled),
                                  "physics": check_physics_half(problem, values, seeds, compiled)}
        info["rebuilt"] = os.stat(binary).st_mtime_ns != built
    print(json.dumps(info))
""")


def run_script(tmp_path, family, learner, mode, sizes=None):
    env = dict(os.environ, PDLF_BRIAN_CACHE=str(tmp_path / "cache"))
    extra = [json.dumps(sizes)] if sizes else []
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), family, learner, mode] + extra,
                          capture_output=True, text=True, env=env, timeout=3600)
    assert proc.returncode == 0, f"script failed ({proc.returncode}):\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # about 4 minutes of nvcc on 2 cores
def test_cuda_closed_loop_project_compiles(tmp_path, record_property):
    info = run_script(tmp_path, "ant_dir", "plastic", "build")
    assert os.path.isfile(info["binary"]), "compiled binary `main` missing"
    main = open(os.path.join(os.path.dirname(info["binary"]), "main.cu")).read()
    # one host function per step: actions down, the environment step, inputs up
    tick = next(line for line in main.splitlines() if "pdlf_env_tick" in line)
    assert tick.index("cudaMemcpyDeviceToHost") < tick.index("pdlf_env_tick") < tick.index("cudaMemcpyHostToDevice")
    assert "dev_array_output_a" in tick and "dev_array_inputs_x" in tick
    assert "if (ended)" in tick and "dev_array_copy_live_live" in tick      # ended copies idle on the GPU too
    assert main.index("set_from_command_line(args)") < main.index("pdlf_env_begin(")
    assert main.index("pdlf_env_begin(") < main.index(".run(") < main.index("pdlf_env_end()")
    record_property("build_seconds", round(info["build_seconds"], 1))


END_TO_END_STEPS = 10     # env steps over which the CUDA and the runtime episodes must be equal


@pytest.mark.skipif(not gpu_available(), reason="no GPU (nvidia-smi -L lists none): the CUDA project cannot run")
@pytest.mark.parametrize("family, learner, sizes", [
    ("halfcheetah_vel", "plastic", None), ("halfcheetah_vel", "weights", None),
    ("ant_dir", "plastic", None), ("ant_dir", "weights", None),
    # the benchmark's set-up (P x 8 copies, 128 hidden neurons, PGPE's starting spread, 2 physics threads),
    # where the first H200 run saw no Ant fall in 102,400 env steps against about 28,500 on the CPU
    pytest.param("ant_dir", "plastic", (4, 8, 128, 0.04, 2), id="ant_dir-plastic-benchmark"),
    pytest.param("ant_dir", "plastic", (4, 8, 128, 0.04, 1), id="ant_dir-plastic-benchmark-1thread"),
])
def test_cuda_closed_loop_episodes_check_out(tmp_path, record_property, family, learner, sizes):
    info = run_script(tmp_path, family, learner, "run", sizes)
    assert not info["rebuilt"]
    for k in range(2):      # two episodes of one compiled project: new genomes, task values and seeds
        e = np.load(tmp_path / f"episode{k}.npz")
        part = first_divergence(e["cuda_action"], e["runtime_action"])
        record_property(f"episode{k}_actions_part_at_env_step", part)
        record_property(f"episode{k}_env_steps", [int(e["cuda_env_steps"]), int(e["runtime_env_steps"])])
        halves = info[f"halves{k}"]
        assert halves["network"]["ok"], f"episode {k}: the GPU network, fed its own inputs, " \
            f"differs from the NumPy reference: {halves['network']}"
        assert halves["physics"]["ok"], f"episode {k}: the physics, fed the GPU's actions, " \
            f"differs from the episode: {halves['physics']}"
        n = END_TO_END_STEPS
        for key in ("inputs", "output"):
            np.testing.assert_allclose(e[f"cuda_{key}"][:n + 1], e[f"runtime_{key}"][:n + 1], rtol=1e-9,
                                       atol=1e-12, err_msg=key)
        for key in ("action", "reward"):
            np.testing.assert_allclose(e[f"cuda_{key}"][:n], e[f"runtime_{key}"][:n], rtol=1e-9, atol=1e-9,
                                       err_msg=key)
