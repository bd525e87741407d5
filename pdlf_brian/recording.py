"""`Recording`: what one population run returns, as plain NumPy arrays."""
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Recording:
    """Arrays from one run of a population network.

    Shapes use T steps, P individuals, B copies per individual (batch):

    * ``output``: (T, P, B, n_out), the linear readout ``a_t``;
    * ``spikes``: (T, P, B, n_hidden), ternary spikes ``s_t`` (if recorded);
    * ``trace``: (T, P, B, n_hidden), the hidden trace ``h_t`` (if recorded);
    * ``voltage``: (T, P, B, n_hidden), membrane potential after reset (if recorded);
    * ``weights``: ``{projection: (P, B, n_pre, n_post)}`` at the end of the run;
    * ``weight_history``: ``{projection: (T, P, B, n_pre, n_post)}``, weights after each step (if recorded);
    * ``scale``: ``{projection: (T, P, B)}``, the max |w| after each step's rule, before the max-abs
      normalisation divides by it (plastic learner, if recorded): how far the raw weights grow.
    """

    output: np.ndarray
    spikes: np.ndarray = None
    trace: np.ndarray = None
    voltage: np.ndarray = None
    weights: dict = field(default_factory=dict)
    weight_history: dict = None
    scale: dict = None

    def firing_rate(self, steps=slice(None)):
        """Fraction of hidden units spiking (either sign) per step, averaged over the given steps."""
        if self.spikes is None:
            raise ValueError("spikes were not recorded; pass record=('output', 'spikes') to the network")
        return np.mean(self.spikes[steps] != 0, axis=(0, -1))
