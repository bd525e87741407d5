"""Training configuration: one flat, validated record, from defaults, a file and ``--set key=value``."""
import copy
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
    rule: str = "pdlf"                  # registered rule name, or 'module:NAME' / 'file.py:NAME'
    ablation: str = "full"              # named ablation of the rule (plastic learner)
    optimizer: str = "PGPE"             # any name in nevergrad.optimizers.registry
    optimizer_options: dict = field(default_factory=dict)
    population: int = 64
    generations: int = 200
    seed: int = 0
    eval_every: int = 10                # generations between held-out evaluations (0: never)
    snapshot_every: int = 100           # generations between genome snapshots in snapshots/ (0: never)
    shards: int = 1                     # the population is split into this many networks
    executor: str = "inprocess"         # 'inprocess', 'process' (local pool) or 'dask'
    workers: int = 2                    # processes for the 'process' executor
    scheduler: str = ""                 # Dask scheduler address for the 'dask' executor
    device: str = "auto"                # a name in pdlf_brian.devices.DEVICES, or 'auto': the protocol's default
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
        from pdlf_brian.devices import DEVICES

        if self.device != "auto" and self.device not in DEVICES:
            raise ConfigError(f"config field 'device': unknown device {self.device!r}; "
                              f"allowed values are {['auto'] + list(DEVICES)}")
        if self.learner not in ("plastic", "weights"):
            raise ConfigError(f"config field 'learner': unknown learner {self.learner!r}; "
                              "allowed values are ['plastic', 'weights']")
        for name in ("eval_every", "snapshot_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"config field {name!r}: must be >= 0, got {getattr(self, name)}")
        if self.learner == "plastic":
            from pdlf_brian.rule import get_rule

            rule = get_rule(self.rule)
            if self.ablation not in rule.ablations:
                raise ConfigError(f"config field 'ablation': unknown ablation {self.ablation!r} of rule "
                                  f"{rule.name!r}; allowed values are {list(rule.ablations)}")
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


def check_positive_ints(settings, names, section="task"):
    """`ConfigError` naming ``section.name`` unless each of ``names`` on ``settings`` is an integer >= 1."""
    for name in names:
        value = getattr(settings, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"config field '{section}.{name}': expected a positive integer, got {value!r}")


#: Keys that ``pdlf train --resume RUN_DIR --set key=value`` may change: they do not alter the numbers
#: already logged (executors give identical results; more generations continue the same run).
RESUME_KEYS = ("generations", "progress", "executor", "workers", "scheduler", "shards")


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
        data.update(read_config_file(path))
    apply_overrides(data, overrides)
    return TrainConfig.from_dict(data)


def read_config_file(path):
    """The dict in a JSON or TOML config file, or a `ConfigError` naming the file and the problem."""
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode()
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read the file ({exc.strerror})") from None
    try:
        data = tomllib.loads(text) if str(path).endswith(".toml") else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if str(path).endswith(".toml") else "JSON"
        raise ConfigError(f"--config {path}: malformed {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a table of config keys, got {type(data).__name__}")
    return data


def apply_overrides(data, overrides):
    """Apply ``key=value`` strings (dotted keys for sections) to the dict ``data`` in place."""
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
    return data


def resume_config(saved, overrides):
    """The config of a resumed run: the saved one, with only `RESUME_KEYS` changeable by ``overrides``."""
    data = TrainConfig.from_dict(saved).to_dict()
    changed = copy.deepcopy(data)
    apply_overrides(changed, overrides)
    refused = sorted(k for k in changed if changed[k] != data[k] and k not in RESUME_KEYS)
    if refused:
        raise ConfigError(f"--set with --resume: {refused} would change the numbers of the run being continued; "
                          f"only {list(RESUME_KEYS)} may change on resume (start a new run directory instead)")
    return TrainConfig.from_dict(changed)
