"""Rasters, rates and traces per phase on hand-made spike arrays; weight snapshots and differences."""
import json

import matplotlib

matplotlib.use("Agg")  # tests only: the analysis modules never select a backend

import numpy as np
import pytest

from pdlf_brian.analysis import activity, weights


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


PHASES = {"presentation": slice(0, 4), "delay": slice(4, 6), "recall": slice(6, 10)}


def hand_made_spikes():
    """(T=10, B=2, H=3): known counts per phase."""
    s = np.zeros((10, 2, 3))
    s[0:4, 0, 0] = 1            # presentation: unit 0 of copy 0 fires every step (+1)
    s[1, 1, 2] = -1             # presentation: one -1 spike
    s[6:10, :, 1] = [[1, -1]] * 4   # recall: unit 1 fires in both copies, +1 in copy 0, -1 in copy 1
    return s


def test_phase_rates_on_hand_made_spikes():
    rates = activity.phase_rates(hand_made_spikes(), PHASES, step_seconds=0.2)
    pres, delay, recall = rates["presentation"], rates["delay"], rates["recall"]
    assert pres["rate"] == pytest.approx(5 / 24)        # 5 spikes in 4 steps x 2 copies x 3 units
    assert pres["rate_pos"] == pytest.approx(4 / 24) and pres["rate_neg"] == pytest.approx(1 / 24)
    assert pres["rate_hz"] == pytest.approx(5 / 24 / 0.2)
    np.testing.assert_allclose(pres["rate_per_unit"], [4 / 8, 0, 1 / 8])
    assert pres["saturated_fraction"] == pytest.approx(1 / 6)   # unit 0 of copy 0
    assert delay["rate"] == 0 and delay["silent_fraction"] == 1
    assert recall["rate"] == pytest.approx(8 / 24)
    assert recall["rate_pos"] == pytest.approx(recall["rate_neg"])
    assert [r["n_steps"] for r in rates.values()] == [4, 2, 4]
    # a (T, P, B, H) array pools individuals the same way
    four_d = np.stack([hand_made_spikes(), np.zeros((10, 2, 3))], axis=1)
    assert activity.phase_rates(four_d, PHASES)["presentation"]["rate"] == pytest.approx(5 / 48)


def test_phase_checks():
    with pytest.raises(ValueError, match="selects a step"):
        activity.phase_rates(hand_made_spikes(), {"late": slice(20, 30)})
    # an empty phase (a delay of length 0) is left out
    assert list(activity.phase_rates(hand_made_spikes(), {"a": slice(0, 4), "empty": slice(4, 4)})) == ["a"]
    with pytest.raises(ValueError, match="expected shape"):
        activity.phase_rates(np.zeros((10, 3)), PHASES)
    assert activity.phase_rates(hand_made_spikes())["all"]["rate"] == pytest.approx(13 / 60)


def test_phase_traces_and_activity_figure():
    k = np.exp(-1)
    s = hand_made_spikes()
    h = np.zeros_like(s)
    for t in range(len(s)):
        h[t] = (k * h[t - 1] if t else 0) + (1 - k) * s[t]
    traces = activity.phase_traces(h, PHASES)
    assert traces["by_phase"]["recall"]["mean"] == pytest.approx(h[6:10].mean())
    assert traces["by_phase"]["delay"]["mean_abs"] == pytest.approx(np.abs(h[4:6]).mean())
    assert len(traces["over_time"]["mean"]) == 10
    fig, numbers = activity.activity_figure(s, h, PHASES, step_seconds=0.2, copy=0)
    assert numbers["raster"] == {"presentation": {"pos": 4, "neg": 0}, "delay": {"pos": 0, "neg": 0},
                                 "recall": {"pos": 4, "neg": 0}}
    assert numbers["rates"]["recall"]["rate"] == pytest.approx(8 / 24)
    json.dumps(numbers)
    fig, raster = activity.raster_figure(s, copy=1)
    assert sorted(zip(raster["spike_steps"], raster["spike_signs"])) == [(1, -1)] + [(t, -1) for t in range(6, 10)]
    # a long episode: the raster shows its start, the counts still cover every step
    fig, first = activity.raster_figure(s, PHASES, copy=1, max_steps=7)
    assert sorted(zip(first["spike_steps"], first["spike_signs"])) == [(1, -1), (6, -1)]
    assert first["counts"]["recall"]["neg"] == 4


def test_weight_differences_and_figure():
    ref = np.array([[1.0, 0.0], [0.0, -1.0], [0.5, 0.5]])
    other = ref.copy()
    other[0, 1] = 0.3
    other[2, 0] = 0.1                     # difference: +0.3 and -0.4 -> Frobenius 0.5
    snapshots = {"bit 0": ref, "bit 1": other, "scaled": 2 * ref}
    diffs = weights.weight_differences(snapshots, "bit 0")
    assert diffs["bit 0"]["diff_norm"] == 0 and diffs["bit 0"]["correlation"] == pytest.approx(1)
    assert diffs["bit 1"]["diff_norm"] == pytest.approx(0.5)
    assert diffs["bit 1"]["max_abs_diff"] == pytest.approx(0.4)
    assert diffs["bit 1"]["relative_diff"] == pytest.approx(0.5 / np.linalg.norm(ref))
    assert diffs["scaled"]["diff_norm"] == pytest.approx(np.linalg.norm(ref))
    assert diffs["scaled"]["norm"] == pytest.approx(2 * np.linalg.norm(ref))
    assert diffs["scaled"]["correlation"] == pytest.approx(1)
    fig, numbers = weights.weights_figure(snapshots, "bit 0", projection="in")
    assert numbers["differences"] == diffs and numbers["weight_scale"] == 2
    json.dumps(numbers)
    with pytest.raises(ValueError, match="not a stimulus label"):
        weights.weight_differences(snapshots, "bit 2")
    with pytest.raises(ValueError, match="reference's shape"):
        weights.weight_differences({"a": ref, "b": ref[:2]}, "a")
