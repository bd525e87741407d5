"""Training configuration: one flat, validated record, from defaults, a file and ``--set key=value``."""
import dataclasses
import json
import tomllib
from dataclasses import dataclass, field

from pdlf_brian.errors import ConfigError

EXECUTORS = ("inprocess", "process", "dask")


@dataclass
class TrainConfig:
    """Everything that determines a training run (same config + same seed = same numbers)."""

    protocol: str = "working_memory"
    learner: str = "plastic"            # 'plastic' (evolve the rule) or 'weights' (evolve the weights)
    ablation: str = "full"              # named ablation of the rule (plastic learner)
    optimizer: str = "PGPE"             # any name in nevergrad.optimizers.registry
    optimizer_options: dict = field(default_factory=dict)
    population: int = 64
    generations: int = 200
    seed: int = 0
    eval_every: int = 10                # generations between held-out evaluations (0: never)
    shards: int = 1                     # the population is split into this many networks
    executor: str = "inprocess"         # 'inprocess', 'process' (local pool) or 'dask'
    workers: int = 2                    # processes for the 'process' executor
    scheduler: str = ""                 # Dask scheduler address for the 'dask' executor
    device: str = "cpp_standalone"
    progress: bool = True
    task: dict = field(default_factory=dict)   # protocol-specific settings, validated by the protocol

    def __post_init__(self):
        self.validate()

    def validate(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            expected = {"str": str, "int": int, "bool": bool, "dict": dict}[f.type if isinstance(f.type, str)
                                                                             else f.type.__name__]
            if expected is int and isinstance(value, bool) or not isinstance(value, expected):
                raise ConfigError(f"config field {f.name!r}: expected {expected.__name__}, "
                                  f"got {type(value).__name__} {value!r}")
        if self.population < 1:
            raise ConfigError(f"config field 'population': must be at least 1, got {self.population}")
        if self.optimizer == "PGPE" and self.population % 2:
            raise ConfigError(f"config field 'population': PGPE samples antithetic pairs, so the population "
                              f"must be even, got {self.population}")
        if self.generations < 1:
            raise ConfigError(f"config field 'generations': must be at least 1, got {self.generations}")
        if self.shards < 1 or self.population % self.shards:
            raise ConfigError(f"config field 'shards': must divide the population ({self.population}) "
                              f"into equal shards, got {self.shards}")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"config field 'executor': unknown executor {self.executor!r}; "
                              f"allowed values are {list(EXECUTORS)}")
        if self.executor == "dask" and not self.scheduler:
            raise ConfigError("config field 'scheduler': the 'dask' executor needs a scheduler address")
        if self.learner not in ("plastic", "weights"):
            raise ConfigError(f"config field 'learner': unknown learner {self.learner!r}; "
                              "allowed values are ['plastic', 'weights']")
        if self.eval_every < 0:
            raise ConfigError(f"config field 'eval_every': must be >= 0, got {self.eval_every}")
        import nevergrad as ng

        import pdlf_brian.evolution.pgpe  # noqa: F401  registers PGPE

        if self.optimizer not in ng.optimizers.registry:
            raise ConfigError(f"config field 'optimizer': {self.optimizer!r} is not in Nevergrad's registry; "
                              "suited to 1e3-1e5 dimensions: ['PGPE', 'DiagonalCMA', 'TBPSA', 'TwoPointsDE']")
        return self

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        return cls(**known_keys(cls, data, "config"))


def known_keys(cls, data, where):
    """Return ``data`` if every key is a field of the dataclass ``cls``; else raise `ConfigError`."""
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed keys are {allowed}")
    return data


def _parse_value(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def load_config(path=None, overrides=(), base=None):
    """Build a `TrainConfig` from ``base`` defaults, a JSON or TOML file, and ``key=value`` overrides.

    Dotted keys set protocol settings: ``--set task.length=8``. Values are read as JSON when they
    parse (numbers, true/false, lists), as strings otherwise.
    """
    data = dict(base or {})
    if path:
        with open(path, "rb") as fh:
            text = fh.read()
        data.update(tomllib.loads(text.decode()) if str(path).endswith(".toml") else json.loads(text))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, value = item.split("=", 1)
        target = data
        *parents, leaf = key.strip().split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                raise ConfigError(f"--set {item!r}: {parent!r} is not a section")
        target[leaf] = _parse_value(value)
    return TrainConfig.from_dict(data)
