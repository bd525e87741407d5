"""Multi-task control (spec 5.2, paper Figs. 3, 5, 6): one network, several task values, closed loop.

Run it from a shell (the protocol name is the task family)::

    pdlf train halfcheetah_vel --set learner=plastic --set task.episode_steps=500 --run-dir runs/hc
    pdlf eval runs/hc

One generation: every individual runs one episode per training task value (``task.episodes`` more
with other seeds); all individuals see the same task values and reset seeds (common random numbers).
The whole population is one network of ``P x n_tasks x episodes`` copies; the environments of all
copies are one `pdlf_brian.envs.BatchedTaskEnv` (``mujoco.batch``); a closed-loop controller called
once per network step reads every copy's readout, steps every live environment and returns every
observation, so the simulator runs one ``run()`` per episode, never one per step.

Timing within an episode: network step 0 sees the reset observation; at network step t >= 1 the
controller applies the readout of step t-1 as the action of env step t and feeds back the new
observation, so an episode of E env steps is E + 1 network steps (the last readout is unused).
Actions are the readout clipped to the action bounds (``action_map="clip"``, the spec's) or
``low + (tanh(a) + 1)/2 (high - low)`` (``"tanh"``), the same for both learners.

Observations are normalised by a `RunningNorm` frozen during a generation and updated afterwards
with the raw observations of that generation's live training copies (never with held-out ones);
the task value passes through unnormalised. Its statistics are the problem's state: they travel in
the checkpoint and in ``problem_state.json``, so a resumed run and ``pdlf eval`` use the same.

Fitness is an individual's mean episode return over its copies. Terminated episodes (Hopper, Ant
falling) end as Gymnasium defines them: the copy stops, earns nothing more, and its env steps are
counted only while it was alive.

Devices: ``numpy`` and ``runtime`` run the closed loop above (a Python controller per network step).
``cpp_standalone`` and ``cuda_standalone`` train ``halfcheetah_vel`` and ``ant_dir`` (every ``task``
setting) with the loop compiled into the project (`pdlf_brian.compiled_env.CompiledEnvironment`: MuJoCo
stepped from C, no Python during an episode; on CUDA the network runs on the GPU and the physics on the
host between its steps): `evaluate` re-runs one project, compiled once per process, with each
generation's genomes, seeds and frozen statistics, and returns the same fitness, env steps and
observation statistics as the runtime device (``tests/test_compiled_loop.py``,
``tests/test_cuda_closed_loop.py`` where a GPU is present; ``tanh`` actions agree to rounding).
Held-out and final evaluations (`heldout`, `final_report`) run on the runtime device
(`pdlf_brian.devices.evaluation_device`). Other families on a standalone device are refused with an
error naming the devices that can run them.
"""
import warnings
from dataclasses import dataclass

import numpy as np

from pdlf_brian.errors import ConfigError
from pdlf_brian.evolution.config import check_positive_ints, known_keys
from pdlf_brian.evolution.problem import Evaluation, Problem, cached_network
from pdlf_brian.layout import GenomeLayout, NetworkShape
from pdlf_brian.rule import resolve_synapse

ACTION_MAPS = ("clip", "tanh")
# Until a GPU run passes tests/test_cuda_closed_loop.py, training on the GPU says it is unchecked.
CUDA_LOOP_UNVERIFIED = (
    "device 'cuda_standalone': the control loop compiled for the GPU has not passed its checks on a GPU. "
    "On its first run (an H200, 2026-12-01) its episodes differed from the runtime loop's in all four test "
    "cases, and at P = 64 no Ant fell in 102,400 env steps where the CPU loops gave about 28,500; see "
    "benchmarks/results/gpu_h200/README.md. Use cpp_standalone or runtime for results you report.")


