"""The control closed loop compiled into a standalone project (C++ or CUDA): no Python during an episode.

``CompiledEnvironment(family, ...)`` is handed to a `PopulationNetwork` built for ``cpp_standalone`` or
``cuda_standalone`` (``PopulationNetwork(..., device="cpp_standalone", environment=env)``, or through
`pdlf_brian.engine.make_network`). It compiles a small C-ABI shared library (``libpdlf_env.so``, C++17,
linked against the ``libmujoco.so.<version>`` of the ``mujoco`` wheel, physics on ``mjbatch.h``, the C
side of ``mujoco.batch.Batch``) into the project directory and wires it into the project:

* ``main.cpp`` includes ``pdlf_env.h``; the project links ``libpdlf_env.so`` (the device's own
  ``headers`` / ``include_dirs`` / ``libraries`` lists, not the global preferences);
* just before the network runs (``device.insert_code('before_network_run')``, after the run_args are
  applied: ``device.apply_run_args()`` is called before ``Network.run``), ``pdlf_env_begin`` loads the
  model, resets every copy to its initial state and writes the normalised reset observation into the
  input group's ``x``;
* ``Network::add(&defaultclock, host_tick)`` appends one host function to every step, after all code
  objects of the step (monitors included). At the end of network step t it does what the runtime
  device's ``input_update`` network operation does at the start of step t+1: ``x_prev = x``; for
  1 <= t+1 <= E (E = n_steps - 1 env steps) the readout ``a`` of step t, clipped to the actuator
  bounds, is env step t+1's action; all live copies are stepped (``mjb_step``, ``frame_skip``
  substeps), rewards and terminations are computed as `pdlf_brian.envs.BatchedTaskEnv` does, and the
  new observation, normalised with the frozen statistics, becomes ``x``; for t+1 >= n_steps (the flush
  step) ``x = 0``. Nothing reads ``x`` between the end of one step and the start of the next, so the
  network sees exactly the inputs of `protocols.control.ControlProblem.rollout`.

On ``cuda_standalone`` the network runs on the GPU and the library on the host, on Brian2's host copies
of the arrays: the host function first copies the readout ``a`` from the GPU, steps the environments,
then copies ``x`` and ``x_prev`` back (with ``record_steps`` also what the monitors record). Returns,
flags and statistics go to the GPU once, after the run, where Brian2 reads its results from. The
library is compiled by the host compiler behind a C ABI, so nvcc never sees MuJoCo's headers.

Everything that changes between episodes travels through ``run_args``: the model file path (char
codes of an integer array), the initial ``qpos`` / ``qvel`` of every copy (drawn in Python by
`BatchedTaskEnv.reset`, so seeds give the same episodes), task values (and their cos / sin, computed
by NumPy), the frozen normalisation mean / std, and the family's parameters. One compiled project
thus serves every generation. Returns, termination flags and episode lengths are group variables that
Brian2 writes back after the run; with ``record_steps=True`` monitors also record every step's input,
action, reward and termination flag.

The library also gathers the statistics of the raw observations the runtime loop collects with
``collect_stats=True`` (``RunningNorm.update`` of every copy's reset observation, then of the new
observations of the copies alive before each env step), operation by operation as NumPy does them (rows
summed in order, Chan et al.'s merge), in double: ``result["stats"]`` is ``(count, mean, m2)`` for
`RunningNorm.merge`, equal to the runtime loop's bit for bit. This is what lets
`protocols.control.ControlProblem` train on ``device="cpp_standalone"``.

Supported families: ``halfcheetah_vel`` and ``ant_dir``; action map ``clip`` (``tanh`` is computed with
the C library's ``tanh``, equal to NumPy's to rounding). Networks must be float64.
"""
import hashlib
import os
import subprocess

import numpy as np

from pdlf_brian.errors import ConfigError

#: family -> (code in the C library, qpos columns left out of the observation)
FAMILIES = {"halfcheetah_vel": (0, 1), "ant_dir": (1, 2)}
#: the standalone devices whose projects the loop is compiled into
DEVICES = ("cpp_standalone", "cuda_standalone")
PATH_LENGTH = 4096
_PARAMS = ("family", "n", "nthread", "frame_skip", "max_steps", "dt", "ctrl_cost", "healthy_reward",
           "z_lo", "z_hi", "terminate", "action_map", "n_steps", "qpos_skip", "failed", "unused")
_P = {name: k for k, name in enumerate(_PARAMS)}
_MODES = {"normalise": 0.0, "pass": 1.0, "zero": 2.0}

