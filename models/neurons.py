"""Neuron models.

The hidden layer of PDLF is a leaky integrate-and-fire neuron with *ternary* spikes (+1, 0, -1),
reset to zero after a spike and no refractory period (spec section 2). One simulator step is one
stimulus/control step. The update below is the exact solution of ``dv/dt = (I - v)/tau`` over one step
with ``I`` held constant, written out so that the order within a step (integrate, spike, reset, trace)
is explicit; the same order is used by the NumPy reference.
"""
from brian2 import ms

from pdlf_brian.neuron import NeuronModel

TERNARY_LIF = NeuronModel(
    name="ternary_lif",
    equations="""
    v : 1      # membrane potential
    s : 1      # ternary spike emitted this step: -1, 0 or +1
    h : 1      # signed spike trace (postsynaptic activity y of the input projection)
    k = exp(-dt/tau) : 1    # leak factor per step (the reference uses tau = dt, so k = 1/e)
    """,
    update="""
    v = k*v + (1 - k)*I
    s = int(v > theta) - int(v < -theta)
    v = v*int(s == 0)
    h = k*h + (1 - k)*s
    """,
    parameters={"tau": 1 * ms, "theta": 0.1},
)
