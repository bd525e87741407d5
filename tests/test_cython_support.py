"""`pdlf_brian.cython_support`: Brian2's Cython ``clip`` and ``sign`` without per-call error checks."""
import brian2 as b2
import numpy as np
import pytest

from pdlf_brian import devices


@pytest.mark.runtime
def test_clip_and_sign_give_numpys_values_and_skip_error_checks(rng):
    devices.activate("runtime")
    x = rng.normal(0.0, 1.0, 50)
    n = rng.integers(-5, 6, 50)
    group = b2.NeuronGroup(50, "x : 1\nn : integer\nc : 1\nci : integer\ns : integer\nsi : integer",
                           name="clip_sign_check")
    group.x, group.n = x, n
    update = group.run_regularly("c = clip(x, -0.5, 0.75)\nci = clip(n, -2, 3)\ns = sign(x)\nsi = sign(n)",
                                 name="clip_sign_update")
    net = b2.Network(group, update)
    net.run(b2.defaultclock.dt)
    np.testing.assert_array_equal(group.c[:], np.clip(x, -0.5, 0.75))
    np.testing.assert_array_equal(group.ci[:], np.clip(n, -2, 3))
    np.testing.assert_array_equal(group.s[:], np.sign(x))
    np.testing.assert_array_equal(group.si[:], np.sign(n))
    source = str(update.codeobj.code)
    assert "_clip(_to_clip x, double low, double high) noexcept nogil" in source
    assert "_sign(_to_sign x) noexcept nogil" in source
