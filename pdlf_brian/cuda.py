"""Make brian2cuda generate and compile ``cuda_standalone`` projects on this kind of machine.

brian2cuda 1.0a7 assumes an older CUDA set-up than a current one: it compiles with
``-std=c++11`` (CUDA 13's Thrust/CUB need C++17), links a hard-coded ``-lcurand``
(the ``nvidia-curand`` wheel ships only ``libcurand.so.<N>``), looks for the toolkit
next to the ``nvcc`` on ``PATH`` (wrong when that ``nvcc`` is a wrapper script) and
queries ``nvidia-smi`` for a GPU (absent on build-only machines).
:func:`configure_brian2cuda` sets the Brian2 preferences that fix all of this; it is
the only place in the package that touches brian2cuda's preferences.
"""
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

from .errors import ConfigError, DeviceError

_INSTALL_HINT = "install the CUDA extras with `pip install pdlf-brian[cuda]`"
_CXX_STD = "-std=c++17"
# Lowest compute capability each nvcc major version can still compile for.
_MIN_COMPUTE_CAPABILITY = {13: 7.5, 12: 5.0, 11: 3.5}

# Flags added by earlier calls, removed again so that repeated calls do not pile up.
_added_flags = {"nvcc": set(), "link": set()}


def _is_toolkit(path):
    path = Path(path)
    return (path / "bin" / "nvcc").is_file() and (path / "include" / "cuda_runtime.h").is_file()


def _toolkit_from_nvcc(nvcc):
    """The toolkit an ``nvcc`` binary (or a wrapper script around one) belongs to, or None."""
    real = Path(nvcc).resolve()
    if _is_toolkit(real.parent.parent):
        return str(real.parent.parent)
    # A wrapper script: ask nvcc where it lives (`_HERE_` is its bin directory).
    try:
        out = subprocess.run([nvcc, "--dryrun", "-v", "-c", "x.cu"], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"^#\$ _HERE_=(.+)$", out.stdout + out.stderr, re.MULTILINE)
    if match and _is_toolkit(Path(match.group(1).strip()).parent):
        return str(Path(match.group(1).strip()).parent.resolve())
    return None


def find_cuda_toolkit():
    """Locate the CUDA toolkit (the directory holding ``bin/nvcc`` and ``include/``).

    Looks at the ``CUDA_PATH`` environment variable, then at the ``nvcc`` on ``PATH``
    (following symlinks and wrapper scripts), then at ``/usr/local/cuda``.

    Returns
    -------
    str or None
        Absolute path of the toolkit, or None if none was found.
    """
    env = os.environ.get("CUDA_PATH")
    if env and _is_toolkit(env):
        return str(Path(env).resolve())
    nvcc = shutil.which("nvcc")
    if nvcc:
        found = _toolkit_from_nvcc(nvcc)
        if found:
            return found
    if _is_toolkit("/usr/local/cuda"):
        return str(Path("/usr/local/cuda").resolve())
    return None


def _nvcc_major(toolkit):
    """Major version of the toolkit's nvcc, or None if it cannot be read."""
    try:
        out = subprocess.run([str(Path(toolkit) / "bin" / "nvcc"), "--version"],
                             capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"release (\d+)\.(\d+)", out)
    return int(match.group(1)) if match else None


def _curand_lib(lib_dir):
    """The cuRAND shared library in ``lib_dir`` (``libcurand.so`` preferred), or None."""
    lib_dir = Path(lib_dir)
    if (lib_dir / "libcurand.so").exists():
        return lib_dir / "libcurand.so"
    versioned = sorted(lib_dir.glob("libcurand.so.*"), key=lambda p: len(p.name))
    return versioned[0] if versioned else None


def _wheel_roots():
    """Directories of the ``nvidia`` namespace package installed by NVIDIA's pip wheels."""
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        return []
    if spec is None or spec.submodule_search_locations is None:
        return []
    return [Path(p) for p in spec.submodule_search_locations]


