"""Cython support code for Brian2's runtime device that does not check for Python errors per call.

Brian2 2.8 implements ``clip`` and ``sign`` for Cython as fused ``cdef`` functions without
``noexcept``. Under Cython 3 such a function propagates exceptions, so every call in a generated loop
is followed by ``PyErr_Occurred()``: a call into the interpreter for every synapse of a pass, which
also keeps the C compiler from holding values in registers across it. The fused pass of
`pdlf_brian.network` calls ``clip`` once per synapse per step; with these ``noexcept`` versions that
pass takes about 30 % less time (``benchmarks/step_cost.py``, rows ``runtime`` and
``runtime_brian2_clip``). The functions compute exactly what Brian2's do.
"""
from brian2.codegen.generators.cython_generator import CythonCodeGenerator
from brian2.core.functions import DEFAULT_FUNCTIONS

_FUSED_NUMBERS = """
    char
    short
    int
    long
    float
    double
"""

CLIP_CODE = f"""
ctypedef fused _to_clip:{_FUSED_NUMBERS}
cdef inline _to_clip _clip(_to_clip x, double low, double high) noexcept nogil:
    if x < low:
        return <_to_clip>low
    if x > high:
        return <_to_clip>high
    return x
"""

SIGN_CODE = f"""
ctypedef fused _to_sign:{_FUSED_NUMBERS}
cdef inline int _sign(_to_sign x) noexcept nogil:
    return (0 < x) - (x < 0)
"""


def install():
    """Replace Brian2's Cython ``clip`` and ``sign`` with the ``noexcept`` versions (idempotent)."""
    implementations = {"clip": (CLIP_CODE, "_clip"), "sign": (SIGN_CODE, "_sign")}
    for name, (code, function_name) in implementations.items():
        DEFAULT_FUNCTIONS[name].implementations.add_implementation(CythonCodeGenerator, code=code,
                                                                   name=function_name)
