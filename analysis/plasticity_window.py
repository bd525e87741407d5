"""The effective plasticity window of a synapse, measured by simulating pre/post pairings.

The weight change of a synapse as a function of the interval between a presynaptic and a
postsynaptic spike is not read off a formula: a small network is run through the package's own
NumPy reference (`pdlf_brian.reference.ReferenceNetwork`), so the same neuron update and rule
expression as in training decide what ``x`` and ``y`` are at every step.

Pairing protocol
----------------
Intervals are ``interval = t_post - t_pre`` in steps (positive: presynaptic event first). Weights
start at zero in every episode, so the stimulating pathways are built by the rule itself: a
*driver* synapse gets rate 1 and drift ``D = 1`` (all its other parameters 0), so that after the
first step it holds the largest weight of its projection, normalised to exactly 1, and stays there.
Step 0 only builds the drivers; events happen at steps >= 1.

* ``projection="in"`` (x = input value, y = hidden trace h). Network 2 inputs -> 1 hidden -> 1
  output. Input 0 -> hidden 0 is the measured synapse; its presynaptic event is an input pulse of
  ``pre_amplitude`` at ``t_pre``. Input 1 -> hidden 0 is a driver; a pulse of ``drive`` on input 1
  at ``t_post`` makes hidden 0 fire one +1 spike. Since x is the raw input (not a trace), the
  measured synapse sees ``x_t * h_t`` only at ``t_pre``: the pairing term is non-zero only when
  the postsynaptic spike comes first or together (interval <= 0).
* ``projection="out"`` (x = hidden trace h, y = tanh(a)). Network 2 inputs -> 2 hidden -> 1 output.
  Input 0 -> hidden 0 and input 1 -> hidden 1 are drivers. Hidden 0 -> output 0 is the measured
  synapse: a pulse on input 0 at ``t_pre`` fires hidden 0 (its trace is x). Hidden 1 -> output 0
  is a driver: a pulse on input 1 at ``t_post`` fires hidden 1, giving ``a = 1`` and
  ``y = tanh(1)``. The pairing term is non-zero for interval >= 0.

The measured synapse's rate is multiplied by ``probe_scale`` (default 1e-3), so that its weight
stays tiny: it neither evokes nor suppresses spikes, and the drivers stay the maxima of their
projections. The network's max-abs normalisation divides every weight of a projection at every
step; it is undone with the driver of the measured projection, whose raw increment is known
(exactly 1 per step): the scale at step t is ``(w_d(t-1) + 1) / w_d(t)``. The raw increment of the
measured synapse at step t is then ``w(t) * scale_t - w(t-1)``; their sum over the run divided by
``probe_scale`` is the reported weight change, i.e. ``rate * sum_t (terms_t)`` at (near-)zero
weight. Weight-dependent terms are therefore evaluated at w ~ 0.

Every run holds, as copies of one batch: a pairing per interval, the postsynaptic event alone per
interval, the presynaptic event alone, and no event. Terms additive in x and y (``B x``, ``C y``,
``D``) are removed by ``pairing = paired - pre_only - post_only + none``, which leaves the
cooperative part (``A x y``) of the window. Runs last ``tail`` steps after the last event, so traces
have decayed (k^20 ~ 2e-9) and trace integrals are complete.
"""
import numpy as np

from pdlf_brian.analysis.figures import pyplot, to_jsonable
from pdlf_brian.layout import GenomeLayout, NetworkShape
from pdlf_brian.reference import ReferenceNetwork

PROJECTIONS = ("in", "out")


def _set(genome, layout, projection, variable, i, j, value):
    for proj, var, start, _, (_, n_post) in layout.blocks:
        if proj == projection and var == variable:
            genome[start + i * n_post + j] = value
            return
    raise ValueError(f"the layout has no variable {variable!r} in projection {projection!r}")