def find_curand(toolkit=None):
    """Locate cuRAND's headers and shared library.

    Looks in the ``nvidia-curand`` pip wheel first (layouts ``nvidia/cu13``,
    ``nvidia/cu12`` and ``nvidia/curand``; the one matching the toolkit's CUDA major
    version comes first), then in the CUDA toolkit itself.

    Parameters
    ----------
    toolkit : str, optional
        CUDA toolkit directory; found with :func:`find_cuda_toolkit` if not given.

    Returns
    -------
    tuple of str or None
        ``(include_dir, lib_dir)``, or None if cuRAND was not found.
    """
    toolkit = toolkit or find_cuda_toolkit()
    major = _nvcc_major(toolkit) if toolkit else None
    layouts = ["cu13", "cu12", "curand"]
    if major is not None and f"cu{major}" in layouts:
        layouts.remove(f"cu{major}")
        layouts.insert(0, f"cu{major}")
    candidates = [root / name for name in layouts for root in _wheel_roots()]
    if toolkit:
        candidates += [Path(toolkit), Path(toolkit) / "targets" / "x86_64-linux"]
    for base in candidates:
        include = base / "include"
        for lib in (base / "lib", base / "lib64"):
            if (include / "curand.h").is_file() and _curand_lib(lib) is not None:
                return str(include.resolve()), str(lib.resolve())
    return None


def gpu_available():
    """Whether an NVIDIA GPU is usable here.

    Returns
    -------
    bool
        True if ``nvidia-smi -L`` runs and lists at least one GPU.
    """
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and any(line.startswith("GPU ") for line in out.stdout.splitlines())


