"""Exceptions raised for bad input, each naming the offending field and what is allowed."""


class ConfigError(ValueError):
    """A model, configuration, genome or input that cannot be used, with the reason."""


class DeviceError(RuntimeError):
    """A request that the selected Brian2 device cannot carry out."""
