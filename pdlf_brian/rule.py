"""Plasticity rules and static synapses as data: parameters declared as Brian2 equations, named terms.

Rules are found by name in a registry (Nevergrad's pattern): ``MY_RULE.set_name("mine", register=True)``
makes ``rule="mine"`` usable from configs, the CLI and notebooks. `get_rule` also accepts
``"package.module:ATTRIBUTE"`` or ``"path/to/file.py:ATTRIBUTE"``, which imports a user's rule (and
whatever it registers) in every process that needs it. `resolve_synapse` turns a learner, a rule and
an ablation into the one synapse model the engine receives.
"""
import dataclasses
import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field

from brian2 import Equations
from brian2.equations.equations import PARAMETER
from brian2.utils.stringtools import get_identifiers

from pdlf_brian.errors import ConfigError
from pdlf_brian.expressions import check_expression

#: Activity names a term may use: presynaptic ``x``, postsynaptic ``y`` and the weight ``w``.
ACTIVITY_NAMES = ("x", "y", "w")
#: Names Brian2 or the engine already use inside a synapse.
RESERVED_NAMES = ("t", "dt", "i", "j", "N", "lastupdate", "delay", "inf", "pi", "e")


@dataclass(frozen=True)
class TermSelection:
    """Which terms an ablation keeps: all, all but some, or only some."""

    mode: str
    names: tuple = ()

    def resolve(self, all_terms, where):
        unknown = [n for n in self.names if n not in all_terms]
        if unknown:
            raise ConfigError(f"{where}: unknown term(s) {unknown}; the rule's terms are {list(all_terms)}")
        if self.mode == "all":
            return list(all_terms)
        if self.mode == "without":
            return [t for t in all_terms if t not in self.names]
        return [t for t in all_terms if t in self.names]


def everything():
    """Keep every term of the rule."""
    return TermSelection("all")


def without(*names):
    """Keep every term except ``names``."""
    return TermSelection("without", tuple(names))


def only(*names):
    """Keep only ``names``."""
    return TermSelection("only", tuple(names))


@dataclass(frozen=True)
class ResolvedRule:
    """A rule with one ablation applied: the terms kept and the per-synapse genome parameters."""

    rule_name: str
    ablation: str
    rate: str
    terms: dict           # name -> expression, only the kept terms, in rule order
    parameters: tuple     # evolved per-synapse parameters, rate first, in genome order

    @property
    def expression(self):
        """``rate*(term + term + ...)`` in the rule's own symbols x, y, w."""
        body = " + ".join(f"({expr})" for expr in self.terms.values()) or "0"
        return f"{self.rate}*({body})"

    @property
    def n_parameters(self):
        return len(self.parameters)


@dataclass(frozen=True)
class PlasticityRule:
    """A synaptic plasticity rule ``dw = rate*(sum of named terms)``.

    Parameters
    ----------
    name : str
        Short name used in logs and run directories.
    parameters : str
        Brian2 declarations of the evolved per-synapse parameters (``A : 1 (constant)``).
    rate : str
        The declared parameter that multiplies the sum of terms (kept in every ablation).
    terms : dict
        Term name to expression in ``x``, ``y``, ``w`` and the declared parameters.
    ablations : dict
        Ablation name to a `TermSelection` (`everything`, `without`, `only`).
    """

    name: str
    parameters: str
    rate: str
    terms: dict
    ablations: dict = field(default_factory=lambda: {"full": everything()})

    def __post_init__(self):
        where = f"PlasticityRule {self.name!r}"
        try:
            eqs = Equations(self.parameters)
        except Exception as exc:
            raise ConfigError(f"{where}, field 'parameters': malformed Brian2 equations: {exc}") from None
        bad = [e.varname for e in eqs.ordered if e.type != PARAMETER or not e.dim.is_dimensionless]
        if bad:
            raise ConfigError(
                f"{where}, field 'parameters': {bad} must be dimensionless parameters declared as "
                "'name : 1 (constant)'"
            )
        names = self.parameter_names
        clash = [n for n in names if n in ACTIVITY_NAMES + RESERVED_NAMES]
        if clash:
            raise ConfigError(f"{where}, field 'parameters': {clash} are reserved names; reserved are the "
                              f"activities {ACTIVITY_NAMES} and {RESERVED_NAMES}")
        if self.rate not in names:
            raise ConfigError(f"{where}, field 'rate': {self.rate!r} is not a declared parameter; "
                              f"declared parameters are {names}")
        if not self.terms:
            raise ConfigError(f"{where}, field 'terms': a rule needs at least one term")
        for term, expr in self.terms.items():
            check_expression(expr, set(names) | set(ACTIVITY_NAMES), f"{where}, term {term!r}")
        for ablation, selection in self.ablations.items():
            if not isinstance(selection, TermSelection):
                raise ConfigError(f"{where}, ablation {ablation!r}: expected everything(), without(...) "
                                  f"or only(...), got {selection!r}")
            selection.resolve(self.terms, f"{where}, ablation {ablation!r}")

    @property
    def parameter_names(self):
        return [e.varname for e in Equations(self.parameters).ordered]

    def set_name(self, name, register=False):
        """A copy of this rule called ``name``; ``register=True`` also adds it to the registry."""
        rule = dataclasses.replace(self, name=name)
        if register:
            register_rule(rule)
        return rule

    def resolve(self, ablation="full"):
        """Apply a named ablation; returns a `ResolvedRule`."""
        if ablation not in self.ablations:
            raise ConfigError(f"rule {self.name!r}: unknown ablation {ablation!r}; "
                              f"allowed values are {list(self.ablations)}")
        kept = self.ablations[ablation].resolve(self.terms, f"rule {self.name!r}, ablation {ablation!r}")
        used = set().union(*(get_identifiers(self.terms[t]) for t in kept)) if kept else set()
        params = [self.rate] + [p for p in self.parameter_names if p != self.rate and p in used]
        return ResolvedRule(self.name, ablation, self.rate, {t: self.terms[t] for t in kept}, tuple(params))