@dataclass(frozen=True)
class ControlSettings:
    """The ``task`` section of a control config."""

    episode_steps: int = 1000        # env steps per episode
    n_hidden: int = 128
    episodes: int = 1                # episodes per training task value per generation
    values: str = "training"         # 'training' (the family's 8), 'slow' (halfcheetah 0.25-2.0) or a list
    n_tasks: int = 8                 # copies per individual for families without a task value
    action_map: str = "clip"
    recurrent: bool = False
    heldout_episodes: int = 2        # per task value, for held-out and final evaluations
    nthread: int = 2                 # physics threads (on cpp_standalone also the network's OpenMP threads)
    task_input: bool = True          # False: the task value input is held at 0 (a task-agnostic baseline)

    @classmethod
    def from_dict(cls, data):
        s = cls(**known_keys(cls, data, "config section 'task'"))
        check_positive_ints(s, ("episode_steps", "n_hidden", "episodes", "n_tasks", "heldout_episodes"))
        if s.action_map not in ACTION_MAPS:
            raise ConfigError(f"config field 'task.action_map': unknown map {s.action_map!r}; "
                              f"allowed values are {list(ACTION_MAPS)}")
        if not isinstance(s.task_input, bool):
            raise ConfigError(f"config field 'task.task_input': expected true or false, got {s.task_input!r}")
        if not isinstance(s.nthread, int) or s.nthread < 0:
            raise ConfigError(f"config field 'task.nthread': expected an integer >= 0, got {s.nthread!r}")
        return s


