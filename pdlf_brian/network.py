"""`PopulationNetwork`: a whole ES population of PDLF networks in one Brian2 `Network`.

Each of the ``P x B`` network copies (P individuals, B independent copies per individual, e.g. one per
sequence of a batch) has its own input, hidden and output neurons and its own synapses; copies are
kept apart by connectivity alone. Every synapse holds its own evolved rule parameters.

How one simulator step is scheduled
-----------------------------------
All plastic work on a projection is fused into a single pass over its synapses (an ``on_pre`` pathway
triggered every step by an always-true custom event; with ``live_flags``, true only for the copies
whose episode goes on, so an ended copy's synapses are not touched). Normalisation is applied lazily: a synapse
stores ``w`` and the copy's scale ``m`` such that the weight is ``w/m``; the pass first divides by
the scale of the previous step, then applies the rule with the activities of the previous step,
then accumulates the new running max and the synaptic input of this step. The scale of the new
weights is the max over the copy's neurons of those running maxima, gathered by a second, small
event pathway. This touches each synapse once per step instead of three or four times. In order,
within the ``synapses`` slot of one step ``t`` (orders in `_ORDER`):

1. input: ``x_prev = x; x = input(t)`` (``start`` slot)
2. input->hidden and hidden->hidden passes: plasticity of step t-1 (then, with lesions, ``w *=
   lesion_mask * keep_post``), then ``acc += w*x_t`` (and ``s_{t-1}``)
3. (optional) state reset for the memory-in-weights test
4. reduction of the running maxima to the copy's scales ``m_in``, ``m_rec`` (zero guarded to 1)
5. hidden update: (with temporary lesions ``keep_in = lesion_in(t)``, ...) ``I = acc_in/m_in*keep_in
   + acc_rec/m_rec*keep_rec``, then the neuron model's update code (then, with blocked neurons,
   every state variable times ``alive``)
6. hidden->output pass: plasticity of step t-1 (``x = h_{t-1}``, ``y = tanh(a_{t-1})``), ``acc += w*s_t``
7. reduction to ``m_out``; output ``a_t = acc/m_out`` (``*keep_out``), ``y_out = tanh(a_t)``

The last step's plasticity is applied by one extra ("flush") step whose outputs are discarded. The
NumPy reference (`pdlf_brian.reference`) does the same computation eagerly, in the spec's order;
``tests/test_agreement.py`` keeps the two equal.

Lesions (`pdlf_brian.interventions`) add code only to networks that have them. Frozen synapses have a
``lesion_mask : 1 (constant)`` (0 or 1), multiplied into ``w`` right after the rule, before the
running max, so the normalisation sees them as zeros; the weight-trained learner instead gets its
genome with those weights zeroed (no per-step work). A `NeuronLesion` adds ``alive : 1 (constant)``
to the hidden neurons. A `TemporaryLesion` on projection ``p`` adds a `TimedArray` ``lesion_p`` (0 in
the window) and a postsynaptic variable ``keep_p``, set to ``lesion_p(t)`` by the neuron update of step
t: it zeroes the projection's input of step t there (per neuron, not per synapse), and the pass of
step t+1 multiplies it into ``w`` after the rule of step t, so the stored weight after a window step
is zero. The weight-trained learner records ``w_eff = w*lesion_p(t)`` (a subexpression, evaluated only by the
weight monitor) instead of its constant ``w``.
"""
import gc
import logging
import os
import tempfile

import brian2 as b2
import numpy as np
from brian2.utils.stringtools import word_substitute

from pdlf_brian import devices
from pdlf_brian import interventions as interventions_mod
from pdlf_brian.errors import ConfigError, DeviceError
from pdlf_brian.layout import GenomeLayout, NetworkShape, check_inputs
from pdlf_brian.models import TERNARY_LIF
from pdlf_brian.recording import Recording
from pdlf_brian.rule import PlasticityRule, ResolvedRule, StaticSynapse

# The fused synaptic pass writes to postsynaptic variables in a loop whose order only matters for the
# rounding of sums; Brian2 warns about every such code block.
logging.getLogger("brian2.codegen.generators.base").setLevel(logging.ERROR)

