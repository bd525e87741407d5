"""Rule parameters of chosen synapses across generations, from hand-made genome snapshots."""
import json

import matplotlib

matplotlib.use("Agg")  # tests only: the analysis modules never select a backend

import numpy as np
import pytest

from pdlf_brian.analysis import rule_params
from pdlf_brian.layout import GenomeLayout, NetworkShape
from pdlf_brian.models import PDLF_RULE, STATIC_SYNAPSE


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


SHAPE = NetworkShape(n_in=3, n_hidden=4, n_out=2)


def coded_genome(layout, generation):
    """Each gene encodes where it is: generation*1000 + 100*variable + 10*i + j (+0.5 for 'out')."""
    genome = np.zeros(layout.size)
    for proj, var, start, stop, (n_pre, n_post) in layout.blocks:
        v = layout.variables.index(var)
        i, j = np.divmod(np.arange(stop - start), n_post)
        genome[start:stop] = generation * 1000 + 100 * v + 10 * i + j + (0.5 if proj == "out" else 0)
    return genome


def test_trajectories_from_snapshot_folder(tmp_path):
    layout = GenomeLayout(SHAPE, PDLF_RULE.resolve("full"))
    (tmp_path / "snapshots").mkdir()
    for g in (20, 0, 10):
        np.save(rule_params.snapshot_path(str(tmp_path), g), coded_genome(layout, g))
    (tmp_path / "snapshots" / "notes.txt").write_text("ignored")
    snaps = rule_params.load_snapshots(str(tmp_path))
    assert [g for g, _ in snaps] == [0, 10, 20]
    assert rule_params.load_snapshots(str(tmp_path / "snapshots"))[0][0] == 0

    result = rule_params.rule_trajectories(snaps, layout, [("in", 2, 3), ("out", 1, 0)])
    assert result["generations"] == [0, 10, 20]
    assert result["parameters"] == ["eta", "A", "B", "C", "D"] and result["rate"] == "eta"
    assert result["synapses"]["in[2,3]"]["eta"] == [23, 10023, 20023]
    assert result["synapses"]["in[2,3]"]["C"] == [323, 10323, 20323]
    assert result["synapses"]["out[1,0]"]["D"] == [410.5, 10410.5, 20410.5]
    assert result["effective"]["in[2,3]"]["eta*A"] == [23 * 123, 10023 * 10123, 20023 * 20123]
    # the same values through the layout's own split
    split = layout.split(snaps[1][1][None])
    assert result["synapses"]["out[1,0]"]["B"][1] == split[("out", "B")][0, 1, 0]
    json.dumps(result)

    fig, numbers = rule_params.rule_params_figure(str(tmp_path), layout, [("in", 0, 1)], effective=True)
    assert numbers["synapses"]["in[0,1]"]["A"] == [101, 10101, 20101]
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 4      # eta*A, eta*B, eta*C, eta*D


def test_ablated_rule_and_static_layouts():
    layout = GenomeLayout(NetworkShape(2, 3, 1, recurrent=True), PDLF_RULE.resolve("SCP-only"))
    genome = coded_genome(layout, 1)
    params = rule_params.synapse_parameters(genome, layout, "rec", 2, 1)
    assert params == {"eta": 1021, "A": 1121, "D": 1221}
    static = GenomeLayout(SHAPE, STATIC_SYNAPSE)
    result = rule_params.rule_trajectories([(5, coded_genome(static, 0))], static, [("out", 3, 1)])
    assert result["synapses"] == {"out[3,1]": {"w": [31.5]}} and "effective" not in result
    with pytest.raises(ValueError, match="out of range"):
        rule_params.synapse_parameters(genome, layout, "in", 2, 0)
    with pytest.raises(ValueError, match="not in the layout"):
        rule_params.synapse_parameters(coded_genome(static, 0), static, "rec", 0, 0)
    with pytest.raises(ValueError, match="genome: expected shape"):
        rule_params.synapse_parameters(genome[:-1], layout, "in", 0, 0)