def _protocol(projection, intervals, lead, tail, pre_amplitude, drive):
    """Shape, synapse roles, inputs (T, 1, B, 2) and batch conditions of the pairing protocol."""
    intervals = [int(d) for d in intervals]
    t_pre = 1 + lead + max(0, -min(intervals))
    n_steps = t_pre + max(0, max(intervals)) + tail + 1
    conditions = ([("paired", d) for d in intervals] + [("post_only", d) for d in intervals]
                  + [("pre_only", None), ("none", None)])
    inputs = np.zeros((n_steps, 1, len(conditions), 2))
    for b, (kind, d) in enumerate(conditions):
        if kind in ("paired", "pre_only"):
            inputs[t_pre, 0, b, 0] = pre_amplitude if projection == "in" else drive
        if kind in ("paired", "post_only"):
            inputs[t_pre + d, 0, b, 1] = drive
    if projection == "in":
        shape = NetworkShape(n_in=2, n_hidden=1, n_out=1)
        measured, drivers, reference_driver = ("in", 0, 0), [("in", 1, 0)], ("in", 1, 0)
    else:
        shape = NetworkShape(n_in=2, n_hidden=2, n_out=1)
        measured = ("out", 0, 0)
        drivers = [("in", 0, 0), ("in", 1, 1), ("out", 1, 0)]
        reference_driver = ("out", 1, 0)
    return dict(shape=shape, measured=measured, drivers=drivers, reference_driver=reference_driver,
                inputs=inputs, conditions=conditions, t_pre=t_pre, n_steps=n_steps, intervals=intervals)


def _expected_spikes(projection, kind, d, t_pre, n_steps):
    """``(n_steps, n_hidden)`` spikes the protocol should produce in one condition."""
    n_hidden = 1 if projection == "in" else 2
    s = np.zeros((n_steps, n_hidden))
    if projection == "in":
        if kind in ("paired", "post_only"):
            s[t_pre + d, 0] = 1
    else:
        if kind in ("paired", "pre_only"):
            s[t_pre, 0] = 1
        if kind in ("paired", "post_only"):
            s[t_pre + d, 1] = 1
    return s


def plasticity_window(params, rule=None, neuron=None, projection="in", intervals=range(-10, 11),
                      probe_scale=1e-3, pre_amplitude=1.0, drive=1.0, lead=2, tail=20, drift="D"):
    """Weight change of one synapse against the pre/post interval, by simulated pairings.

    Parameters
    ----------
    params : dict
        The measured synapse's rule parameters ``{name: value}`` (names of ``rule.parameters``;
        missing ones are 0), e.g. from `pdlf_brian.analysis.rule_params.synapse_parameters`.
    rule : pdlf_brian.rule.ResolvedRule, optional
        Default: ``PDLF_RULE.resolve("full")``.
    neuron : pdlf_brian.neuron.NeuronModel, optional
        Default: ``TERNARY_LIF``.
    projection : {"in", "out"}
        Which kind of synapse to probe (see the module docstring).
    intervals : sequence of int
        ``t_post - t_pre`` in steps.
    probe_scale : float
        Factor on the measured synapse's rate, undone in the result.
    pre_amplitude : float
        Input value of the presynaptic pulse for ``projection="in"`` (x of the measured synapse).
    drive : float
        Input value of the pulses that evoke spikes through driver synapses.
    lead, tail : int
        Quiet steps before the first event and after the last one.
    drift : str
        Name of the rule's constant drift parameter, used by the drivers.

    Returns
    -------
    dict
        ``intervals``; ``total`` (weight change per interval with pairing), ``post_only`` (per
        interval), ``pre_only`` and ``none`` (scalars), ``pairing`` (``total - pre_only - post_only +
        none``); ``projection``, ``t_pre``, ``n_steps``, ``probe_scale`` and ``parameters``.
    """
    from pdlf_brian.models import PDLF_RULE, TERNARY_LIF

    rule = PDLF_RULE.resolve("full") if rule is None else rule
    neuron = TERNARY_LIF if neuron is None else neuron
    if projection not in PROJECTIONS:
        raise ValueError(f"projection: expected one of {PROJECTIONS}, got {projection!r}")
    if drift not in rule.parameters:
        raise ValueError(f"drift: the drivers need a constant drift parameter; {drift!r} is not among the "
                         f"rule's parameters {rule.parameters}")
    unknown = [p for p in params if p not in rule.parameters]
    if unknown:
        raise ValueError(f"params: {unknown} are not parameters of the rule; expected names from {rule.parameters}")
    if not len(intervals):
        raise ValueError("intervals: give at least one interval")
    proto = _protocol(projection, intervals, lead, tail, pre_amplitude, drive)
    layout = GenomeLayout(proto["shape"], rule)
    genome = np.zeros(layout.size)
    for proj, i, j in proto["drivers"]:
        _set(genome, layout, proj, rule.rate, i, j, 1.0)
        _set(genome, layout, proj, drift, i, j, 1.0)
    proj, i, j = proto["measured"]
    for name in rule.parameters:
        value = float(params.get(name, 0.0))
        _set(genome, layout, proj, name, i, j, value * probe_scale if name == rule.rate else value)

    net = ReferenceNetwork(proto["shape"], rule, neuron)
    rec = net.run(genome[None], proto["inputs"], batch=len(proto["conditions"]), record=("output", "spikes"),
                  record_weights=True)
    for b, (kind, d) in enumerate(proto["conditions"]):
        want = _expected_spikes(projection, kind, d, proto["t_pre"], proto["n_steps"])
        if not np.array_equal(rec.spikes[:, 0, b], want):
            raise RuntimeError(f"pairing protocol failed in condition {kind!r} (interval {d}): the hidden "
                               "spikes are not the designed ones; check the neuron model's threshold "
                               "against `drive`, or lower `probe_scale`")

    history = rec.weight_history[proj][:, 0]                  # (T, B, n_pre, n_post)
    dp, di, dj = proto["reference_driver"]
    w_d = history[:, :, di, dj]
    w_m = history[:, :, i, j]
    previous_d = np.vstack([np.zeros((1, w_d.shape[1])), w_d[:-1]])
    previous_m = np.vstack([np.zeros((1, w_m.shape[1])), w_m[:-1]])
    scale = (previous_d + 1.0) / w_d                          # driver's raw increment is exactly 1
    change = np.sum(w_m * scale - previous_m, axis=0) / probe_scale   # (B,)

    n = len(proto["intervals"])
    total, post_only = change[:n], change[n:2 * n]
    pre_only, none = change[2 * n], change[2 * n + 1]
    return to_jsonable({
        "intervals": proto["intervals"], "total": total, "post_only": post_only, "pre_only": pre_only,
        "none": none, "pairing": total - post_only - pre_only + none, "projection": projection,
        "t_pre": proto["t_pre"], "n_steps": proto["n_steps"], "probe_scale": probe_scale,
        "parameters": {name: float(params.get(name, 0.0)) for name in rule.parameters},
    })


