"""The engine's front door: `make_network` builds a population network on any device.

Every network it returns has the same interface:

* attributes ``shape``, ``synapse``, ``learner``, ``plastic``, ``layout``, ``genome_size``,
  ``n_individuals``, ``batch``, ``device``, ``interventions``;
* ``run(genomes, inputs=None, *, controller=None, n_steps=None, final_weights=True) -> Recording``,
  open loop (``inputs`` of shape (T, P, B, n_in)) or closed loop (``controller(step, output) -> input``)
  on the devices whose `pdlf_brian.devices.DeviceInfo` says ``closed_loop``.

Brian2 devices give a `pdlf_brian.network.PopulationNetwork`; ``device="numpy"`` gives a `NumpyNetwork`,
the independent NumPy reference behind the same interface.

Examples
--------
>>> import numpy as np
>>> from pdlf_brian.engine import make_network
>>> from pdlf_brian.layout import check_inputs
>>> from pdlf_brian.rule import resolve_synapse
>>> net = make_network(NetworkShape(3, 8, 1), resolve_synapse("plastic", "pdlf", "full"),
...                    n_individuals=2, batch=4, device="numpy")
>>> rec = net.run(np.full((2, net.genome_size), 0.1), np.ones((5, 2, 4, 3)))
>>> rec.output.shape
(5, 2, 4, 1)
"""

from pdlf_brian import devices
from pdlf_brian import interventions as interventions_mod
from pdlf_brian.errors import ConfigError
from pdlf_brian.layout import check_inputs
from pdlf_brian.models import TERNARY_LIF
from pdlf_brian.network import check_population, check_synapse
from pdlf_brian.reference import ReferenceNetwork
from pdlf_brian.rule import ResolvedRule


def make_network(shape, synapse, *, n_individuals, batch=1, device="runtime", n_steps=None,
                 record=("output",), record_weights=False, interventions=(), neuron=TERNARY_LIF,
                 **device_options):
    """A network of ``n_individuals`` x ``batch`` copies of ``shape`` with ``synapse``, on ``device``.

    Parameters
    ----------
    shape : NetworkShape
    synapse : ResolvedRule or StaticSynapse
        From `pdlf_brian.rule.resolve_synapse` (the rule is resolved once, by the caller).
    n_individuals, batch : int
    device : str
        A name in `pdlf_brian.devices.DEVICES`.
    n_steps : int, optional
        Episode length (required by standalone devices, which compile it in).
    record : tuple of str
        Any of 'output', 'spikes', 'trace', 'voltage'.
    record_weights : bool
    interventions : tuple
        Objects from `pdlf_brian.interventions`.
    neuron : NeuronModel
    **device_options
        ``live_flags`` (any device; see `PopulationNetwork`); Brian2 devices only: ``directory``,
        ``threads``, ``float_dtype``, ``cuda_options``, ``environment``.
    """
    info = devices.device_info(device)
    if info.engine == "numpy":
        live_flags = device_options.pop("live_flags", False)
        if device_options:
            raise ConfigError(f"make_network: options {sorted(device_options)} do not apply to device 'numpy'")
        return NumpyNetwork(shape, synapse, n_individuals=n_individuals, batch=batch, n_steps=n_steps,
                            record=record, record_weights=record_weights, interventions=interventions,
                            neuron=neuron, live_flags=live_flags)
    from pdlf_brian.network import PopulationNetwork

    return PopulationNetwork(shape, n_individuals, synapse=synapse, batch=batch, neuron=neuron, device=device,
                             n_steps=n_steps, record=record, record_weights=record_weights,
                             interventions=interventions, **device_options)


class NumpyNetwork:
    """The NumPy reference (`pdlf_brian.reference.ReferenceNetwork`) behind the engine interface."""

    device = "numpy"
    compile_seconds = None

    def __init__(self, shape, synapse, *, n_individuals, batch=1, n_steps=None, record=("output",),
                 record_weights=False, interventions=(), neuron=TERNARY_LIF, live_flags=False):
        check_population(shape, n_individuals, batch, record)
        self.shape = shape
        self.synapse = check_synapse(synapse)
        self.plastic = isinstance(self.synapse, ResolvedRule)
        self.learner = "plastic" if self.plastic else "weights"
        self.n_individuals, self.batch = int(n_individuals), int(batch)
        self.n_steps = n_steps
        self.record, self.record_weights = tuple(record), record_weights
        self.interventions = interventions_mod.check_all(interventions, shape, n_steps)
        self.reference = ReferenceNetwork(shape, self.synapse, neuron)
        self.layout = self.reference.layout
        self.live_flags = bool(live_flags)

    def set_live(self, live):
        """Stop simulating the copies whose episode has ended (see `PopulationNetwork` ``live_flags``)."""
        if not self.live_flags:
            raise ConfigError("set_live: this network was built without live_flags=True")
        self.reference.set_live(live)

    @property
    def genome_size(self):
        return self.layout.size

    def run(self, genomes, inputs=None, *, controller=None, n_steps=None, final_weights=True):
        """Run one episode for every copy; see `pdlf_brian.network.PopulationNetwork.run`."""
        genomes = self.layout.check(genomes, self.n_individuals)
        if inputs is not None:
            inputs = check_inputs(inputs, None, self.n_individuals, self.batch, self.shape.n_in)
        rec = self.reference.run(genomes, inputs, batch=self.batch, record=self.record,
                                 record_weights=self.record_weights, controller=controller,
                                 n_steps=n_steps or self.n_steps, interventions=self.interventions)
        if not final_weights:
            rec.weights = {}
        return rec
