"""The one place that knows the Brian2 devices this package supports and what each can do."""
import os
from dataclasses import dataclass

import brian2

from pdlf_brian.errors import ConfigError, DeviceError


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    engine: str         # 'brian2' (a PopulationNetwork) or 'numpy' (the NumPy reference)
    standalone: bool    # a compiled project, one per process
    closed_loop: bool   # can Python code (a controller) run during a simulation?
    doc: str
    # can the control closed loop run compiled into the project (pdlf_brian.compiled_env), no Python per step?
    # Then the control protocols of pdlf_brian.compiled_env.FAMILIES train on it (ControlProblem.evaluate).
    compiled_closed_loop: bool = False


DEVICES = {
    "numpy": DeviceInfo("numpy", "numpy", False, True,
                        "the NumPy reference (pdlf_brian.reference) as a device; fastest for tiny networks"),
    "runtime": DeviceInfo("runtime", "brian2", False, True,
                          "Cython runtime code generation; closed loop through a network operation"),
    "cpp_standalone": DeviceInfo("cpp_standalone", "brian2", True, False,
                                 "C++ standalone, compiled once and re-run with run_args; closed loop only "
                                 "through the compiled environment (pdlf_brian.compiled_env.CompiledEnvironment: "
                                 "halfcheetah_vel, ant_dir; the control protocols of these families train on it), "
                                 "never through a Python controller",
                                 compiled_closed_loop=True),
    "cuda_standalone": DeviceInfo("cuda_standalone", "brian2", True, False,
                                  "CUDA standalone through brian2cuda (needs a GPU to run); closed loop only "
                                  "through the compiled environment, stepped on the host between GPU steps "
                                  "(halfcheetah_vel, ant_dir), never through a Python controller",
                                  compiled_closed_loop=True),
}


def device_info(name):
    """Return the `DeviceInfo` for ``name`` or raise `ConfigError` listing the allowed names."""
    if name not in DEVICES:
        raise ConfigError(f"device: unknown device {name!r}; allowed values are {list(DEVICES)}")
    return DEVICES[name]


def evaluation_device(name):
    """The device for extra (held-out, analysis) networks of a process that trains on ``name``.

    Brian2 holds one standalone project per process, so a process training on a standalone device
    evaluates on the runtime device instead of replacing (and recompiling) its training project.
    """
    return "runtime" if device_info(name).standalone else name


def check_closed_loop(name):
    """Raise `DeviceError` if a closed-loop run (Python during the run) is asked of a standalone device."""
    if not device_info(name).closed_loop:
        raise DeviceError(
            f"device {name!r} cannot run Python code during a simulation (Brian2 would silently drop the "
            "network operation). Closed-loop runs (environments) need a device with closed_loop=True "
            f"({[d.name for d in DEVICES.values() if d.closed_loop]}); open-loop runs with inputs known "
            "in advance can use any device. "
            + (f"Device {name!r} runs the control loop compiled into its project instead: "
               "PopulationNetwork(..., environment=pdlf_brian.compiled_env.CompiledEnvironment(family)); the "
               "control protocols halfcheetah_vel and ant_dir train on it that way."
               if device_info(name).compiled_closed_loop else "")
        )


#: Identifies the network that owns the current standalone project (Brian2 holds one per process).
_OWNER = {"token": None}


def standalone_owner():
    """A token that changes each time a new standalone project is started in this process."""
    return _OWNER["token"]


def activate(name, directory=None, threads=0, float_dtype="float64", **cuda_options):
    """Make ``name`` Brian2's current device; standalone devices get a fresh project in ``directory``.

    Brian2 has one device per process, so only one standalone project can be built at a time.
    """
    info = device_info(name)
    if info.engine != "brian2":
        raise ConfigError(f"device: {name!r} is not a Brian2 device")
    if float_dtype not in ("float64", "float32"):
        raise ConfigError(f"float_dtype: expected 'float64' or 'float32', got {float_dtype!r}")
    import numpy as np

    brian2.prefs.core.default_float_dtype = getattr(np, float_dtype)
    if not info.standalone:
        from pdlf_brian import cython_support

        cython_support.install()
        brian2.prefs.codegen.target = "cython"
        brian2.set_device("runtime")
        return info
    if directory is None:
        raise ConfigError(f"directory: a standalone device ({name!r}) needs a project directory")
    if name == "cuda_standalone":
        from pdlf_brian.cuda import configure_brian2cuda

        configure_brian2cuda(**cuda_options)
    from brian2.devices.device import all_devices

    standalone = all_devices[name]
    standalone.reinit()  # forget any project built before: one standalone project per process
    brian2.set_device(standalone, directory=os.fspath(directory), build_on_run=False)
    _OWNER["token"] = object()
    brian2.prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{os.cpu_count() or 1}"]
    if name == "cpp_standalone":
        brian2.prefs.devices.cpp_standalone.openmp_threads = int(threads)
    return info
