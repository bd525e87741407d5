"""The plasticity window by simulated pairings against windows derived from the trace dynamics.

With k = exp(-1) and one postsynaptic +1 spike at t_post, the hidden trace is
h_t = (1 - k) k^(t - t_post) for t >= t_post (0 before). For the SCP term eta*A*x*y:

* input projection (x = input pulse at t_pre, y = h):  dW = eta*A*(1 - k)*k^(-d) for d <= 0, else 0;
* readout (x = h of the presynaptic unit, y = tanh(a) = tanh(1) at t_post):
  dW = eta*A*(1 - k)*k^d*tanh(1) for d >= 0, else 0;

with d = t_post - t_pre. The additive terms B x, C y and D add interval-independent amounts.
"""
import json

import matplotlib

matplotlib.use("Agg")  # tests only: the analysis modules never select a backend

import numpy as np
import pytest

from pdlf_brian.analysis import plasticity_window as pw
from pdlf_brian.layout import GenomeLayout, NetworkShape
from pdlf_brian.models import PDLF_RULE

K = np.exp(-1)
ETA, A = 0.5, 2.0


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def scp_window(d, projection):
    d = np.asarray(d, dtype=float)
    if projection == "in":
        return np.where(d <= 0, ETA * A * (1 - K) * K ** np.minimum(-d, 50), 0.0)
    return np.where(d >= 0, ETA * A * (1 - K) * K ** np.minimum(d, 50) * np.tanh(1.0), 0.0)


@pytest.mark.parametrize("projection", ["in", "out"])
def test_scp_only_rule_gives_its_window(projection):
    win = pw.plasticity_window({"eta": ETA, "A": A}, rule=PDLF_RULE.resolve("SCP-only"), projection=projection)
    d = np.array(win["intervals"])
    assert list(d) == list(range(-10, 11))
    np.testing.assert_allclose(win["total"], scp_window(d, projection), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(win["pairing"], win["total"], atol=1e-12)
    assert win["pre_only"] == pytest.approx(0, abs=1e-12) and win["none"] == pytest.approx(0, abs=1e-12)
    # the window is one-sided and peaks at d = 0; a sign flip of A flips it
    assert np.argmax(win["total"]) == list(d).index(0)
    flipped = pw.plasticity_window({"eta": ETA, "A": -A}, rule=PDLF_RULE.resolve("SCP-only"),
                                   projection=projection, intervals=[0, 3, -3])
    np.testing.assert_allclose(flipped["total"], -scp_window([0, 3, -3], projection), rtol=1e-9, atol=1e-12)


def test_full_rule_separates_additive_terms():
    B, C, D = 0.3, -0.7, 0.01
    win = pw.plasticity_window({"eta": ETA, "A": A, "B": B, "C": C, "D": D}, projection="in")
    d = np.array(win["intervals"])
    T = win["n_steps"]
    np.testing.assert_allclose(win["pairing"], scp_window(d, "in"), rtol=1e-6, atol=1e-12)
    assert win["none"] == pytest.approx(ETA * D * T)
    assert win["pre_only"] == pytest.approx(ETA * (B * 1.0 + D * T))
    # after the spike at t_post, sum_t h_t = 1 - k^(T - t_post)
    t_post = win["t_pre"] + d
    np.testing.assert_allclose(win["post_only"], ETA * (C * (1 - K ** (T - t_post)) + D * T), rtol=1e-9)
    json.dumps(win)


def test_window_from_genome_and_figure():
    rule = PDLF_RULE.resolve("full")
    layout = GenomeLayout(NetworkShape(n_in=3, n_hidden=4, n_out=2), rule)
    genome = np.zeros(layout.size)
    for proj, var, start, _, (_, n_post) in layout.blocks:
        if proj == "out" and var in ("eta", "A"):
            genome[start + 2 * n_post + 1] = {"eta": ETA, "A": A}[var]       # synapse out[2,1]
    win = pw.window_from_genome(genome, layout, "out", 2, 1, intervals=range(-3, 4))
    assert win["parameters"] == {"eta": ETA, "A": A, "B": 0.0, "C": 0.0, "D": 0.0}
    np.testing.assert_allclose(win["total"], scp_window(range(-3, 4), "out"), rtol=1e-9, atol=1e-12)
    fig, numbers = pw.plasticity_window_figure({"out[2,1]": win})
    assert numbers["out[2,1]"]["total"] == win["total"]


def test_protocol_checks():
    with pytest.raises(ValueError, match="projection"):
        pw.plasticity_window({"eta": 1.0}, projection="rec")
    with pytest.raises(ValueError, match="not parameters of the rule"):
        pw.plasticity_window({"eta": 1.0, "B": 1.0}, rule=PDLF_RULE.resolve("SCP-only"))
    with pytest.raises(RuntimeError, match="pairing protocol failed"):
        pw.plasticity_window({"eta": 1.0, "A": 1.0}, drive=0.1, intervals=[0])   # too weak to fire
