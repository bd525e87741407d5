"""Checking and evaluating the small code strings of models (Brian2 syntax) outside Brian2."""
import numpy as np
from brian2.core.functions import DEFAULT_FUNCTIONS
from brian2.utils.stringtools import get_identifiers

from pdlf_brian.errors import ConfigError

#: Functions a model string may call, with their NumPy meaning (used by the reference).
NUMPY_FUNCTIONS = {
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "sin": np.sin,
    "cos": np.cos,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "sign": np.sign,
    "clip": np.clip,
    "floor": np.floor,
    "ceil": np.ceil,
    "int": lambda a: np.asarray(a, dtype=np.float64),
}

ALLOWED_FUNCTIONS = frozenset(NUMPY_FUNCTIONS) & frozenset(DEFAULT_FUNCTIONS)


def check_expression(expr, allowed_names, where):
    """Raise `ConfigError` unless ``expr`` parses and uses only ``allowed_names`` and functions."""
    if not isinstance(expr, str) or not expr.strip():
        raise ConfigError(f"{where}: expected a non-empty expression string, got {expr!r}")
    try:
        compile(expr.strip(), where, "eval")
    except SyntaxError as exc:
        raise ConfigError(f"{where}: malformed expression {expr!r}: {exc.msg}") from None
    unknown = sorted(get_identifiers(expr) - set(allowed_names) - ALLOWED_FUNCTIONS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown name(s) {unknown} in {expr!r}; allowed names are "
            f"{sorted(allowed_names)} and the functions {sorted(ALLOWED_FUNCTIONS)}"
        )


def split_statements(code, where):
    """Split straight-line update code into ``(target, expression)`` pairs, checking each line."""
    statements = []
    for lineno, raw in enumerate(code.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.count("=") < 1 or "==" in line.split("=", 1)[0] or line.startswith("="):
            raise ConfigError(f"{where}, line {lineno}: expected 'variable = expression', got {line!r}")
        target, expr = (part.strip() for part in line.split("=", 1))
        if not target.isidentifier():
            raise ConfigError(f"{where}, line {lineno}: cannot assign to {target!r}")
        statements.append((target, expr))
    if not statements:
        raise ConfigError(f"{where}: the update code has no statements")
    return statements


def evaluate(expr, namespace):
    """Evaluate a Brian2-syntax expression with NumPy arrays in ``namespace``."""
    return eval(expr, {"__builtins__": {}}, {**NUMPY_FUNCTIONS, **namespace})  # noqa: S307
