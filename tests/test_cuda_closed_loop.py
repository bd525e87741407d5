"""The control closed loop compiled into a cuda_standalone project (`pdlf_brian.compiled_env`): the network
runs on the GPU, MuJoCo on the host between its steps; only the actions and the inputs cross the bus
(and the live flags, on the steps where an episode ends).

Building needs nvcc, not a GPU: the project is generated and compiled wherever a CUDA toolkit is found.
Running it needs a GPU: the equality with the runtime closed loop is checked only where one is present
(``nvidia-smi -L``); elsewhere it is skipped, and a skip is not a pass.

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

    directory, family, learner, mode = sys.argv[1:5]
    P, B, EPISODE = 2, 3, 200
    c = TrainConfig(protocol=family, device="runtime", learner=learner, population=P, generations=1, seed=2,
                    progress=False, task=dict(episode_steps=EPISODE, n_hidden=12, heldout_episodes=1))
    problem = problem_for(c)
    problem.norm.update(np.random.default_rng(3).normal(0.2, 2.0, (500, problem.family.obs_dim)))
    env = CompiledEnvironment(family, record_steps=True)
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
        for k, (values, seeds) in enumerate([(problem.task_values[:3], [5, 6, 7]),
                                             (problem.task_values[4:7], [11, 12, 13])]):
            genomes = rng.normal(0, 0.5, (P, problem.genome_size))
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
        info["rebuilt"] = os.stat(binary).st_mtime_ns != built
    print(json.dumps(info))
""")


def run_script(tmp_path, family, learner, mode):
    env = dict(os.environ, PDLF_BRIAN_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), family, learner, mode],
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


@pytest.mark.skipif(not gpu_available(), reason="no GPU (nvidia-smi -L lists none): the CUDA project cannot run")
@pytest.mark.parametrize("family, learner", [("halfcheetah_vel", "plastic"), ("halfcheetah_vel", "weights"),
                                             ("ant_dir", "plastic"), ("ant_dir", "weights")])
def test_cuda_closed_loop_equals_the_runtime_closed_loop(tmp_path, family, learner):
    info = run_script(tmp_path, family, learner, "run")
    assert not info["rebuilt"]
    for k in range(2):      # two episodes of one compiled project: new genomes, task values and seeds
        e = np.load(tmp_path / f"episode{k}.npz")
        for key in ("inputs", "output", "action"):
            np.testing.assert_allclose(e[f"cuda_{key}"], e[f"runtime_{key}"], rtol=1e-9, atol=1e-12, err_msg=key)
        for key in ("reward", "returns"):
            np.testing.assert_allclose(e[f"cuda_{key}"], e[f"runtime_{key}"], rtol=1e-9, atol=1e-9, err_msg=key)
        np.testing.assert_array_equal(e["cuda_terminated"], e["runtime_terminated"])
        np.testing.assert_array_equal(e["cuda_steps"], e["runtime_steps"])
        assert int(e["cuda_env_steps"]) == int(e["runtime_env_steps"])
