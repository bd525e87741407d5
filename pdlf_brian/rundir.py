"""The run directory: one format written by every protocol, read by evaluation, grids and analysis.

============================  ==================================================================
file                          what it holds
============================  ==================================================================
``config.json``               the resolved `TrainConfig` (protocol, learner, rule, task, budget, seed)
``log.jsonl``                 one JSON line per generation: generation, best, mean, std, heldout,
                              env_steps, wall_time (and any protocol extras)
``checkpoint.pkl``            optimizer state (not its history), generation, log and protocol state,
                              replaced atomically after every generation; what ``--resume`` reads
``recommendation.npy``        the optimizer's recommendation after the last generation
``best_genome.npy``           the recommendation with the best held-out score so far
``snapshots/``                ``generation_NNNNNN.npy``: the recommendation every ``snapshot_every``
                              generations (for the evolution of rule parameters)
``problem_state.json``        protocol state that evaluation needs (control: observation statistics),
                              written with every checkpoint
``best_problem_state.json``   the protocol state at the generation ``best_genome.npy`` was chosen:
                              the genome is evaluated with it, not with the state training has
                              reached since
``eval.json``                 the protocol's `final_report` of the chosen genome (held-out episodes)
``figures/``                  figures drawn from the above
============================  ==================================================================

Loading checks what is there and names what is missing, so a typo or an unfinished run gives a
clear error instead of a traceback.
"""
import io
import json
import os

import numpy as np

from pdlf_brian.errors import ConfigError

CONFIG, LOG, CHECKPOINT = "config.json", "log.jsonl", "checkpoint.pkl"
RECOMMENDATION, BEST, EVAL = "recommendation.npy", "best_genome.npy", "eval.json"
SNAPSHOTS, FIGURES = "snapshots", "figures"
PROBLEM_STATE, BEST_STATE = "problem_state.json", "best_problem_state.json"
#: What a finished training run holds (best_genome.npy only where held-out evaluations ran).
TRAINED = (CONFIG, LOG, CHECKPOINT, RECOMMENDATION)


def atomic_write(path, data: bytes):
    """Write ``data`` to ``path`` so that a kill leaves either the old or the new file."""
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, np.asarray(array))
    return buf.getvalue()


class RunDir:
    """Paths and checked loading of one run directory."""

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))

    def __repr__(self):
        return f"RunDir({self.path!r})"

    def __truediv__(self, name):
        return os.path.join(self.path, name)

    def has(self, name):
        return os.path.exists(self / name)

    def require(self, *names, action="load"):
        """Raise `ConfigError` naming the path and the missing files, if any of ``names`` is absent."""
        if not os.path.isdir(self.path):
            raise ConfigError(f"run directory {self.path}: does not exist (cannot {action} it)")
        missing = [n for n in names if not self.has(n)]
        if missing:
            raise ConfigError(f"run directory {self.path}: missing {missing} (cannot {action} it); a trained "
                              f"run holds {list(TRAINED)}")

    # -- reading --------------------------------------------------------------------------
    def config(self, protocol=None, action="load"):
        """The run's `TrainConfig`; with ``protocol``, refuse a run of another protocol."""
        from pdlf_brian.evolution.config import TrainConfig

        self.require(CONFIG, action=action)
        try:
            with open(self / CONFIG) as fh:
                data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"run directory {self.path}: {CONFIG} is not valid JSON ({exc})") from None
        config = TrainConfig.from_dict(data)
        if protocol is not None and config.protocol != protocol:
            raise ConfigError(f"run directory {self.path}: a {config.protocol!r} run, not {protocol!r}")
        return config

    def log(self):
        self.require(LOG)
        with open(self / LOG) as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def recommendation(self):
        self.require(RECOMMENDATION)
        return np.load(self / RECOMMENDATION)

    def best_genome(self):
        """The best held-out genome, or None if no held-out evaluation ran."""
        return np.load(self / BEST) if self.has(BEST) else None

    def genome(self):
        """The genome a run is judged by: the best held-out one, else the final recommendation."""
        best = self.best_genome()
        return best if best is not None else self.recommendation()

    def snapshots(self):
        """``[(generation, genome)]`` of the periodic snapshots, in generation order."""
        folder = self / SNAPSHOTS
        if not os.path.isdir(folder):
            return []
        names = sorted(n for n in os.listdir(folder) if n.startswith("generation_") and n.endswith(".npy"))
        return [(int(n[len("generation_"):-4]), np.load(os.path.join(folder, n))) for n in names]

    def problem_state(self, name=PROBLEM_STATE):
        """The protocol state saved with the last checkpoint (or in file ``name``), or None."""
        if not self.has(name):
            return None
        with open(self / name) as fh:
            return json.load(fh)

    def genome_state_file(self):
        """The file holding the protocol state that belongs to `genome`, or None if the run has none.

        That is ``best_problem_state.json`` for a best held-out genome; runs written before that file
        existed, and runs judged by their recommendation, fall back to ``problem_state.json``.
        """
        if self.has(BEST) and self.has(BEST_STATE):
            return BEST_STATE
        return PROBLEM_STATE if self.has(PROBLEM_STATE) else None

    def genome_state(self):
        """The protocol state in `genome_state_file`, or None."""
        name = self.genome_state_file()
        return None if name is None else self.problem_state(name)

    def eval(self):
        self.require(EVAL, action="summarise")
        with open(self / EVAL) as fh:
            return json.load(fh)

    # -- writing --------------------------------------------------------------------------
    def write_json(self, name, data):
        atomic_write(self / name, (json.dumps(data, indent=1) + "\n").encode())

    def write_genome(self, name, genome):
        atomic_write(self / name, npy_bytes(genome))

    def write_snapshot(self, generation, genome):
        os.makedirs(self / SNAPSHOTS, exist_ok=True)
        self.write_genome(os.path.join(SNAPSHOTS, f"generation_{generation:06d}.npy"), genome)

    def figure_path(self, name):
        os.makedirs(self / FIGURES, exist_ok=True)
        return os.path.join(self / FIGURES, name)
