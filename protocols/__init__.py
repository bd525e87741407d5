"""Runnable experiments (importable as ``pdlf_brian.protocols``), by name."""
from pdlf_brian.errors import ConfigError


def problem_for(config):
    """The training `Problem` of ``config.protocol``."""
    if config.protocol == "working_memory":
        from pdlf_brian.protocols.working_memory import WorkingMemoryProblem

        return WorkingMemoryProblem(config)
    raise ConfigError(f"config field 'protocol': unknown protocol {config.protocol!r}; "
                      f"allowed values are {list(PROTOCOLS)}")


PROTOCOLS = ("working_memory",)