class ControlProblem(Problem):
    """Multi-task control on one task family (``config.protocol``); see the module docstring."""

    #: runtime (Brian2) was 2x the NumPy closed loop at P = 64 on ant_dir (benchmarks/closed_loop.py)
    default_device = "runtime"

    def __init__(self, config):
        from pdlf_brian.envs import RunningNorm, get_family, validate_task_value
        from pdlf_brian.envs.tasks import HALFCHEETAH_SLOW_VALUES

        self.config = config
        self.family = get_family(config.protocol)
        self.settings = s = ControlSettings.from_dict(config.task)
        if not self.family.has_task_value:
            self.task_values = (None,) * s.n_tasks
        elif s.values == "training":
            self.task_values = tuple(self.family.training_values)
        elif s.values == "slow":
            if self.family.name != "halfcheetah_vel":
                raise ConfigError("config field 'task.values': 'slow' exists for halfcheetah_vel only")
            self.task_values = HALFCHEETAH_SLOW_VALUES
        elif isinstance(s.values, list) and s.values:
            self.task_values = tuple(validate_task_value(self.family, v) for v in s.values)
        else:
            raise ConfigError(f"config field 'task.values': expected 'training', 'slow' or a list of task values, "
                              f"got {s.values!r}")
        self._check_device()
        self.shape = NetworkShape(self.family.obs_dim, s.n_hidden, self.family.act_dim, recurrent=bool(s.recurrent))
        self.synapse = resolve_synapse(config.learner, config.rule, config.ablation)
        self.genome_size = GenomeLayout(self.shape, self.synapse).size
        self.batch = len(self.task_values) * s.episodes
        self.n_steps = s.episode_steps + 1
        self.key = repr((config.device, self.shape, self.synapse, self.family.name, s))
        self.norm = RunningNorm(self.family.obs_dim, n_passthrough=self.family.n_task_obs)

    @property
    def compiled(self):
        """True when training runs the closed loop compiled into a standalone project."""
        from pdlf_brian.devices import device_info

        return device_info(self.config.device).compiled_closed_loop

    def _check_device(self):
        """`ConfigError` / `DeviceError` unless ``config.device`` can run this family's closed loop."""
        from pdlf_brian.devices import DEVICES, check_closed_loop, device_info

        device = self.config.device
        if device_info(device).closed_loop:
            return
        if not device_info(device).compiled_closed_loop:
            check_closed_loop(device)          # a DeviceError naming the devices that can
        from pdlf_brian.compiled_env import FAMILIES

        if self.family.name not in FAMILIES:
            python = [d.name for d in DEVICES.values() if d.closed_loop]
            raise ConfigError(f"config field 'device': {device!r} runs the control loop compiled into its project "
                              f"(pdlf_brian.compiled_env) for the protocols {list(FAMILIES)} only, not "
                              f"{self.family.name!r}; allowed devices for {self.family.name!r} are {python}")
        if device == "cuda_standalone":
            warnings.warn(CUDA_LOOP_UNVERIFIED, UserWarning, stacklevel=3)

    def build(self, n_individuals):
        """The training network; on a standalone device with the closed loop compiled in (`CompiledEnvironment`).

        It gets live flags: a copy whose episode has ended (a fallen Ant) costs no network work for the
        rest of the episode. Fitness, env steps and statistics do not change.
        """
        if not self.compiled:
            return self.make(n_individuals, self.batch, live_flags=True)
        from pdlf_brian.compiled_env import CompiledEnvironment

        s = self.settings
        env = CompiledEnvironment(self.family.name, max_episode_steps=s.episode_steps, nthread=s.nthread,
                                  action_map=s.action_map, task_input=s.task_input)
        # the network's code objects share the physics' threads (OpenMP); 1 thread: no OpenMP at all
        return self.make(n_individuals, self.batch, environment=env, threads=s.nthread if s.nthread > 1 else 0,
                         live_flags=True)

    # -- state -------------------------------------------------------------------------------
    def state(self):
        return {"obs_norm": self.norm.state_dict()}

    def load_state(self, state):
        from pdlf_brian.envs import RunningNorm

        self.norm = RunningNorm.from_state(state["obs_norm"])

    def update(self, evaluations):
        for ev in evaluations:
            self.norm.merge(*ev.extras)

    # -- rollouts ----------------------------------------------------------------------------
    def environments(self, n):
        """This process's batched environments for ``n`` copies."""
        from pdlf_brian.envs import BatchedTaskEnv

        key = ("env", self.family.name, n, self.settings.episode_steps, self.settings.nthread)
        return cached_network(key, lambda: BatchedTaskEnv(self.family.name, n, nthread=self.settings.nthread,
                                                          max_episode_steps=self.settings.episode_steps))

    def actions(self, output, env):
        """Readouts (copies, act_dim) -> actions within the bounds, by ``task.action_map``."""
        lo, hi = env.action_low, env.action_high
        if self.settings.action_map == "clip":
            return np.clip(output, lo, hi)
        return lo + (np.tanh(output) + 1.0) * 0.5 * (hi - lo)

    def rollout(self, net, genomes, task_values, seeds, *, schedule=None, collect_stats=False,
                record_steps=False):
        """Run one closed-loop episode of ``net`` on every copy (the Python loop: numpy and runtime
        networks; `evaluate` on a standalone device runs the compiled one instead).

        Parameters
        ----------
        net : a network from `pdlf_brian.engine.make_network` with batch B
        genomes : (P, genome_size)
        task_values : sequence of B task values (None for families without one), the same per individual
        seeds : sequence of B reset seeds (the same per individual: common random numbers)
        schedule : callable, optional
            ``schedule(env_step) -> B task values``: changes the task input during the episode (steering).
        collect_stats : bool
            Return the raw observations fed to the network and their live mask (for the statistics).
        record_steps : bool
            Also return per env step the rewards, actions, positions (`BatchedTaskEnv.positions`) and
            task values, and per network step the inputs fed to the network (normalised observations).
        """
        from pdlf_brian.envs import RunningNorm

        P, B = len(genomes), net.batch
        env = self.environments(P * B)
        def tile(values):      # one entry per copy: the B values repeated for every individual
            values = list(values)
            return np.tile(np.asarray(values, dtype=object if values[0] is None else float), P)

        obs = env.reset(seeds=np.tile(np.asarray(seeds, dtype=np.int64), P), task_values=tile(task_values))
        returns = np.zeros(P * B)
        stats = RunningNorm(self.family.obs_dim, n_passthrough=self.family.n_task_obs)
        if collect_stats:
            stats.update(obs)
        trace = ({"reward": [], "action": [], "position": [], "task_value": [], "inputs": []}
                 if record_steps else None)
        norm = self.norm
        blind = self.family.has_task_value and not self.settings.task_input

        def controller(step, output):
            nonlocal obs
            if step > 0:
                if schedule is not None:
                    env.set_task_values(tile(schedule(step - 1)))
                action = self.actions(output.reshape(P * B, -1), env)
                live = ~env.done
                obs, reward, _, _, info = env.step(action)
                if net.live_flags:
                    net.set_live(~env.done)      # ended copies need no network from this step on
                returns[:] += reward
                if collect_stats:
                    stats.update(obs, live)
                if record_steps:
                    trace["reward"].append(reward)
                    trace["action"].append(action)
                    trace["position"].append(env.positions())
                    trace["task_value"].append(env.task_values.copy())
            x = norm.normalize(obs).reshape(P, B, -1)
            if blind:
                x[..., -1] = 0.0
            if record_steps:
                trace["inputs"].append(x)
            return x

        rec = net.run(genomes, controller=controller, n_steps=self.n_steps, final_weights=record_steps)
        out = {"returns": returns.reshape(P, B), "env_steps": int(env.steps.sum()), "recording": rec}
        if collect_stats:
            # statistics of the observations fed to the network by copies alive when they were produced
            out["stats"] = (stats.count, stats.mean, stats.m2)
        if record_steps:
            out.update({k: np.stack(v) for k, v in trace.items()})
        return out

    def evaluate(self, genomes, seed):
        s = self.settings
        rng = np.random.default_rng(seed)
        seeds = rng.integers(0, 2**31 - 1, size=self.batch)
        task_values = list(self.task_values) * s.episodes
        net = self.network(len(genomes))
        if self.compiled:      # the same episodes and statistics, with no Python per step
            result = net.environment.rollout(genomes, task_values, seeds, norm=self.norm)
        else:
            result = self.rollout(net, genomes, task_values, seeds, collect_stats=True)
        return Evaluation(result["returns"].mean(axis=1), result["env_steps"], extras=result["stats"])

    def score_values(self, genome, task_values, seed, episodes=None, interventions=()):
        """Mean return of one genome per task value over ``episodes`` episodes each (held-out seeds)."""
        episodes = episodes or self.settings.heldout_episodes
        values = [v for v in task_values for _ in range(episodes)]
        seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=len(values))
        net = self.evaluation_network(1, len(values), interventions=interventions)
        result = self.rollout(net, np.asarray(genome)[None, :], values, seeds)
        per_value = result["returns"].reshape(len(task_values), episodes)
        return per_value.mean(axis=1), per_value.std(axis=1)

    def episode_recording(self, genome, seed, episodes=None):
        """Held-out episodes (``episodes`` per training task value, default ``task.heldout_episodes``
        and at least 2) with spikes, traces and final weights; ``groups`` is each copy's episode number
        within its value (a readout cross-validated over them is tested on unseen episodes)."""
        episodes = episodes or max(2, self.settings.heldout_episodes)
        values = [v for v in self.task_values for _ in range(episodes)]
        seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=len(values))
        net = self.evaluation_network(1, len(values), record=("output", "spikes", "trace"))
        rec = self.rollout(net, np.asarray(genome)[None, :], values, seeds, record_steps=True)["recording"]
        labels = [f"task {b // episodes}" if v is None else f"{v:.3g}" for b, v in enumerate(values)]
        return {"spikes": rec.spikes[:, 0], "trace": rec.trace[:, 0],
                "weights": {proj: w[0] for proj, w in rec.weights.items()}, "labels": labels, "stimuli": labels,
                "groups": [b % episodes for b in range(len(values))],
                "label_name": self.family.task_name if self.family.has_task_value else "task copy",
                "phases": None, "states_from": min(50, self.settings.episode_steps // 2),
                "step_seconds": self.environments(len(values)).dt}

    def heldout(self, genome, seed, interventions=()):
        means, _ = self.score_values(genome, self.task_values, seed, interventions=interventions)
        return {"score": float(means.mean()), "per_task": [float(m) for m in means]}

    def final_report(self, genome, seed):
        means, stds = self.score_values(genome, self.task_values, seed)
        report = {"final": {"score": float(means.mean()), "task_values": _values(self.task_values),
                            "per_task_mean": means.tolist(), "per_task_std": stds.tolist(),
                            "episodes_per_value": self.settings.heldout_episodes}}
        if self.family.has_task_value:
            unseen = self.family.unseen_values
            u_means, u_stds = self.score_values(genome, unseen, seed + 1)
            report["unseen"] = {"score": float(u_means.mean()), "task_values": list(unseen),
                                "per_task_mean": u_means.tolist(), "per_task_std": u_stds.tolist(),
                                "episodes_per_value": self.settings.heldout_episodes}
        return report


def _values(values):
    return [None if v is None else float(v) for v in values]


def control_problem_for_run(run_dir, episode_steps=None):
    """The `ControlProblem` of a trained control run (its observation statistics loaded), its episodes
    lengthened or shortened to ``episode_steps`` env steps when given; None for another protocol's run."""
    from pdlf_brian.evolution.config import TrainConfig
    from pdlf_brian.protocols import problem_for_run
    from pdlf_brian.rundir import RunDir

    data = RunDir(run_dir).config().to_dict()
    if episode_steps:
        data["task"] = dict(data["task"], episode_steps=int(episode_steps))
    problem = problem_for_run(run_dir, TrainConfig.from_dict(data))
    return problem if isinstance(problem, ControlProblem) else None