HEADER = r"""
#ifndef PDLF_ENV_H
#define PDLF_ENV_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
void pdlf_env_begin(const int32_t* path, int path_len, double* params, int n_params, int n, int obs_dim,
                    int nu, int nq, int nv, const double* qpos0, const double* qvel0, const double* task,
                    const double* task_cos, const double* task_sin, const double* mean, const double* stdv,
                    const double* lo, const double* hi, const double* mode, const double* readout,
                    double* x, double* x_prev, double* ret, double* reward, double* terminated,
                    double* steps, double* action, int n_stats, double* stat_count, double* stat_mean,
                    double* stat_m2, double* live);
int pdlf_env_tick(long timestep);
void pdlf_env_end(void);
#ifdef __cplusplus
}
#endif
#endif
"""

SOURCE = r"""
#include "pdlf_env.h"
#include <mujoco/mujoco.h>
#include <mujoco/mjbatch.h>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {
enum { P_FAMILY, P_N, P_NTHREAD, P_FRAME_SKIP, P_MAX_STEPS, P_DT, P_CTRL_COST, P_HEALTHY_REWARD, P_Z_LO,
       P_Z_HI, P_TERMINATE, P_ACTION_MAP, P_N_STEPS, P_QPOS_SKIP, P_FAILED, P_NPARAMS_USED };
enum { HALFCHEETAH_VEL = 0, ANT_DIR = 1 };

struct Env {
  mjModel* m = nullptr;
  mjBatch* b = nullptr;
  int family = 0, n = 0, nq = 0, nv = 0, nu = 0, obs_dim = 0, nstate = 0, frame_skip = 1, qskip = 0;
  int action_map = 0, terminate = 0;
  long max_steps = 0, n_steps = 0;
  double dt = 0, ctrl_cost = 0, healthy_reward = 0, z_lo = 0, z_hi = 0;
  mjtNum *qpos = nullptr, *qvel = nullptr, *ctrl = nullptr;  // components of the first state row
  const double *task, *tcos, *tsin, *mean, *stdv, *lo, *hi, *mode, *readout;
  double *params, *x, *x_prev, *ret, *reward, *terminated, *steps, *action;
  double* live = nullptr;  // the network's live flag per copy (PopulationNetwork live_flags), or null
  int n_stats = 0;  // leading observation columns with statistics (RunningNorm.n_norm)
  long stat_n = 0;
  double *stat_count, *stat_mean, *stat_m2;
  std::vector<double> obs, act, pre, batch_mean, batch_m2;
  std::vector<int> ids;
};
Env E;  // one environment per process, as Brian2 has one project per process

[[noreturn]] void fail(const std::string& msg) {
  std::fprintf(stdout, "pdlf_env error: %s\n", msg.c_str());
  std::fprintf(stderr, "pdlf_env error: %s\n", msg.c_str());
  std::fflush(stdout);
  std::fflush(stderr);
  std::exit(3);
}

// numpy's pairwise summation (numpy/_core/src/umath/loops_utils.h), as np.sum(..., axis=1) of a row
double np_sum(const double* a, long n) {
  if (n < 8) {
    double res = 0.;
    for (long i = 0; i < n; i++) res += a[i];
    return res;
  } else if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; j++) r[j] = a[j];
    long i;
    for (i = 8; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; j++) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[i];
    return res;
  }
  long n2 = n / 2;
  n2 -= n2 % 8;
  return np_sum(a, n2) + np_sum(a + n2, n - n2);
}

void observe(int i) {
  double* o = &E.obs[(size_t)i * E.obs_dim];
  const mjtNum* q = E.qpos + (size_t)i * E.nstate;
  const mjtNum* v = E.qvel + (size_t)i * E.nstate;
  int k = 0;
  for (int j = E.qskip; j < E.nq; j++) o[k++] = q[j];
  for (int j = 0; j < E.nv; j++) o[k++] = v[j];
  o[k++] = E.task[i];
}

void write_inputs() {
  for (int i = 0; i < E.n; i++) {
    const double* o = &E.obs[(size_t)i * E.obs_dim];
    double* x = E.x + (size_t)i * E.obs_dim;
    for (int k = 0; k < E.obs_dim; k++) {
      const int mode = (int)E.mode[k];
      double v;
      if (mode == 0) {  // np.clip((obs - mean) / std, lo, hi), NaN propagated
        v = (o[k] - E.mean[k]) / E.stdv[k];
        v = v < E.lo[k] ? E.lo[k] : v;
        v = v > E.hi[k] ? E.hi[k] : v;
      } else if (mode == 1) {
        v = o[k];
      } else {
        v = 0.0;
      }
      x[k] = v;
    }
  }
}

// RunningNorm.update(obs, live) of pdlf_brian.envs, operation by operation: the batch's mean and squared
// deviations summed row after row (as NumPy reduces axis 0), then Chan et al.'s merge into the totals
void update_stats(const int* ids, int n_rows) {
  const int k = E.n_stats;
  if (n_rows == 0 || k == 0) return;
  double* mb = E.batch_mean.data();
  double* qb = E.batch_m2.data();
  for (int j = 0; j < k; j++) mb[j] = 0.0;
  for (int r = 0; r < n_rows; r++) {
    const double* o = &E.obs[(size_t)(ids ? ids[r] : r) * E.obs_dim];
    for (int j = 0; j < k; j++) mb[j] += o[j];
  }
  for (int j = 0; j < k; j++) { mb[j] = mb[j] / (double)n_rows; qb[j] = 0.0; }
  for (int r = 0; r < n_rows; r++) {
    const double* o = &E.obs[(size_t)(ids ? ids[r] : r) * E.obs_dim];
    for (int j = 0; j < k; j++) { const double d = o[j] - mb[j]; qb[j] += d * d; }
  }
  const long n_a = E.stat_n, n = n_a + n_rows;
  // Python divides exact integers (correctly rounded): so does this below 2**53
  const double w_mean = (double)n_rows / (double)n, w_m2 = (double)(n_a * (long)n_rows) / (double)n;
  for (int j = 0; j < k; j++) {
    const double delta = mb[j] - E.stat_mean[j];
    E.stat_mean[j] = E.stat_mean[j] + delta * w_mean;
    E.stat_m2[j] = E.stat_m2[j] + qb[j] + delta * delta * w_m2;
    E.stat_count[j] = (double)n;
  }
  E.stat_n = n;
}

bool healthy(int i) {  // Ant: finite state and torso height within the range
  const mjtNum* q = E.qpos + (size_t)i * E.nstate;
  const mjtNum* v = E.qvel + (size_t)i * E.nstate;
  for (int j = 0; j < E.nq; j++) if (!std::isfinite(q[j])) return false;
  for (int j = 0; j < E.nv; j++) if (!std::isfinite(v[j])) return false;
  return E.z_lo <= q[2] && q[2] <= E.z_hi;
}

void check(int failed, const char* what) {
  if (!failed) return;
  E.params[P_FAILED] += failed;
  for (int i = 0; i < E.n; i++)
    if (mjb_status(E.b)[i]) fail(std::string(what) + ": simulation " + std::to_string(i) + ": " + mjb_error(E.b, i));
  fail(std::string(what) + " failed");
}
}  // namespace

extern "C" void pdlf_env_begin(const int32_t* path, int path_len, double* params, int n_params, int n, int obs_dim,
                               int nu, int nq, int nv, const double* qpos0, const double* qvel0, const double* task,
                               const double* task_cos, const double* task_sin, const double* mean,
                               const double* stdv, const double* lo, const double* hi, const double* mode,
                               const double* readout, double* x, double* x_prev, double* ret, double* reward,
                               double* terminated, double* steps, double* action, int n_stats,
                               double* stat_count, double* stat_mean, double* stat_m2, double* live) {
  if (n_params < P_NPARAMS_USED) fail("too few parameters");
  std::string file;
  for (int k = 0; k < path_len && path[k]; k++) file.push_back((char)path[k]);
  char err[1024] = "";
  E.m = (file.size() > 4 && file.compare(file.size() - 4, 4, ".mjb") == 0)
            ? mj_loadModel(file.c_str(), nullptr) : mj_loadXML(file.c_str(), nullptr, err, sizeof(err));
  if (!E.m) fail("cannot load the model '" + file + "': " + err);
  E.params = params;
  E.family = (int)params[P_FAMILY];
  E.n = n;
  E.nq = nq; E.nv = nv; E.nu = nu; E.obs_dim = obs_dim;
  if ((int)params[P_N] != n || E.m->nq != nq || E.m->nv != nv || E.m->nu != nu)
    fail("the model or the copies do not match the compiled project (n, nq, nv, nu)");
  E.frame_skip = (int)params[P_FRAME_SKIP];
  E.max_steps = (long)params[P_MAX_STEPS];
  E.n_steps = (long)params[P_N_STEPS];
  E.dt = params[P_DT];
  E.ctrl_cost = params[P_CTRL_COST];
  E.healthy_reward = params[P_HEALTHY_REWARD];
  E.z_lo = params[P_Z_LO];
  E.z_hi = params[P_Z_HI];
  E.terminate = (int)params[P_TERMINATE];
  E.action_map = (int)params[P_ACTION_MAP];
  E.qskip = (int)params[P_QPOS_SKIP];
  if (nq - E.qskip + nv + 1 != obs_dim) fail("observation width does not match the model");
  E.task = task; E.tcos = task_cos; E.tsin = task_sin; E.mean = mean; E.stdv = stdv; E.lo = lo; E.hi = hi;
  E.mode = mode; E.readout = readout; E.x = x; E.x_prev = x_prev; E.ret = ret; E.reward = reward;
  E.terminated = terminated; E.steps = steps; E.action = action; E.live = live;
  if (n_stats < 0 || n_stats > obs_dim) fail("statistics width out of range");
  E.n_stats = n_stats; E.stat_count = stat_count; E.stat_mean = stat_mean; E.stat_m2 = stat_m2; E.stat_n = 0;
  for (int j = 0; j < n_stats; j++) { stat_count[j] = 0.0; stat_mean[j] = 0.0; stat_m2[j] = 0.0; }
  E.batch_mean.assign(n_stats, 0.0);
  E.batch_m2.assign(n_stats, 0.0);
  E.obs.assign((size_t)n * obs_dim, 0.0);
  E.act.assign((size_t)n * nu, 0.0);
  E.pre.assign((size_t)n * 2, 0.0);
  E.ids.reserve(n);
  mjBatchConfig config;
  mjb_defaultConfig(&config);
  config.nthread = (int)params[P_NTHREAD];
  config.persistent = 0;
  E.b = mjb_makeBatch(E.m, n, &config, err, sizeof(err));
  if (!E.b) fail(std::string("mjb_makeBatch: ") + err);
  E.nstate = mjb_nstate(E.b);
  E.qpos = mjb_stateComponent(E.b, mjSTATE_QPOS, nullptr);
  E.qvel = mjb_stateComponent(E.b, mjSTATE_QVEL, nullptr);
  E.ctrl = mjb_stateComponent(E.b, mjSTATE_CTRL, nullptr);
  // BatchedTaskEnv.reset: reset without stages, write the drawn state, mj_forward
  check(mjb_reset(E.b, nullptr, n, nullptr, mjSTAGE_NONE), "reset");
  for (int i = 0; i < n; i++) {
    std::memcpy(E.qpos + (size_t)i * E.nstate, qpos0 + (size_t)i * nq, sizeof(double) * nq);
    std::memcpy(E.qvel + (size_t)i * E.nstate, qvel0 + (size_t)i * nv, sizeof(double) * nv);
  }
  check(mjb_forward(E.b, nullptr, n, mjSTAGE_ACC), "forward");
  for (int i = 0; i < n; i++) {
    observe(i);
    ret[i] = 0.0; reward[i] = 0.0; terminated[i] = 0.0; steps[i] = 0.0;
  }
  update_stats(nullptr, n);  // the reset observations of every copy
  for (size_t k = 0; k < (size_t)n * obs_dim; k++) x_prev[k] = x[k];
  write_inputs();
}

// returns 1 when a copy's episode ended in this step (and its live flag was cleared), else 0
extern "C" int pdlf_env_tick(long timestep) {
  const long s = timestep + 1;  // the network step whose input this computes
  const size_t nx = (size_t)E.n * E.obs_dim;
  for (size_t k = 0; k < nx; k++) E.x_prev[k] = E.x[k];
  if (s >= E.n_steps) {  // the flush step (and beyond): no input
    for (size_t k = 0; k < nx; k++) E.x[k] = 0.0;
    return 0;
  }
  const int nu = E.nu;
  const mjtNum* range = E.m->actuator_ctrlrange;
  for (int i = 0; i < E.n; i++) {
    for (int j = 0; j < nu; j++) {
      const double a = E.readout[(size_t)i * nu + j], lo = range[2 * j], hi = range[2 * j + 1];
      double v;
      if (E.action_map == 0) {
        v = a < lo ? lo : a;
        v = v > hi ? hi : v;
      } else {
        v = lo + (std::tanh(a) + 1.0) * 0.5 * (hi - lo);
      }
      E.act[(size_t)i * nu + j] = v;
      if (E.action) E.action[(size_t)i * nu + j] = v;
    }
  }
  E.ids.clear();
  for (int i = 0; i < E.n; i++) {
    E.reward[i] = 0.0;
    if (!(E.terminated[i] != 0.0 || E.steps[i] >= (double)E.max_steps)) E.ids.push_back(i);
  }
  if (!E.ids.empty()) {
    for (int i : E.ids) {
      const mjtNum* q = E.qpos + (size_t)i * E.nstate;
      E.pre[2 * i] = q[0];
      E.pre[2 * i + 1] = q[1];
      std::memcpy(E.ctrl + (size_t)i * E.nstate, &E.act[(size_t)i * nu], sizeof(double) * nu);
    }
    const bool all = (int)E.ids.size() == E.n;
    check(mjb_step(E.b, all ? nullptr : E.ids.data(), (int)E.ids.size(), E.frame_skip, mjSTAGE_NONE), "step");
    std::vector<double> sq(nu);
    for (int i : E.ids) {
      const mjtNum* q = E.qpos + (size_t)i * E.nstate;
      for (int j = 0; j < nu; j++) sq[j] = E.act[(size_t)i * nu + j] * E.act[(size_t)i * nu + j];
      const double ctrl = E.ctrl_cost * np_sum(sq.data(), nu);
      double r = 0.0;
      bool term = false;
      if (E.family == HALFCHEETAH_VEL) {
        const double v = (q[0] - E.pre[2 * i]) / E.dt;
        const double r_vel = -std::fabs(v - E.task[i]);
        r = r_vel - ctrl;
      } else {  // ANT_DIR
        const double vx = (q[0] - E.pre[2 * i]) / E.dt, vy = (q[1] - E.pre[2 * i + 1]) / E.dt;
        const double r_dir = E.tcos[i] * vx + E.tsin[i] * vy;
        const bool ok = healthy(i);
        const double r_survive = (ok ? 1.0 : 0.0) * E.healthy_reward;
        term = !ok && E.terminate;
        r = r_dir + r_survive - ctrl;
      }
      E.reward[i] = r;
      E.steps[i] += 1.0;
      E.terminated[i] = term ? 1.0 : 0.0;
      observe(i);
    }
    update_stats(E.ids.data(), (int)E.ids.size());  // the copies alive when stepped
  }
  for (int i = 0; i < E.n; i++) E.ret[i] += E.reward[i];
  write_inputs();
  int ended = 0;
  if (E.live) {  // a copy no longer stepped (terminated or truncated) needs no network from now on
    for (int i : E.ids) {
      if (E.terminated[i] != 0.0 || E.steps[i] >= (double)E.max_steps) {
        E.live[i] = 0.0;
        ended = 1;
      }
    }
  }
  return ended;
}

extern "C" void pdlf_env_end(void) {
  if (E.b) mjb_deleteBatch(E.b);
  if (E.m) mj_deleteModel(E.m);
  E.b = nullptr;
  E.m = nullptr;
}
"""


