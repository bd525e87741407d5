"""Runnable experiments (importable as ``pdlf_brian.protocols``), found by name.

A protocol is a `pdlf_brian.evolution.problem.Problem` subclass registered under a name; configs
select it with ``protocol = "<name>"``. Built-in protocols are imported on first use; a user's own
is added with `register_protocol`.
"""
import importlib

from pdlf_brian.errors import ConfigError

#: Protocol name -> the Problem class, or ``"module:Class"`` imported on first use.
PROTOCOLS = {
    "working_memory": "pdlf_brian.protocols.working_memory:WorkingMemoryProblem",
    # multi-task control: the protocol name is the task family (pdlf_brian.envs.FAMILIES)
    **{family: "pdlf_brian.protocols.control:ControlProblem"
       for family in ("halfcheetah_vel", "ant_dir", "swimmer_dir", "hopper_vel", "fetch", "reach")},
}


def register_protocol(name, problem_class):
    """Make ``problem_class`` trainable as ``protocol=name``."""
    PROTOCOLS[name] = problem_class
    return problem_class


def protocol_class(name):
    """The Problem class registered as ``name``."""
    if name not in PROTOCOLS:
        raise ConfigError(f"config field 'protocol': unknown protocol {name!r}; allowed values are {list(PROTOCOLS)}")
    target = PROTOCOLS[name]
    if isinstance(target, str):
        module, attribute = target.split(":")
        target = getattr(importlib.import_module(module), attribute)
    return target


def problem_for_run(run_dir, config=None, problem=None):
    """The `Problem` of a trained run directory, with the protocol state (e.g. observation
    statistics) that belongs to the run's chosen genome loaded (`RunDir.genome_state_file`: the state
    at the generation the best genome was chosen, where the run kept it); ``config`` overrides the
    saved config (e.g. a longer episode for steering); a ``problem`` passed in gets that state
    instead of a new one being built."""
    from pdlf_brian.rundir import RunDir

    d = RunDir(run_dir)
    problem = problem or problem_for(config or d.config())
    state = d.genome_state()
    if state is not None:
        problem.load_state(state)
    return problem


def problem_for(config):
    """The training `Problem` of ``config.protocol``; ``device="auto"`` becomes the protocol's default."""
    cls = protocol_class(config.protocol)
    if config.device == "auto":
        config.device = cls.default_device
    return cls(config)