def _cache_dir():
    root = os.environ.get("PDLF_BRIAN_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pdlf-brian"
    return Path(root)


def _linkable_curand_dir(lib_dir):
    """A directory where ``-lcurand`` finds the cuRAND in ``lib_dir``.

    That is ``lib_dir`` itself if it has ``libcurand.so``, else a cache directory of
    ours holding a ``libcurand.so`` symlink to the versioned library.
    """
    if (Path(lib_dir) / "libcurand.so").exists():
        return str(lib_dir)
    target = _curand_lib(lib_dir)
    tag = hashlib.sha1(str(target).encode()).hexdigest()[:12]
    link_dir = _cache_dir() / "curand" / tag
    link = link_dir / "libcurand.so"
    if not (link.is_symlink() and Path(os.readlink(link)) == target):
        link_dir.mkdir(parents=True, exist_ok=True)
        tmp = link_dir / f".libcurand.so.{os.getpid()}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(target)
        os.replace(tmp, link)  # atomic, safe against concurrent callers
    return str(link_dir)


def _replace_flags(current, new, kind, drop_std=False):
    """``current`` without the flags of earlier calls (and ``-std=`` flags), plus ``new``."""
    drop = _added_flags[kind] | set(new)
    kept = [f for f in current if f not in drop and not (drop_std and f.startswith("-std="))]
    _added_flags[kind] = set(new)
    return kept + list(new)


def configure_brian2cuda(compute_capability=7.5, gpu_id=0):
    """Set the Brian2 preferences brian2cuda needs to build on this machine.

    Imports brian2cuda (which registers the ``cuda_standalone`` device) and sets:

    * ``devices.cuda_standalone.cuda_backend.cuda_path``: the real toolkit, since
      brian2cuda would take the parent of a wrapper ``nvcc`` on ``PATH``;
    * ``...cuda_backend.gpu_id`` and ``...cuda_backend.compute_capability``, and
      ``...cuda_backend.detect_gpus = False`` only when no GPU is present;
    * ``...cuda_backend.extra_compile_args_nvcc``: ``-std=c++17`` (overrides the
      makefile's ``-std=c++11``; CUDA 13's Thrust/CUB require C++17) and ``-I`` for
      the cuRAND headers;
    * ``codegen.cpp.extra_compile_args_gcc``: ``-std=c++17`` instead of ``-std=c++11``
      (it reaches the host compiler after nvcc's own ``-std``, so it must agree);
    * ``codegen.cpp.extra_link_args``: ``-L`` to a directory with ``libcurand.so`` for
      the makefile's ``-lcurand``, and an rpath to cuRAND and the CUDA runtime.

    Calling it again replaces, rather than repeats, the flags it added.

    Parameters
    ----------
    compute_capability : float or None, optional
        GPU architecture to compile for (7.5 gives ``-arch=sm_75``, which also embeds
        PTX for newer GPUs). None lets brian2cuda read it from the GPU, which needs a GPU.
    gpu_id : int, optional
        Index of the GPU to run on.

    Returns
    -------
    dict
        The preferences set, ``{name: value}``.

    Raises
    ------
    DeviceError
        If brian2cuda, nvcc or cuRAND cannot be found, or no GPU is present and
        ``compute_capability`` is None.
    ConfigError
        If ``compute_capability`` is below what this nvcc can compile for.
    """
    try:
        import brian2cuda  # noqa: F401  (registers the cuda_standalone device and its prefs)
    except ImportError as err:
        raise DeviceError(f"brian2cuda is not installed; {_INSTALL_HINT}") from err
    from brian2 import prefs

    toolkit = find_cuda_toolkit()
    if toolkit is None:
        raise DeviceError(
            "no CUDA toolkit found (checked CUDA_PATH, the `nvcc` on PATH and /usr/local/cuda); "
            "install the CUDA toolkit (nvcc) or set CUDA_PATH to it, then "
            f"{_INSTALL_HINT} for cuRAND")
    curand = find_curand(toolkit)
    if curand is None:
        raise DeviceError(f"cuRAND (curand.h, libcurand.so) not found in the nvidia-curand wheel "
                          f"or in {toolkit}; {_INSTALL_HINT}")
    curand_include, curand_lib = curand

    has_gpu = gpu_available()
    if compute_capability is None:
        if not has_gpu:
            raise DeviceError("no GPU found, so compute_capability must be given (e.g. 7.5)")
    else:
        compute_capability = float(compute_capability)
        minimum = _MIN_COMPUTE_CAPABILITY.get(_nvcc_major(toolkit), 5.0)
        if compute_capability < minimum:
            raise ConfigError(f"compute_capability {compute_capability} is below {minimum}, "
                              f"the lowest that the nvcc in {toolkit} compiles for")

    runtime_lib = next((str(Path(toolkit) / d) for d in ("lib64", "lib")
                        if (Path(toolkit) / d).is_dir()), None)
    link_flags = [f"-L{_linkable_curand_dir(curand_lib)}", "-Wl,--disable-new-dtags",
                  f"-Wl,-rpath,{curand_lib}"]
    if runtime_lib:
        link_flags.append(f"-Wl,-rpath,{runtime_lib}")
    nvcc_flags = [_CXX_STD, f"-I{curand_include}"]

    backend = "devices.cuda_standalone.cuda_backend."
    settings = {
        backend + "cuda_path": toolkit,
        backend + "detect_gpus": has_gpu,
        backend + "gpu_id": int(gpu_id),
        backend + "compute_capability": compute_capability,
        backend + "extra_compile_args_nvcc": _replace_flags(
            prefs[backend + "extra_compile_args_nvcc"], nvcc_flags, "nvcc", drop_std=True),
        "codegen.cpp.extra_compile_args_gcc": [
            f for f in prefs["codegen.cpp.extra_compile_args_gcc"] if not f.startswith("-std=")
        ] + [_CXX_STD],
        "codegen.cpp.extra_link_args": _replace_flags(
            prefs["codegen.cpp.extra_link_args"], link_flags, "link"),
    }
    for name, value in settings.items():
        prefs[name] = value
        if isinstance(value, list):
            settings[name] = list(value)  # brian2cuda edits its pref lists in place
    # brian2cuda caches the toolkit it detected; forget it so the new cuda_path is used.
    from brian2cuda.utils.gputools import reset_cuda_installation, reset_gpu_selection
    reset_cuda_installation()
    reset_gpu_selection()
    return settings