@dataclass(frozen=True)
class StaticSynapse:
    """A synapse whose weight is evolved directly and held fixed during an episode."""

    name: str = "static"


#: Registered plasticity rules by name (see `register_rule`, `PlasticityRule.set_name`).
RULES = {}


def register_rule(rule):
    """Make ``rule`` available as ``rule=<its name>`` in configs; re-registering a name replaces it."""
    if not isinstance(rule, PlasticityRule):
        raise ConfigError(f"register_rule: expected a PlasticityRule, got {type(rule).__name__}")
    RULES[rule.name] = rule
    return rule


def _import_object(spec):
    target, attribute = spec.rsplit(":", 1)
    if target.endswith(".py"):
        path = os.path.abspath(target)
        if not os.path.exists(path):
            raise ConfigError(f"config field 'rule': {spec!r}: no such file {path}")
        module_name = "pdlf_user_rule_" + str(abs(hash(path)))
        module = sys.modules.get(module_name)
        if module is None:
            loader_spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[module_name] = module
            loader_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ConfigError(f"config field 'rule': {spec!r}: cannot import {target!r}: {exc}") from None
    if not hasattr(module, attribute):
        raise ConfigError(f"config field 'rule': {spec!r}: {target!r} has no attribute {attribute!r}")
    return getattr(module, attribute)


def get_rule(spec):
    """The `PlasticityRule` named ``spec`` in the registry, or imported from ``module:ATTR`` / ``file.py:ATTR``."""
    import pdlf_brian.models  # noqa: F401  registers the built-in rules

    if isinstance(spec, PlasticityRule):
        return spec
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"config field 'rule': expected a rule name, got {spec!r}")
    if ":" in spec:
        rule = _import_object(spec)
        if not isinstance(rule, PlasticityRule):
            raise ConfigError(f"config field 'rule': {spec!r} is a {type(rule).__name__}, not a PlasticityRule")
        return rule
    if spec not in RULES:
        raise ConfigError(f"config field 'rule': unknown rule {spec!r}; registered rules are {sorted(RULES)} "
                          "(or give 'package.module:NAME' or 'path/to/file.py:NAME')")
    return RULES[spec]


def resolve_synapse(learner, rule="pdlf", ablation="full"):
    """The synapse model of a learner: the rule with ``ablation`` applied, or the static synapse.

    Parameters
    ----------
    learner : {'plastic', 'weights'}
    rule : str or PlasticityRule
        A registered name, ``module:ATTR``/``file.py:ATTR``, or the rule itself (plastic learner only).
    ablation : str
        One of the rule's named ablations (plastic learner only).
    """
    from pdlf_brian.layout import LEARNERS

    if learner not in LEARNERS:
        raise ConfigError(f"config field 'learner': unknown learner {learner!r}; allowed values are {list(LEARNERS)}")
    if learner == "weights":
        return StaticSynapse(name="static")
    return get_rule(rule).resolve(ablation)