#: Length of one simulator step (one stimulus or control step).
DT = 1 * b2.ms
RECORDABLE = ("output", "spikes", "trace", "voltage", "scale")
_HIDDEN_RECORD = {"spikes": "s", "trace": "h", "voltage": "v"}
_ORDER = {
    "pass_in": 0, "pass_rec": 1, "state_reset": 1.5, "reset_scale_hidden": 2, "reduce_hidden": 3, "guard_hidden": 4,
    "hidden_update": 5, "pass_out": 6, "reset_scale_out": 7, "reduce_out": 8, "guard_out": 9,
    "output_update": 10,
}
#: Presynaptic activity x, postsynaptic activity y and the spike/input that drives the projection.
_ACTIVITIES = {
    "in": ("x_prev_pre", "h_post", "x_pre"),
    "rec": ("h_pre", "h_post", "s_pre"),
    "out": ("h_prev_pre", "y_out_post", "s_pre"),
}


def _dense_indices(n_copies, n_pre, n_post):
    """Pre/post indices of all-to-all projections within each copy, ordered (copy, pre, post)."""
    c, i, j = np.meshgrid(np.arange(n_copies), np.arange(n_pre), np.arange(n_post), indexing="ij")
    return (c * n_pre + i).ravel(), (c * n_post + j).ravel()