def window_from_genome(genome, layout, projection, i, j, neuron=None, **kwargs):
    """`plasticity_window` of synapse ``(projection, i, j)`` of an evolved genome.

    ``layout.synapse`` must be a plasticity rule; ``projection`` is ``"in"`` or ``"out"``. Other
    keyword arguments go to `plasticity_window`.
    """
    from pdlf_brian.analysis.rule_params import synapse_parameters

    params = synapse_parameters(genome, layout, projection, i, j)
    return plasticity_window(params, rule=layout.synapse, neuron=neuron, projection=projection, **kwargs)


def plasticity_window_figure(windows, title=None):
    """Total weight change and its pairing part against the interval, one line per synapse.

    Parameters
    ----------
    windows : dict
        Label to a result of `plasticity_window` (or `window_from_genome`).
    title : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    numbers : dict
        The ``windows`` given, label to result.
    """
    plt = pyplot()
    fig, (ax_total, ax_pair) = plt.subplots(1, 2, figsize=(9, 3.6), sharex=True)
    for n, (label, win) in enumerate(windows.items()):
        color = f"C{n % 10}"
        ax_total.plot(win["intervals"], win["total"], "o-", ms=3, color=color, label=label)
        ax_total.axhline(win["pre_only"], color=color, ls=":", lw=0.8)
        ax_pair.plot(win["intervals"], win["pairing"], "o-", ms=3, color=color, label=label)
    for ax in (ax_total, ax_pair):
        ax.axhline(0, color="k", lw=0.6)
        ax.axvline(0, color="k", lw=0.6, ls="--")
        ax.set_xlabel("t_post - t_pre (steps)")
    ax_total.set(ylabel="weight change", title="paired (dotted: pre alone)")
    ax_pair.set(title="pairing part (paired - pre - post + none)")
    ax_total.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig, to_jsonable(dict(windows))
