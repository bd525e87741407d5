"""An independent NumPy implementation of the PDLF network (spec sections 2 and 3).

It executes the same model strings as the Brian2 network (neuron update code, rule terms) but with
its own, direct bookkeeping: dense weight matrices per copy, updated and normalised eagerly, in the
order the spec gives. It is the correctness oracle for `pdlf_brian.network` and the NumPy speed
baseline. Interventions are applied just as directly: lesions are dense masks on the weight matrices
and on the hidden state (see `pdlf_brian.interventions` for their semantics).
"""
import numpy as np

from pdlf_brian.errors import ConfigError
from pdlf_brian.expressions import evaluate
from pdlf_brian.interventions import (NeuronLesion, SynapseLesion, TemporaryLesion, check_all,
                                     reset_steps)
from pdlf_brian.layout import GenomeLayout, NetworkShape
from pdlf_brian.neuron import NeuronModel
from pdlf_brian.recording import Recording
from pdlf_brian.rule import ResolvedRule

#: Length of one simulator step in seconds, the same as the Brian2 network's ``defaultclock.dt``.
DT = 1e-3


def _to_float(value):
    """Strip Brian2 units (to SI) and return a float."""
    return float(np.asarray(value, dtype=np.float64))


class ReferenceNetwork:
    """P individuals x B copies of the network, simulated with batched NumPy.

    Parameters
    ----------
    shape : NetworkShape
    synapse : ResolvedRule or StaticSynapse
        A plasticity rule with an ablation applied, or the static synapse of the weight-trained learner.
    neuron : NeuronModel
    dtype : numpy dtype
        float64 (default; the oracle) or float32 (speed baseline).
    """

    def __init__(self, shape: NetworkShape, synapse, neuron: NeuronModel, dtype=np.float64):
        self.shape = shape
        self.synapse = synapse
        self.neuron = neuron
        self.layout = GenomeLayout(shape, synapse)
        self.dtype = np.dtype(dtype)
        self.plastic = isinstance(synapse, ResolvedRule)
        self.constants = {name: _to_float(v) for name, v in neuron.parameters.items()}
        self.constants["dt"] = DT
        self.set_lesions(())

    # -- state -----------------------------------------------------------------------------
    def reset(self, genomes, batch=1):
        """Start an episode: weights to zero (plastic) or to the genome (weights), neurons at rest."""
        genomes = self.layout.check(genomes, len(genomes))
        self.n_copies = len(genomes) * batch
        blocks = {k: np.repeat(v, batch, axis=0).astype(self.dtype)
                  for k, v in self.layout.split(genomes).items()}
        self.params, self.W, self.genome_W = {}, {}, {}
        for proj, pre, post in self.shape.projections:
            if self.plastic:
                self.params[proj] = {var: blocks[(proj, var)] for var in self.synapse.parameters}
                self.W[proj] = np.zeros((self.n_copies, pre, post), self.dtype)
            else:
                # the weight-trained learner's weights are its genome, with frozen synapses zeroed
                self.genome_W[proj] = blocks[(proj, "w")] * self.masks.get(proj, 1.0)
                self.W[proj] = self.genome_W[proj].copy()
        self.scales = {}
        zeros = np.zeros((self.n_copies, self.shape.n_hidden), self.dtype)
        self.state = {var: zeros.copy() for var in self.neuron.state_variables}
        self.output = np.zeros((self.n_copies, self.shape.n_out), self.dtype)
        self.live_copies = np.ones(self.n_copies, bool)     # see `set_live`
        self.rows = None            # indices of the copies still simulated (all while None)
        self.ended_W = {}           # weights of the copies that ended, as they were then

    def set_live(self, live):
        """Stop simulating the copies whose flag in ``live`` (one per copy) is False, from the next step on.

        The closed loop clears a copy's flag when its episode has ended (a fallen Ant): from then on
        the copy costs nothing, reads out 0 and records zeros; its final weights are those it had
        when it ended. Everything before is unchanged. A flag, once cleared, stays cleared until
        the next episode. The arrays of the live copies are compacted, so that every step works on
        them alone.
        """
        live = np.asarray(live, dtype=bool).ravel()
        if live.size != self.n_copies:
            raise ConfigError(f"set_live: expected {self.n_copies} flags (one per copy), got {live.size}")
        if (live & ~self.live_copies).any():
            raise ConfigError("set_live: a copy that has ended cannot come back within an episode")
        if live.sum() == self.live_copies.sum():
            return
        keep = live[self.live_copies]       # over the simulated copies, in order
        ended = np.flatnonzero(self.live_copies & ~live)
        for proj, W in self.W.items():
            self.ended_W.setdefault(proj, np.zeros((self.n_copies,) + W.shape[1:], self.dtype))[ended] = W[~keep]
        self.live_copies = live.copy()
        self.rows = np.flatnonzero(live)
        for store in (self.W, self.genome_W, self.state, self.scales):
            for key in store:
                store[key] = store[key][keep]
        self.params = {proj: {var: v[keep] for var, v in params.items()} for proj, params in self.params.items()}

    def _full(self, arr, fill=0.0):
        """``arr`` over the simulated copies -> over every copy (``fill`` for the ended ones)."""
        if self.rows is None:
            return arr
        full = np.full((self.n_copies,) + arr.shape[1:], fill, arr.dtype)
        full[self.rows] = arr
        return full

    def set_lesions(self, interventions=()):
        """Dense lesion masks from ``interventions`` (kept until the next call; none by default).

        ``masks[proj]``: 1 where a synapse is free, 0 where it is frozen at zero (`SynapseLesion`, and
        every synapse into or out of a `NeuronLesion`'s neurons); ``alive``: 0 for blocked hidden
        neurons; ``windows[proj]``: the steps at which a `TemporaryLesion` holds the projection at zero.
        """
        self.alive = np.ones(self.shape.n_hidden, self.dtype)
        self.masks, self.windows = {}, {}
        for item in interventions:
            if isinstance(item, NeuronLesion):
                self.alive[item.neurons(self.shape)] = 0.0
        for proj, pre, post in self.shape.projections:
            mask = np.ones((pre, post), self.dtype)
            if proj in ("rec", "out"):
                mask *= self.alive[:, None]
            if proj in ("in", "rec"):
                mask *= self.alive[None, :]
            for item in interventions:
                if isinstance(item, SynapseLesion) and item.projection == proj:
                    mask.flat[item.synapses(self.shape)] = 0.0
            if not mask.all():
                self.masks[proj] = mask
        for item in interventions:
            if isinstance(item, TemporaryLesion):
                for proj in item.projections:
                    self.windows.setdefault(proj, set()).update(item.steps)
        if self.alive.all():
            self.alive = None

    def _plasticity(self, proj, x, y, keep):
        W = self.W[proj]
        namespace = dict(self.params[proj], x=x[:, :, None], y=y[:, None, :], w=W)
        dW = evaluate(self.synapse.expression, namespace)
        # frozen synapses stay zero and a temporary lesion holds the projection at zero, before the
        # normalisation: the max-abs scale sees them as the zeros they are
        W = (W + dW) * self.masks.get(proj, 1.0) * keep.get(proj, 1.0)
        scale = np.abs(W).max(axis=(1, 2), keepdims=True)
        scale[scale == 0] = 1.0
        self.scales[proj] = scale[:, 0, 0]
        self.W[proj] = W / scale

    def step(self, x, t=None):
        """Advance one step with input ``x`` (copies, n_in); returns the readout (copies, n_out).

        ``t`` (the step's index) is needed only with temporary lesions (`set_lesions`). After `set_live`
        ``x`` still has every copy; the ended ones' readouts are 0.
        """
        if self.rows is not None:
            x = x[self.rows]
        st = self.state
        keep = {proj: 0.0 for proj, steps in self.windows.items() if t in steps}
        for proj in self.windows:
            # a lesioned projection is zero for this step's input; the weight-trained learner's
            # genome weights come back when the window is over
            if not self.plastic:
                self.W[proj] = self.genome_W[proj] * keep.get(proj, 1.0)
            elif proj in keep:
                self.W[proj] = self.W[proj] * 0.0
        current = np.einsum("ci,cij->cj", x, self.W["in"])
        if self.shape.recurrent:
            current = current + np.einsum("ci,cij->cj", st["s"], self.W["rec"])
        namespace = dict(self.constants, **st, I=current)
        for name, expr in self.neuron.subexpressions:
            namespace[name] = evaluate(expr, namespace)
        for target, expr in self.neuron.statements:
            namespace[target] = np.asarray(evaluate(expr, namespace), dtype=self.dtype) * np.ones_like(current)
        for var in st:
            st[var] = namespace[var] if self.alive is None else namespace[var] * self.alive
        a = np.einsum("ci,cij->cj", st["s"], self.W["out"])
        if self.plastic:
            self._plasticity("in", x, st["h"], keep)
            if self.shape.recurrent:
                self._plasticity("rec", st["h"], st["h"], keep)
            self._plasticity("out", st["h"], np.tanh(a), keep)
        self.output = a
        return self._full(a)

    # -- whole runs ----------------------------------------------------------------------
    def reset_state(self):
        """Zero the hidden state: membrane potentials, spikes (the recurrent activity) and traces."""
        for var in self.state:
            self.state[var][:] = 0.0

    def run(self, genomes, inputs=None, batch=1, record=("output",), record_weights=False, *,
            controller=None, n_steps=None, interventions=()):
        """Run one episode, open loop (``inputs``) or closed loop (``controller``).

        Parameters
        ----------
        genomes : array (P, genome_size)
        inputs : array (T, P, B, n_in) or (T, P*B, n_in), optional
            Open loop: the whole input sequence.
        batch : int
            B, copies per individual.
        record : subset of ("output", "spikes", "trace", "voltage", "scale")
        record_weights : bool
            Also return the weights after every step (memory: T x copies x synapses).
        controller : callable, optional
            Closed loop: ``controller(step, output)`` gets the readout of the previous step, shape
            (P, B, n_out) (zeros at step 0), and returns this step's input, shape (P, B, n_in).
        n_steps : int, optional
            Episode length of a closed-loop run.
        interventions : tuple
            Objects from `pdlf_brian.interventions` (e.g. `StateReset`, `TemporaryLesion`,
            `NeuronLesion`, `SynapseLesion`).
        """
        genomes = np.asarray(genomes)
        P = len(genomes)
        n_in, C = self.shape.n_in, P * batch
        if (inputs is None) == (controller is None):
            raise ConfigError("run: give exactly one of 'inputs' (open loop) or 'controller' (closed loop)")
        if controller is None:
            inputs = np.asarray(inputs, dtype=self.dtype).reshape(len(inputs), C, n_in)
            T = len(inputs)
        else:
            T = n_steps
            if not isinstance(T, (int, np.integer)) or T < 1:
                raise ConfigError(f"n_steps: expected a positive integer, got {T!r}")
        interventions = check_all(interventions, self.shape, T)
        resets = set(reset_steps(interventions))
        self.set_lesions(interventions)
        self.reset(genomes, batch)
        record_scale = "scale" in record and self.plastic
        record = [k for k in record if k != "scale"]
        out = {k: [] for k in record}
        scales = {p: [] for p, _, _ in self.shape.projections} if record_scale else None
        history = {p: [] for p, _, _ in self.shape.projections} if record_weights else None
        names = {"output": None, "spikes": "s", "trace": "h", "voltage": "v"}
        previous = np.zeros((P, batch, self.shape.n_out))
        for t in range(T):
            if controller is None:
                x = inputs[t]
            else:
                x = np.asarray(controller(t, previous.copy()), dtype=self.dtype)
                if x.size != C * n_in or not np.all(np.isfinite(x)):
                    raise ConfigError(f"controller: must return {C * n_in} finite values (shape {(P, batch, n_in)}) "
                                      f"at step {t}, got shape {x.shape}")
                x = x.reshape(C, n_in)
            if t in resets:
                self.reset_state()
            a = self.step(x, t)
            previous = a.reshape(P, batch, self.shape.n_out)
            for k in record:
                out[k].append(a if k == "output" else self._full(self.state[names[k]]).copy())
            if record_scale:
                for p in scales:
                    scales[p].append(self._full(self.scales[p], 1.0).copy())
            if record_weights:
                for p in history:
                    history[p].append(self._full(self.W[p]).copy())

        def shaped(arr, last):
            return np.asarray(arr).reshape(T, P, batch, *last)

        rec = Recording(output=shaped(out.get("output", np.zeros((T, C, self.shape.n_out))),
                                      (self.shape.n_out,)))
        for k in ("spikes", "trace", "voltage"):
            if k in out:
                setattr(rec, k, shaped(out[k], (self.shape.n_hidden,)))
        weights = {p: self._full(W) for p, W in self.W.items()}
        for p, W in self.ended_W.items():
            weights[p][~self.live_copies] = W[~self.live_copies]
        rec.weights = {p: W.reshape(P, batch, *W.shape[1:]).copy() for p, W in weights.items()}
        if record_scale:
            rec.scale = {p: np.asarray(v).reshape(T, P, batch) for p, v in scales.items()}
        if record_weights:
            rec.weight_history = {p: np.asarray(v).reshape(T, P, batch, *self.W[p].shape[1:])
                                  for p, v in history.items()}
        return rec
