"""brian2cuda generates and compiles a network like ours (needs nvcc, not a GPU).

The build runs in a subprocess: Brian2's device is global per process and the rest of
the suite uses the runtime and cpp_standalone devices.
"""
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from pdlf_brian.cuda import find_cuda_toolkit

pytestmark = pytest.mark.cuda_standalone

BUILD_SCRIPT = textwrap.dedent("""
    import json, os, sys
    from pdlf_brian.layout import NetworkShape
    from pdlf_brian.network import PopulationNetwork
    from pdlf_brian.rule import resolve_synapse

    directory = sys.argv[1]
    # the package's own network (plastic rule, recurrence, every fused pathway) for 4 individuals
    net = PopulationNetwork(NetworkShape(5, 16, 2, recurrent=True), 4, synapse=resolve_synapse("plastic"),
                            batch=2, device="cuda_standalone",
                            n_steps=20, record=("output", "spikes"), directory=directory,
                            cuda_options={"compute_capability": 7.5, "gpu_id": 0})
    print(json.dumps({"build_seconds": net.compile_seconds,
                      "binary": os.path.join(directory, "main")}))
""")



@pytest.mark.skipif(find_cuda_toolkit() is None,
                    reason="no CUDA toolkit (nvcc) found: set CUDA_PATH or put nvcc on PATH")
@pytest.mark.slow  # about 3 minutes of nvcc on 2 cores
def test_cuda_standalone_project_compiles(tmp_path, record_property):
    project = tmp_path / "cuda_project"
    env = dict(os.environ, PDLF_BRIAN_CACHE=str(tmp_path / "cache"))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", BUILD_SCRIPT, str(project)],
                          capture_output=True, text=True, env=env, timeout=3600)
    wall = time.perf_counter() - start
    assert proc.returncode == 0, (
        f"build script failed ({proc.returncode}):\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}")
    assert (project / "main").is_file(), "compiled binary `main` missing"
    timing = json.loads(proc.stdout.strip().splitlines()[-1])
    timing["subprocess_seconds"] = wall
    for key, value in timing.items():
        record_property(key, round(value, 1) if isinstance(value, float) else value)
    print(f"cuda_standalone timings (s): {timing}")


PREFS_SCRIPT = textwrap.dedent("""
    from brian2 import prefs
    from pdlf_brian import cuda
    from pdlf_brian.errors import DeviceError

    first = cuda.configure_brian2cuda()
    second = cuda.configure_brian2cuda()
    assert first == second, (first, second)
    nvcc = prefs["devices.cuda_standalone.cuda_backend.extra_compile_args_nvcc"]
    assert nvcc.count("-std=c++17") == 1 and len(nvcc) == len(set(nvcc)), nvcc
    assert prefs["codegen.cpp.extra_compile_args_gcc"].count("-std=c++17") == 1

    cuda.find_curand = lambda *args: None
    try:
        cuda.configure_brian2cuda()
    except DeviceError as err:
        assert "pip install pdlf-brian[cuda]" in str(err), err
    else:
        raise AssertionError("no DeviceError without cuRAND")
""")


@pytest.mark.skipif(find_cuda_toolkit() is None,
                    reason="no CUDA toolkit (nvcc) found: set CUDA_PATH or put nvcc on PATH")
def test_configure_is_idempotent_and_explains_missing_curand(tmp_path):
    env = dict(os.environ, PDLF_BRIAN_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", PREFS_SCRIPT], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-5000:]
