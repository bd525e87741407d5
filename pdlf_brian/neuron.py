"""`NeuronModel`: a discrete-time neuron written as Brian2 declarations plus straight-line update code."""
from dataclasses import dataclass, field

from brian2 import Equations
from brian2.equations.equations import PARAMETER, SUBEXPRESSION

from pdlf_brian.errors import ConfigError
from pdlf_brian.expressions import check_expression, split_statements

#: Names the engine provides to every neuron model.
ENGINE_NAMES = ("I", "dt")
#: Variables every neuron model must define: the spike of this step and the activity trace.
REQUIRED_VARIABLES = ("s", "h")


@dataclass(frozen=True)
class NeuronModel:
    """A hidden-layer neuron updated once per simulator step.

    Parameters
    ----------
    name : str
        Short name used in logs and run directories.
    equations : str
        Brian2 declarations of the state variables (``v : 1``), optionally with subexpressions.
        Must declare ``s`` (the spike emitted this step) and ``h`` (the trace that plastic synapses
        read as activity).
    update : str
        Straight-line code, one ``variable = expression`` per line, run once per step after the
        synaptic input ``I`` of the step is known.
    parameters : dict
        Constants used by ``equations`` and ``update`` (Brian2 quantities or floats).
    """

    name: str
    equations: str
    update: str
    parameters: dict = field(default_factory=dict)

    def __post_init__(self):
        where = f"NeuronModel {self.name!r}"
        try:
            eqs = Equations(self.equations)
        except Exception as exc:  # Brian raises several types for syntax problems
            raise ConfigError(f"{where}, field 'equations': malformed Brian2 equations: {exc}") from None
        variables = [e.varname for e in eqs.ordered if e.type == PARAMETER]
        missing = [v for v in REQUIRED_VARIABLES if v not in variables]
        if missing:
            raise ConfigError(
                f"{where}, field 'equations': must declare the variables {list(REQUIRED_VARIABLES)}; "
                f"missing {missing}"
            )
        known = set(variables) | set(eqs.subexpr_names) | set(self.parameters) | set(ENGINE_NAMES)
        for target, expr in split_statements(self.update, f"{where}, field 'update'"):
            if target not in variables:
                raise ConfigError(
                    f"{where}, field 'update': assigns to {target!r}, which is not a state variable; "
                    f"state variables are {variables}"
                )
            check_expression(expr, known, f"{where}, field 'update'")
        for sub in eqs.ordered:
            if sub.type == SUBEXPRESSION:
                check_expression(str(sub.expr), known, f"{where}, subexpression {sub.varname!r}")

    @property
    def state_variables(self):
        return [e.varname for e in Equations(self.equations).ordered if e.type == PARAMETER]

    @property
    def subexpressions(self):
        """``[(name, expression)]`` in declaration order."""
        return [(e.varname, str(e.expr)) for e in Equations(self.equations).ordered
                if e.type == SUBEXPRESSION]

    @property
    def statements(self):
        return split_statements(self.update, f"NeuronModel {self.name!r}, field 'update'")