def mujoco_paths():
    """(include dir, lib dir, library file name) of the installed ``mujoco`` wheel."""
    import mujoco

    root = os.path.dirname(mujoco.__file__)
    libs = sorted(f for f in os.listdir(root) if f.startswith("libmujoco.so"))
    if not libs:
        raise ConfigError(f"the mujoco package at {root} ships no libmujoco.so.<version> to link against")
    return os.path.join(root, "include"), root, libs[-1]


def build_library(directory, compiler="g++"):
    """Compile ``libpdlf_env.so`` into ``directory`` (skipped when the source and MuJoCo are unchanged).

    Returns the directory holding ``libpdlf_env.so`` and ``pdlf_env.h``.
    """
    include, libdir, libname = mujoco_paths()
    os.makedirs(directory, exist_ok=True)
    stamp = hashlib.sha256((HEADER + SOURCE + libdir + libname + compiler).encode()).hexdigest()
    lib = os.path.join(directory, "libpdlf_env.so")
    stamp_file = os.path.join(directory, "stamp")
    if os.path.exists(lib) and os.path.exists(stamp_file) and open(stamp_file).read() == stamp:
        return directory
    with open(os.path.join(directory, "pdlf_env.h"), "w") as f:
        f.write(HEADER)
    with open(os.path.join(directory, "pdlf_env.cpp"), "w") as f:
        f.write(SOURCE)
    # no -ffast-math, no FMA contraction: the arithmetic is NumPy's, operation by operation
    cmd = [compiler, "-std=c++17", "-O2", "-ffp-contract=off", "-fPIC", "-shared", "-o", lib,
           os.path.join(directory, "pdlf_env.cpp"), f"-I{directory}", f"-I{include}", f"-L{libdir}",
           f"-l:{libname}", f"-Wl,-rpath,{libdir}"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ConfigError(f"compiling the environment library failed ({' '.join(cmd)}):\n{result.stderr}")
    with open(stamp_file, "w") as f:
        f.write(stamp)
    return directory


class CompiledEnvironment:
    """A task family's batched environment stepped from compiled code inside a standalone project.

    Parameters
    ----------
    family : {'halfcheetah_vel', 'ant_dir'}
    max_episode_steps : int, optional
        Truncation length (default: the network's episode, ``n_steps - 1`` env steps).
    nthread : int
        Physics threads of the batch (``mjb_makeBatch``), the caller's included; results do not
        depend on it.
    action_map : {'clip', 'tanh'}
        As ``task.action_map`` of the control protocol.
    task_input : bool
        False: the task-value input is held at 0 (the task-agnostic baseline).
    record_steps : bool
        Also record every step's input, action, reward and termination flag (monitors; for tests and
        analysis).
    **env_kwargs
        The environment's arguments, as for `pdlf_brian.envs.BatchedTaskEnv`.
    """

    def __init__(self, family, *, max_episode_steps=None, nthread=1, action_map="clip", task_input=True,
                 record_steps=False, **env_kwargs):
        from pdlf_brian.envs import get_family

        self.family = get_family(family)
        if self.family.name not in FAMILIES:
            raise ConfigError(f"family: the compiled environment supports {list(FAMILIES)}, got {family!r}")
        if action_map not in ("clip", "tanh"):
            raise ConfigError(f"action_map: expected 'clip' or 'tanh', got {action_map!r}")
        if not isinstance(nthread, (int, np.integer)) or nthread < 0:
            raise ConfigError(f"nthread: expected an integer >= 0, got {nthread!r}")
        self.max_episode_steps = max_episode_steps
        self.nthread = int(nthread)
        self.action_map = action_map
        self.task_input = bool(task_input)
        self.record_steps = bool(record_steps)
        self.env_kwargs = dict(env_kwargs)
        self.net = None
        self._env = None

    # -- building (called by PopulationNetwork) ----------------------------------------------------
    def attach(self, net):
        """Create the groups that carry the episode's data; return them (and monitors) for the network."""
        import brian2 as b2

        if self.net is not None:
            raise ConfigError("environment: this CompiledEnvironment already belongs to a network; make one "
                              "per network")
        if net.device not in DEVICES:
            raise ConfigError(f"environment: a CompiledEnvironment runs inside a project of {list(DEVICES)}, not "
                              f"on device {net.device!r} (the runtime device takes a Python controller)")
        if net.float_dtype != "float64":
            raise ConfigError("environment: a CompiledEnvironment needs float_dtype='float64'")
        fam = self.family
        if net.shape.n_in != fam.obs_dim or net.shape.n_out != fam.act_dim:
            raise ConfigError(f"environment: {fam.name} needs n_in={fam.obs_dim} and n_out={fam.act_dim}, the "
                              f"network has {net.shape.n_in} and {net.shape.n_out}")
        if net.n_steps < 2:
            raise ConfigError("n_steps: a closed-loop episode needs at least 2 network steps (1 env step)")
        self.net = net
        self.n_stats = fam.obs_dim - fam.n_task_obs
        self.max_episode_steps = self.max_episode_steps or net.n_steps - 1
        env = self._environments(net.n_copies)
        C = net.n_copies
        self.nq, self.nv, self.nu = env.model.nq, env.model.nv, env.model.nu
        self.groups = {
            "copy": b2.NeuronGroup(C, "task : 1\ntask_cos : 1\ntask_sin : 1\nret : 1\nreward : 1\n"
                                      "terminated : 1\nsteps : 1", name="env_copy"),
            "qpos0": b2.NeuronGroup(C * self.nq, "value : 1", name="env_qpos0"),
            "qvel0": b2.NeuronGroup(C * self.nv, "value : 1", name="env_qvel0"),
            "norm": b2.NeuronGroup(fam.obs_dim, "mean : 1\nstdv : 1\nlo : 1\nhi : 1\nmode : 1",
                                   name="env_norm"),
            "params": b2.NeuronGroup(len(_PARAMS), "value : 1", name="env_params"),
            "path": b2.NeuronGroup(PATH_LENGTH, "code : integer", name="env_path"),
            # the raw observations' statistics of the episode (RunningNorm columns), per column
            "stats": b2.NeuronGroup(self.n_stats, "count : 1\nmean : 1\nm2 : 1", name="env_stats"),
        }
        objects = list(self.groups.values())
        self.monitors = {}
        if self.record_steps:
            self.groups["action"] = b2.NeuronGroup(C * self.nu, "value : 1", name="env_action")
            objects.append(self.groups["action"])
            self.monitors = {
                "inputs": b2.StateMonitor(net._inp, "x", record=True, when="end", name="env_mon_inputs"),
                "copy": b2.StateMonitor(self.groups["copy"], ["reward", "terminated"], record=True, when="end",
                                        name="env_mon_copy"),
                "action": b2.StateMonitor(self.groups["action"], "value", record=True, when="end",
                                          name="env_mon_action"),
            }
            objects += list(self.monitors.values())
        return objects

    def install(self, net):
        """Compile the library and put the begin / per-step / end calls into the project (before ``run``)."""
        import brian2 as b2

        device = net._device
        libdir = build_library(os.path.join(net.directory, "pdlf_env"))
        device.headers.append('"pdlf_env.h"')
        device.include_dirs.append(libdir)
        device.library_dirs.append(libdir)
        device.runtime_library_dirs.append(libdir)
        device.libraries.append("pdlf_env")
        # run_args are applied here (after every initialisation) rather than just before Network::run,
        # so that pdlf_env_begin, inserted before the run, sees this episode's values
        device.apply_run_args()

        def arr(group, var):
            return device.get_array_name(group.variables[var])

        g = self.groups
        C, fam = net.n_copies, self.family
        timestep = device.get_array_name(b2.defaultclock.variables["timestep"])
        action = arr(g["action"], "value") if "action" in g else "NULL"
        begin = (f"pdlf_env_begin({arr(g['path'], 'code')}, {PATH_LENGTH}, {arr(g['params'], 'value')}, "
                 f"{len(_PARAMS)}, {C}, {fam.obs_dim}, {self.nu}, {self.nq}, {self.nv}, "
                 f"{arr(g['qpos0'], 'value')}, {arr(g['qvel0'], 'value')}, "
                 + ", ".join(arr(g["copy"], v) for v in ("task", "task_cos", "task_sin")) + ", "
                 + ", ".join(arr(g["norm"], v) for v in ("mean", "stdv", "lo", "hi", "mode")) + ", "
                 f"{arr(net._out, 'a')}, {arr(net._inp, 'x')}, {arr(net._inp, 'x_prev')}, "
                 + ", ".join(arr(g["copy"], v) for v in ("ret", "reward", "terminated", "steps"))
                 + f", {action}, {self.n_stats}, "
                 + ", ".join(arr(g["stats"], v) for v in ("count", "mean", "m2"))
                 + f", {arr(net._live, 'live') if net.live_flags else 'NULL'});")
        if net.device == "cuda_standalone":
            # the library works on the host arrays; the network's kernels read and write the device copies
            def copy(group, var, n, to_device=True):
                host, dev = arr(group, var), "dev" + arr(group, var)
                dst, src, kind = (dev, host, "HostToDevice") if to_device else (host, dev, "DeviceToHost")
                return f"CUDA_SAFE_CALL(cudaMemcpy({dst}, {src}, sizeof(double)*{n}, cudaMemcpy{kind}));"

            inputs = [copy(net._inp, v, C * fam.obs_dim) for v in ("x", "x_prev")]
            per_copy = [copy(g["copy"], v, C) for v in ("ret", "reward", "terminated", "steps")]
            actions = [copy(g["action"], "value", C * self.nu)] if "action" in g else []
            stats = [copy(g["stats"], v, self.n_stats) for v in ("count", "mean", "m2")] if self.n_stats else []
            # each step only the actions come to the host and the inputs go back (with record_steps also
            # what the monitors record); the rest goes to the device once, for Brian2 to write it out
            recorded = per_copy + actions if self.record_steps else []
            live = (f"if (ended) {copy(net._live, 'live', C)}",) if net.live_flags else ()
            body = " ".join([copy(net._out, "a", C * self.nu, to_device=False),
                             f"const int ended = pdlf_env_tick((long){timestep}[0]); (void)ended;"]
                            + inputs + recorded + list(live))
            tick = f"{net.net.name}.add(&{b2.defaultclock.name}, []() {{ {body} }});"
            begin = "\n".join([begin] + inputs + per_copy)
            end = "\n".join(per_copy + actions + stats + ["pdlf_env_end();"])
        else:
            tick = (f"{net.net.name}.add(&{b2.defaultclock.name}, "
                    f"[]() {{ pdlf_env_tick((long){timestep}[0]); }});")
            end = "pdlf_env_end();"
        device.insert_code("before_network_run", tick + "\n" + begin)
        device.insert_code("after_network_run", end)

    # -- episodes ---------------------------------------------------------------------------------
    def _environments(self, n):
        """A `BatchedTaskEnv` of ``n`` copies: the family's settings, and the reset draws of each episode."""
        from pdlf_brian.envs import BatchedTaskEnv

        if self._env is None or self._env.n != n:
            self._env = BatchedTaskEnv(self.family.name, n, nthread=1, max_episode_steps=self.max_episode_steps,
                                       **self.env_kwargs)
        return self._env

    def episode(self, seeds, task_values, norm=None):
        """A `CompiledEpisode` for ``net.run(genomes, controller=...)``.

        ``seeds`` and ``task_values`` have one entry per copy (P x B, copy p*B + b), as for
        `BatchedTaskEnv.reset`; ``norm`` is the frozen `RunningNorm` (default: a fresh one).
        """
        if self.net is None:
            raise ConfigError("environment: build a PopulationNetwork with environment=this first")
        return CompiledEpisode(self, seeds, task_values, norm)

    def rollout(self, genomes, task_values, seeds, *, norm=None):
        """One closed-loop episode of every copy, as `protocols.control.ControlProblem.rollout`.

        ``task_values`` and ``seeds`` have B entries, the same for every individual. Returns
        ``returns`` (P, B), ``env_steps``, ``recording``, ``terminated`` (P, B), ``steps`` (P, B),
        ``stats`` (the observation statistics ``(count, mean, m2)``) and, with
        ``record_steps``, ``inputs`` (T, P, B, n_in), ``action`` (E, P*B, act_dim), ``reward`` (E, P*B)
        and ``terminated_steps`` (E, P*B).
        """
        P = len(genomes)
        ep = self.episode(np.tile(np.asarray(seeds), P), np.tile(np.asarray(task_values, dtype=float), P), norm)
        rec = self.net.run(genomes, controller=ep, final_weights=False)
        out = dict(ep.result)
        out["recording"] = rec
        return out


class CompiledEpisode:
    """The data of one compiled episode (``run_args``) and, after the run, its results (``result``)."""

    def __init__(self, environment, seeds, task_values, norm=None):
        from pdlf_brian.envs import RunningNorm

        self.environment = environment
        env_obj = environment
        net = env_obj.net
        fam = env_obj.family
        C = net.n_copies
        env = env_obj._environments(C)
        env.reset(seeds=seeds, task_values=task_values)          # the same draws as the Python loop
        self.qpos0 = env.kernel.qpos.copy()
        self.qvel0 = env.kernel.qvel.copy()
        self.task = env.task_values.copy()
        if norm is None:
            norm = RunningNorm(fam.obs_dim, n_passthrough=fam.n_task_obs)
        if norm.obs_dim != fam.obs_dim:
            raise ConfigError(f"norm: expected a RunningNorm of width {fam.obs_dim}, got {norm.obs_dim}")
        k = norm.n_norm
        mean, stdv = np.zeros(fam.obs_dim), np.ones(fam.obs_dim)
        mean[:k], stdv[:k] = norm.mean, norm.std
        lo = np.full(fam.obs_dim, -np.inf)
        hi = np.full(fam.obs_dim, np.inf)
        lo[:k], hi[:k] = -norm.clip, norm.clip
        mode = np.full(fam.obs_dim, _MODES["pass"])
        mode[:k] = _MODES["normalise"]
        if fam.has_task_value and not env_obj.task_input:
            mode[-1] = _MODES["zero"]
        self.norm_values = {"mean": mean, "stdv": stdv, "lo": lo, "hi": hi, "mode": mode}
        t = env.template
        code, qskip = FAMILIES[fam.name]
        params = dict.fromkeys(_PARAMS, 0.0)
        params.update(family=code, n=C, nthread=env_obj.nthread, frame_skip=env.frame_skip,
                      max_steps=env_obj.max_episode_steps, dt=env.dt, ctrl_cost=t._ctrl_cost_weight,
                      action_map=0 if env_obj.action_map == "clip" else 1, n_steps=net.n_steps, qpos_skip=qskip)
        if fam.name == "ant_dir":
            params.update(healthy_reward=t._healthy_reward, z_lo=t._healthy_z_range[0],
                          z_hi=t._healthy_z_range[1], terminate=float(bool(t._terminate_when_unhealthy)))
        self.params = np.array([float(params[p]) for p in _PARAMS])
        path = os.path.abspath(t.fullpath).encode()
        if len(path) >= PATH_LENGTH:
            raise ConfigError(f"model path longer than {PATH_LENGTH - 1} bytes: {path!r}")
        self.path = np.zeros(PATH_LENGTH, dtype=np.int32)
        self.path[:len(path)] = np.frombuffer(path, dtype=np.uint8)
        self.result = None

    def run_args(self):
        g = self.environment.groups
        args = {g["copy"].task: self.task, g["copy"].task_cos: np.cos(self.task),
                g["copy"].task_sin: np.sin(self.task), g["qpos0"].value: self.qpos0.ravel(),
                g["qvel0"].value: self.qvel0.ravel(), g["params"].value: self.params, g["path"].code: self.path}
        for var, value in self.norm_values.items():
            args[getattr(g["norm"], var)] = value
        return args

    def collect(self):
        """Read the episode's results back (called by the network after the run)."""
        env_obj = self.environment
        net = env_obj.net
        P, B, C = net.n_individuals, net.batch, net.n_copies
        g = env_obj.groups
        # Brian2 caches the values of arrays that no code object writes (here: zeros); the library
        # wrote them, so they must be read from the results
        written = [g["copy"].variables[v] for v in ("ret", "reward", "terminated", "steps")] + [
            net._inp.variables["x"], net._inp.variables["x_prev"]] + [
            g["stats"].variables[v] for v in ("count", "mean", "m2")] + (
            [g["action"].variables["value"]] if "action" in g else [])
        for var in written:
            net._device.array_cache.pop(var, None)
        steps = np.asarray(g["copy"].steps[:]).astype(np.int64)
        terminated = np.asarray(g["copy"].terminated[:]).astype(bool)
        out = {"returns": np.asarray(g["copy"].ret[:]).reshape(P, B), "env_steps": int(steps.sum()),
               "steps": steps.reshape(P, B), "terminated": terminated.reshape(P, B),
               "stats": self._stats()}
        if env_obj.record_steps:
            T = net.n_steps
            mon = env_obj.monitors
            x = np.asarray(mon["inputs"].x).T[:T]
            out["inputs"] = x.reshape(T, P, B, -1)
            # the values recorded at the end of step t are those of env step t (written at the end of t-1)
            out["reward"] = np.asarray(mon["copy"].reward).T[1:T]
            out["terminated_steps"] = np.asarray(mon["copy"].terminated).T[1:T].astype(bool)
            out["action"] = np.asarray(mon["action"].value).T[1:T].reshape(T - 1, C, -1)
        self.result = out
        return out

    def _stats(self):
        """``(count, mean, m2)`` of the raw observations, as the runtime loop's ``collect_stats``.

        The library merges the reset observation of every copy, then after each env step the new
        observations of the copies stepped (alive before it), exactly as `RunningNorm.update`.
        """
        stats = self.environment.groups["stats"]
        return (int(np.asarray(stats.count[:])[0]), np.asarray(stats.mean[:], dtype=np.float64).copy(),
                np.asarray(stats.m2[:], dtype=np.float64).copy())