def check_population(shape, n_individuals, batch, record):
    """`ConfigError` naming the field if the shape, sizes or recorded variables of a population are bad."""
    if not isinstance(shape, NetworkShape):
        raise ConfigError(f"shape: expected a NetworkShape, got {type(shape).__name__}")
    for name, value in (("n_individuals", n_individuals), ("batch", batch)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{name}: expected a positive integer, got {value!r}")
    unknown = [r for r in record if r not in RECORDABLE]
    if unknown:
        raise ConfigError(f"record: unknown variable(s) {unknown}; allowed values are {list(RECORDABLE)}")


def check_synapse(synapse):
    """Return ``synapse`` if it is a resolved rule or a static synapse; else a clear `ConfigError`."""
    if isinstance(synapse, PlasticityRule):
        raise ConfigError(f"synapse: the rule {synapse.name!r} has no ablation applied; pass "
                          f"rule.resolve(ablation) (ablations: {list(synapse.ablations)}) or use "
                          "pdlf_brian.rule.resolve_synapse(learner, rule, ablation)")
    if not isinstance(synapse, (ResolvedRule, StaticSynapse)):
        raise ConfigError(f"synapse: expected a ResolvedRule or a StaticSynapse, got {type(synapse).__name__}")
    return synapse


class PopulationNetwork:
    """P individuals x B copies of the PDLF network as one Brian2 `Network` on one device.

    Parameters
    ----------
    shape : NetworkShape
        Sizes of one copy (inputs, hidden LIF neurons, outputs, recurrence).
    n_individuals : int
        P, the number of genomes evaluated together.
    synapse : ResolvedRule or StaticSynapse
        A plasticity rule with its ablation applied (the plastic learner: weights start at 0 every
        episode and the genome holds the rule's parameters), or the static synapse (the
        weight-trained learner: the genome holds the weights). See `pdlf_brian.rule.resolve_synapse`.
    batch : int
        B, independent copies per individual (each with its own plastic weights and inputs).
    neuron : NeuronModel
    device : {'runtime', 'cpp_standalone', 'cuda_standalone'}
    n_steps : int
        Steps per episode; required for standalone devices, whose project is compiled for it.
    record : tuple of str
        Any of 'output', 'spikes', 'trace', 'voltage', 'scale' (plastic learner: the max-abs
        normalisation scale of each projection after each step's rule, i.e. before normalisation).
    record_weights : bool
        Record all weights after every step (small networks only).
    interventions : tuple
        Objects from `pdlf_brian.interventions` (e.g. `StateReset`), applied every episode.
    directory : path, optional
        Standalone project directory (a temporary one by default).
    threads : int
        OpenMP threads for cpp_standalone (0: none).
    float_dtype : {'float64', 'float32'}
    cuda_options : dict, optional
        Passed to `pdlf_brian.cuda.configure_brian2cuda`.
    environment : `pdlf_brian.compiled_env.CompiledEnvironment`, optional
        Standalone devices only: the closed loop compiled into the project (no Python per step); run
        episodes with ``run(genomes, controller=environment.episode(...))``.
    live_flags : bool
        Give every copy a live flag (1 at the start of each episode). While a copy's flag is 0 its
        synaptic passes are skipped: no plasticity, no input, a readout of 0, no synaptic work. A closed
        loop clears it when the copy's episode has ended (`set_live` on the runtime device; the compiled
        environment does it itself), so a fallen Ant costs no network time. What the copy did while it
        was live is unchanged.

    Most code builds it through `pdlf_brian.engine.make_network`, which also offers the NumPy
    reference behind the same interface.
    """

    def __init__(self, shape, n_individuals, *, synapse, batch=1, neuron=TERNARY_LIF, device="runtime",
                 n_steps=None, record=("output",), record_weights=False, interventions=(), directory=None,
                 threads=0, float_dtype="float64", cuda_options=None, environment=None, live_flags=False):
        check_population(shape, n_individuals, batch, record)
        self.info = devices.device_info(device)
        if self.info.standalone and (not isinstance(n_steps, (int, np.integer)) or n_steps < 1):
            raise ConfigError(f"n_steps: device {device!r} compiles the episode length in; "
                              f"expected a positive integer, got {n_steps!r}")
        self.shape = shape
        self.n_individuals = int(n_individuals)
        self.batch = int(batch)
        self.n_copies = self.n_individuals * self.batch
        self.synapse = check_synapse(synapse)
        self.plastic = isinstance(self.synapse, ResolvedRule)
        self.learner = "plastic" if self.plastic else "weights"
        self.neuron = neuron
        self.layout = GenomeLayout(shape, self.synapse)
        self.device = device
        self.n_steps = n_steps
        self.record = tuple(record)
        self.record_weights = record_weights
        self.interventions = interventions_mod.check_all(interventions, shape, n_steps)
        self.reset_steps = interventions_mod.reset_steps(self.interventions)
        # lesions: hidden neurons blocked, synapses frozen at zero ({proj: bool (n_pre, n_post)}),
        # projections held at zero for windows of steps ({proj: steps})
        self.blocked = interventions_mod.blocked_neurons(self.interventions, shape)
        self.frozen = interventions_mod.frozen_synapses(self.interventions, shape)
        self.windows = interventions_mod.lesion_windows(self.interventions)
        self.float_dtype = float_dtype
        self.environment = environment     # a CompiledEnvironment (checked when it attaches) or None
        self.live_flags = bool(live_flags)
        if self.info.standalone:
            directory = directory or tempfile.mkdtemp(prefix=f"pdlf_{device}_")
            self.directory = os.path.abspath(directory)
        else:
            self.directory = None
        devices.activate(device, self.directory, threads=threads, float_dtype=float_dtype,
                         **(cuda_options or {}))
        self._owner = devices.standalone_owner() if self.info.standalone else None
        self._device = b2.get_device()
        b2.defaultclock.dt = DT
        if not self.info.standalone:
            gc.unfreeze()      # objects frozen after an earlier network's first run (see `_exempt_from_gc`)
        self._gc_frozen = False
        self._build()
        self.compile_seconds = None
        if self.info.standalone:
            self._compile()

    # ------------------------------------------------------------------------------------------
    @property
    def genome_size(self):
        return self.layout.size

    def _build(self):
        C, sh = self.n_copies, self.shape
        H, plastic = sh.n_hidden, self.plastic
        namespace = {}
        self._lesion_timed = {}     # one TimedArray per temporarily lesioned projection, shared by groups
        if self.info.standalone and self.environment is None:
            self._stimulus = b2.TimedArray(np.zeros((self.n_steps + 1, C * sh.n_in)), dt=DT, name="stimulus")
            namespace["stimulus"] = self._stimulus
        # the always-true event that drives the synaptic passes; with live flags, true for live copies only
        linked, step = ("\nlive : 1 (linked)", "live > 0") if self.live_flags else ("", "True")
        self._inp = b2.NeuronGroup(C * sh.n_in, "x : 1\nx_prev : 1" + linked, events={"step": step},
                                   namespace=namespace, name="inputs")
        hidden_eqs = b2.Equations(self.neuron.equations) + b2.Equations(
            "I : 1\nh_prev : 1\n" + "".join(f"acc_{p} : 1\nmx_{p} : 1\n" for p in ("in", "rec")) + linked)
        hidden_keep = [p for p in ("in", "rec") if p in self.windows]
        if len(self.blocked) or hidden_keep:
            hidden_eqs += b2.Equations(("alive : 1 (constant)\n" if len(self.blocked) else "")
                                       + "".join(f"keep_{p} : 1\n" for p in hidden_keep))
        if plastic:
            # minv_*: 1/(the copy's scale) of the last step, as seen by synapses (which cannot read
            # linked variables; a product is cheaper than a division per synapse); scale_*: linked
            # to the copy's freshly reduced scale.
            hidden_eqs += b2.Equations("minv_in : 1\nminv_rec : 1\nscale_in : 1 (linked)\n"
                                       "scale_rec : 1 (linked)")
        self._hid = b2.NeuronGroup(C * H, hidden_eqs, events={"step": step},
                                   namespace=dict(self.neuron.parameters, **self._lesion_arrays(hidden_keep)),
                                   name="hidden")
        if len(self.blocked):
            alive = np.ones(H)
            alive[self.blocked] = 0.0
            self._hid.alive = np.tile(alive, C)
        for p in hidden_keep:
            setattr(self._hid, f"keep_{p}", 1.0)
        # y_out = tanh(a): the readout's activity for the rule, computed once per neuron, not per synapse
        out_eqs = "a : 1\nacc_out : 1\nmx_out : 1\ny_out : 1\n" + (
            "minv_out : 1\nscale_out : 1 (linked)\n" if plastic else "") + (
            "keep_out : 1\n" if "out" in self.windows else "") + linked
        self._out = b2.NeuronGroup(C * sh.n_out, out_eqs, events={"step": step},
                                   namespace=self._lesion_arrays(["out"] if "out" in self.windows else []),
                                   name="output")
        if "out" in self.windows:
            self._out.keep_out = 1.0
        objects = [self._inp, self._hid, self._out]
        if self.live_flags:
            self._live = b2.NeuronGroup(C, "live : 1", name="copy_live")
            self._live.live = 1.0
            for group, width in ((self._inp, sh.n_in), (self._hid, H), (self._out, sh.n_out)):
                group.live = b2.linked_var(self._live, "live", index=np.repeat(np.arange(C), width))
            objects.append(self._live)

        if plastic:
            self._scale = b2.NeuronGroup(C, "m_in : 1\nm_rec : 1\nm_out : 1", name="scale")
            self._scale.m_in = self._scale.m_rec = self._scale.m_out = 1
            self._hid.scale_in = b2.linked_var(self._scale, "m_in", index=np.repeat(np.arange(C), H))
            self._hid.scale_rec = b2.linked_var(self._scale, "m_rec", index=np.repeat(np.arange(C), H))
            self._out.scale_out = b2.linked_var(self._scale, "m_out", index=np.repeat(np.arange(C), sh.n_out))
            self._hid.minv_in = self._hid.minv_rec = self._out.minv_out = 1
            objects.append(self._scale)
            objects += self._reductions()

        groups = {"in": (self._inp, self._hid), "rec": (self._hid, self._hid), "out": (self._hid, self._out)}
        self._syn = {}
        for proj, n_pre, n_post in sh.projections:
            pre, post = groups[proj]
            # (the weight-trained learner's recorded w_eff reads the lesion window itself)
            syn_namespace = self._lesion_arrays([proj]) if not plastic and proj in self.windows else {}
            syn = b2.Synapses(pre, post, model=self._synapse_model(proj), on_pre=self._synapse_code(proj),
                              on_event="step", delay=0 * b2.ms, namespace=syn_namespace, name=f"syn_{proj}")
            i, j = _dense_indices(C, n_pre, n_post)
            syn.connect(i=i, j=j)
            if plastic and proj in self.frozen:
                syn.lesion_mask = np.tile((~self.frozen[proj]).ravel().astype(float), C)
            syn.pre.order = _ORDER[f"pass_{proj}"]
            self._syn[proj] = syn
            objects.append(syn)

        scale = {p: (f"*minv_{p}" if plastic else "") + (f"*keep_{p}" if p in self.windows else "")
                 for p in ("in", "rec", "out")}
        current = f"acc_in{scale['in']}" + (f" + acc_rec{scale['rec']}" if sh.recurrent else "")
        hidden_projs = ["in", "rec"] if sh.recurrent else ["in"]
        refresh = [f"minv_{p} = 1/scale_{p}" for p in hidden_projs] if plastic else []
        if self.reset_steps:
            objects.append(self._state_reset())
        update = "\n".join(([] if self.reset_steps else ["h_prev = h"]) + refresh
                           + [f"keep_{p} = lesion_{p}(t)" for p in hidden_keep] + [f"I = {current}"]
                           + [f"{t} = {e}" for t, e in self.neuron.statements]
                           + ([f"{v} = {v}*alive" for v in self.neuron.state_variables] if len(self.blocked) else [])
                           + [f"{v}_{p} = 0" for p in hidden_projs for v in ("acc", "mx")])
        objects.append(self._hid.run_regularly(update, when="synapses", order=_ORDER["hidden_update"],
                                               name="hidden_update"))
        out_update = (("minv_out = 1/scale_out\n" if plastic else "")
                      + ("keep_out = lesion_out(t)\n" if "out" in self.windows else "")
                      + f"a = acc_out{scale['out']}\ny_out = tanh(a)\nacc_out = 0\nmx_out = 0")
        objects.append(self._out.run_regularly(out_update,
                                               when="synapses", order=_ORDER["output_update"],
                                               name="output_update"))
        objects += self._input_driver()
        objects += self._monitors()
        self.net = b2.Network(objects)
        if not self.info.standalone:
            self.net.store("episode_start")

    def _state_reset(self):
        """Zero the hidden state (and the recurrent input it sends) before each of ``reset_steps``.

        Runs after the synaptic passes, which still apply the previous step's plasticity with the
        activities from before the reset, exactly as the eager reference does.
        """
        keep = np.ones(max(self.reset_steps) + 2)
        keep[list(self.reset_steps)] = 0.0
        self._hid.namespace["state_keep"] = b2.TimedArray(keep, dt=DT, name="state_keep")
        code = "\n".join(["h_prev = h"] + [f"{v} = {v}*state_keep(t)" for v in self.neuron.state_variables]
                         + ["acc_rec = acc_rec*state_keep(t)"])
        return self._hid.run_regularly(code, when="synapses", order=_ORDER["state_reset"], name="state_reset")

    def _lesion_arrays(self, projections):
        """``{'lesion_p': TimedArray}``: 0 at the steps a `TemporaryLesion` holds ``p`` at zero, else 1."""
        for p in projections:
            if p not in self._lesion_timed:
                keep = np.ones(max(self.windows[p]) + 2)
                keep[list(self.windows[p])] = 0.0
                self._lesion_timed[p] = b2.TimedArray(keep, dt=DT, name=f"lesion_{p}")
        return {f"lesion_{p}": self._lesion_timed[p] for p in projections}

    def _synapse_model(self, proj):
        if self.plastic:
            return ("w : 1\n" + "".join(f"{p} : 1 (constant)\n" for p in self.synapse.parameters)
                    + ("lesion_mask : 1 (constant)\n" if proj in self.frozen else ""))
        if proj in self.windows:
            # the effective weight, recorded instead of the genome's constant w
            return f"w : 1 (constant)\nw_eff = w*lesion_{proj}(t) : 1"
        return "w : 1 (constant)"

    def _synapse_code(self, proj):
        x, y, drive = _ACTIVITIES[proj]
        accumulate = f"acc_{proj}_post += w*{drive}"
        if not self.plastic:
            return accumulate
        dw = word_substitute(self.synapse.expression, {"x": f"({x})", "y": f"({y})"})
        # lesions: frozen synapses stay zero; a window of step t-1 zeroes the weight after step t-1
        lesion = ("*lesion_mask" if proj in self.frozen else "") + (f"*keep_{proj}_post" if proj in self.windows
                                                                   else "")
        return "\n".join([
            f"w = w*minv_{proj}_post",                  # apply the previous step's normalisation
            f"w = w + int(t > 0.5*dt)*({dw})",          # rule with the previous step's activities
        ] + ([f"w = w{lesion}"] if lesion else []) + [
            f"mx_{proj}_post = clip(abs(w), mx_{proj}_post, inf)",
            accumulate,
        ])

    def _reductions(self):
        """Per-copy max of |w| for each projection: reset, gather from neurons, guard zero."""
        C, H = self.n_copies, self.shape.n_hidden
        hidden_scales = ["in"] + (["rec"] if self.shape.recurrent else [])
        objs = []
        for stage, names, source, n_source in (("hidden", hidden_scales, self._hid, H),
                                               ("out", ["out"], self._out, self.shape.n_out)):
            objs.append(self._scale.run_regularly("\n".join(f"m_{p} = 0" for p in names), when="synapses",
                                                  order=_ORDER[f"reset_scale_{stage}"],
                                                  name=f"reset_scale_{stage}"))
            red = b2.Synapses(source, self._scale, on_event="step", delay=0 * b2.ms,
                              on_pre="\n".join(f"m_{p}_post = clip(mx_{p}_pre, m_{p}_post, inf)"
                                               for p in names), name=f"reduce_{stage}")
            red.connect(i=np.arange(C * n_source), j=np.repeat(np.arange(C), n_source))
            red.pre.order = _ORDER[f"reduce_{stage}"]
            objs.append(red)
            objs.append(self._scale.run_regularly("\n".join(f"m_{p} = m_{p} + int(m_{p} == 0)" for p in names),
                                                  when="synapses", order=_ORDER[f"guard_{stage}"],
                                                  name=f"guard_{stage}"))
        return objs

    def _input_driver(self):
        if self.environment is not None:
            return self.environment.attach(self)      # the compiled closed loop writes x and x_prev
        if self.info.standalone:
            return [self._inp.run_regularly("x_prev = x\nx = stimulus(t, i)", when="start", order=0,
                                            name="input_update")]
        self._feed = None
        x_arr = self._inp.variables["x"].get_value
        x_prev_arr = self._inp.variables["x_prev"].get_value

        def feed():
            step = int(round(float(self.net.t / DT)))
            x_prev_arr()[:] = x_arr()
            x_arr()[:] = self._feed(step)

        return [b2.NetworkOperation(feed, when="start", order=0, name="input_update")]

    def _monitors(self):
        self._mon = {}
        self._mon["output"] = b2.StateMonitor(self._out, "a", record=True, when="end", name="mon_output")
        hidden_vars = [_HIDDEN_RECORD[r] for r in self.record if r in _HIDDEN_RECORD]
        if hidden_vars:
            self._mon["hidden"] = b2.StateMonitor(self._hid, hidden_vars, record=True, when="end",
                                                  name="mon_hidden")
        if self.record_weights:
            for proj, syn in self._syn.items():
                self._mon[f"w_{proj}"] = b2.StateMonitor(syn, self._recorded_weight(proj), record=True, when="end",
                                                         name=f"mon_w_{proj}")
        if self.plastic and (self.record_weights or "scale" in self.record):
            self._mon["scale"] = b2.StateMonitor(self._scale, ["m_in", "m_rec", "m_out"], record=True,
                                                 when="end", name="mon_scale")
        return list(self._mon.values())

    def _recorded_weight(self, proj):
        return "w_eff" if not self.plastic and proj in self.windows else "w"

    def _compile(self):
        import time

        if self.environment is not None:
            self.environment.install(self)
        self.net.run((self.n_steps + 1) * DT, namespace={})
        start = time.perf_counter()
        self._device.build(directory=self.directory, compile=True, run=False, with_output=False)
        self.compile_seconds = time.perf_counter() - start

    # ------------------------------------------------------------------------------------------
    def _genome_values(self, genomes):
        """``{(synapses, variable): flat array over copies}`` for one population of genomes."""
        genomes = self.layout.check(genomes, self.n_individuals)
        values = {}
        for (proj, var), block in self.layout.split(genomes).items():
            block = np.repeat(block, self.batch, axis=0)
            if var == "w" and proj in self.frozen:
                block = block * ~self.frozen[proj]     # the weight-trained learner's frozen synapses
            values[(self._syn[proj], var)] = block.ravel()
        return values

    def _check_inputs(self, inputs, n_steps):
        inputs = check_inputs(inputs, n_steps, self.n_individuals, self.batch, self.shape.n_in)
        return inputs.reshape(n_steps, self.n_copies * self.shape.n_in)

    def run(self, genomes, inputs=None, *, controller=None, n_steps=None, final_weights=True):
        """Run one episode for every copy and return a `Recording`.

        Parameters
        ----------
        genomes : array (P, genome_size)
            Rule parameters (plastic learner) or weights (weights learner) per individual.
        inputs : array (T, P, B, n_in), optional
            Open loop: the whole input sequence, known in advance.
        controller : callable, optional
            Closed loop (runtime device only): ``controller(step, output)`` gets the readout of the
            previous step, shape (P, B, n_out) (zeros at step 0), and returns the input of this step,
            shape (P, B, n_in). A network built with ``environment=`` (standalone) takes only
            ``controller=environment.episode(seeds, task_values, norm)`` (a `CompiledEpisode`, whose
            ``result`` holds the returns and terminations after the run).
        n_steps : int, optional
            Episode length for a closed-loop run (default: the network's ``n_steps``).
        final_weights : bool
            Return the weights at the end of the episode (``Recording.weights``); skipping them saves
            reading every synapse back after each run.
        """
        if (inputs is None) == (controller is None):
            raise ConfigError("run: give exactly one of 'inputs' (open loop) or 'controller' (closed loop)")
        if self.info.standalone and devices.standalone_owner() is not self._owner:
            raise DeviceError("this network's standalone project was replaced by a newer one in this process "
                              "(Brian2 keeps one per process); build the network again")
        values = self._genome_values(genomes)
        if self.environment is not None:
            return self._run_compiled(values, controller, final_weights)
        if controller is not None:
            devices.check_closed_loop(self.device)
            T = n_steps or self.n_steps
            if not isinstance(T, (int, np.integer)) or T < 1:
                raise ConfigError(f"n_steps: expected a positive integer, got {T!r}")
        else:
            T = len(inputs) if not self.info.standalone else self.n_steps
            stim = self._check_inputs(inputs, T)
        interventions_mod.check_all(self.interventions, self.shape, T)    # e.g. a lesion beyond the episode
        if self.info.standalone:
            padded = np.vstack([stim, np.zeros((1, stim.shape[1]))])
            run_args = {getattr(syn, var): v for (syn, var), v in values.items()}
            run_args[self._stimulus] = padded
            self._device.run(run_args=run_args, with_output=False)
            self._device.delete(code=False, data=False, run_args=True, directory=False, force=True)
        else:
            if b2.get_device() is not self._device:
                b2.set_device(self._device)   # another network switched Brian2 to a standalone device
            self.net.restore("episode_start")
            for (syn, var), v in values.items():
                syn.variables[var].get_value()[:] = v
            if controller is None:
                self._feed = lambda step: stim[step] if step < T else 0.0
            else:
                self._feed = self._closed_loop_feed(controller, T)
            self.net.run((T + 1) * DT, namespace={})
            self._exempt_from_gc()
        return self._collect(T, final_weights)

    def _exempt_from_gc(self):
        """After the first runtime run, move every object alive (Brian2, sympy, this network and its
        code objects) to the garbage collector's permanent generation.

        Brian2's ``Network.run`` calls ``gc.collect()`` on every run, which otherwise scans all of
        them again: about 0.14 s per episode (4% of an ant_dir evaluation at P = 64). Objects created
        later are collected as usual; the frozen ones become collectable again when the next
        network is built (``gc.unfreeze()``), so a dropped network's cycles wait until then.
        """
        if not self._gc_frozen:
            gc.collect()
            gc.freeze()
            self._gc_frozen = True

    def _run_compiled(self, values, episode, final_weights):
        """One episode of the compiled closed loop (`pdlf_brian.compiled_env`)."""
        from pdlf_brian.compiled_env import CompiledEpisode

        if not isinstance(episode, CompiledEpisode) or episode.environment is not self.environment:
            raise ConfigError("run: this network runs its compiled environment; pass "
                              "controller=network.environment.episode(seeds, task_values, norm)")
        run_args = {getattr(syn, var): v for (syn, var), v in values.items()}
        run_args.update(episode.run_args())
        self._device.run(run_args=run_args, with_output=False)
        self._device.delete(code=False, data=False, run_args=True, directory=False, force=True)
        episode.collect()
        return self._collect(self.n_steps, final_weights)

    def set_live(self, live):
        """Set the copies' live flags (runtime device, during a closed-loop run; see ``live_flags``).

        ``live`` has one entry per copy (P x B, copy p*B + b), True while the copy's episode goes on.
        """
        if not self.live_flags:
            raise ConfigError("set_live: this network was built without live_flags=True")
        if self.info.standalone:
            raise ConfigError("set_live: a standalone project's live flags are set by its compiled environment")
        live = np.asarray(live).ravel()
        if live.size != self.n_copies:
            raise ConfigError(f"set_live: expected {self.n_copies} flags (one per copy), got {live.size}")
        self._live.variables["live"].get_value()[:] = live.astype(np.float64)

    def _closed_loop_feed(self, controller, T):
        a = self._out.variables["a"].get_value
        P, B, sh = self.n_individuals, self.batch, self.shape

        def feed(step):
            if step >= T:
                return 0.0
            x = np.asarray(controller(step, a().reshape(P, B, sh.n_out).copy()), dtype=np.float64)
            if x.size != P * B * sh.n_in or not np.all(np.isfinite(x)):
                raise ConfigError(f"controller: must return {P * B * sh.n_in} finite values "
                                  f"(shape {(P, B, sh.n_in)}) at step {step}, got shape {x.shape}")
            return x.ravel()

        return feed

    def _collect(self, T, final_weights=True):
        P, B, sh = self.n_individuals, self.batch, self.shape

        def series(mon, var, width):
            arr = np.asarray(getattr(mon, var)).T[:T]      # (T, N)
            return arr.reshape(T, P, B, width)

        rec = Recording(output=series(self._mon["output"], "a", sh.n_out))
        if "hidden" in self._mon:
            for name, var in _HIDDEN_RECORD.items():
                if name in self.record:
                    setattr(rec, name, series(self._mon["hidden"], var, sh.n_hidden))
        if "scale" in self.record and self.plastic:
            # m recorded at the end of step t+1 is the max |w| after the rule of step t (lazy normalisation)
            rec.scale = {p: np.asarray(getattr(self._mon["scale"], f"m_{p}")).T[1:T + 1].reshape(T, P, B)
                         for p, _, _ in sh.projections}
        scale = ({p: np.asarray(getattr(self._scale, f"m_{p}")[:]) for p in ("in", "rec", "out")}
                 if self.plastic and final_weights else None)
        for proj, n_pre, n_post in (sh.projections if final_weights else ()):
            w = np.asarray(self._syn[proj].w[:]).reshape(self.n_copies, n_pre, n_post)
            if self.plastic:
                w = w / scale[proj][:, None, None]
            elif T - 1 in self.windows.get(proj, ()):
                w = w * 0.0            # the genome's weights, held at zero at the last step
            rec.weights[proj] = w.reshape(P, B, n_pre, n_post)
        if self.record_weights:
            rec.weight_history = {}
            for proj, n_pre, n_post in sh.projections:
                w = np.asarray(getattr(self._mon[f"w_{proj}"], self._recorded_weight(proj))).T
                w = w.reshape(T + 1, self.n_copies, n_pre, n_post)
                if self.plastic:
                    m = np.asarray(getattr(self._mon["scale"], f"m_{proj}")).T
                    w = w / m[:, :, None, None]
                    w = w[1:]          # stored w/m after step t is the weight after step t-1
                else:
                    w = w[:T]
                rec.weight_history[proj] = w.reshape(T, P, B, n_pre, n_post)
        return rec
