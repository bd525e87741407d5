"""The saturating fit that projects when a rising curve levels off (`pdlf_brian.analysis.plateau`)."""
import json

import numpy as np
import pytest

from pdlf_brian.analysis.plateau import (fit_saturating, generation_rise_below, mean_curve, plateau_projection,
                                         projection_table)

LEVEL, AMPLITUDE, TAU = 1400.0, 700.0, 400.0


def saturating(g, start=300):
    return LEVEL - AMPLITUDE * np.exp(-(g - start) / TAU)


def test_recovers_a_known_curve_and_when_its_rise_falls_below_the_threshold():
    g = np.arange(9, 1040, 10)
    y = saturating(g) + np.random.default_rng(0).normal(0, 5, len(g))
    fit = fit_saturating(g, y, start=300)
    assert fit["level"] == pytest.approx(LEVEL, rel=0.02)
    assert fit["tau"] == pytest.approx(TAU, rel=0.1)
    assert fit["last_generation"] == 1039 and fit["points"] == len(g[g >= 300])
    assert fit["rise_now"] == pytest.approx(50 * AMPLITUDE / TAU * np.exp(-(1039 - 300) / TAU), rel=0.1)
    # 50 * 700 / 400 * exp(-(G - 300) / 400) = 5  ->  G = 300 + 400 ln(17.5)
    assert generation_rise_below(fit, 5.0) == pytest.approx(300 + TAU * np.log(17.5), abs=60)


def test_a_level_curve_is_already_below_the_threshold_and_too_few_points_give_no_fit():
    g = np.arange(0, 500, 10)
    fit = fit_saturating(g, 800 + np.random.default_rng(1).normal(0, 3, len(g)), start=100)
    assert abs(fit["rise_now"]) < 5
    assert generation_rise_below(fit, 5.0) <= fit["last_generation"]
    assert fit_saturating(g, g * 1.0, start=460) is None
    assert generation_rise_below(None, 5.0) is None


def test_projection_reads_every_seed_and_their_mean(tmp_path):
    for seed, shift in enumerate((0.0, 100.0)):
        run = tmp_path / "runs" / f"plastic_s{seed}"
        run.mkdir(parents=True)
        with open(run / "log.jsonl", "w") as fh:
            for g in range(700):
                held = float(saturating(g) + shift) if g % 10 == 9 else None
                fh.write(json.dumps({"generation": g, "heldout": held}) + "\n")
    result = plateau_projection(str(tmp_path), starts=(300, 400), threshold=5.0)
    assert [(r["curve"], r["start"]) for r in result["rows"]] == [
        ("plastic_s0", 300), ("plastic_s0", 400), ("plastic_s1", 300), ("plastic_s1", 400), ("mean", 300), ("mean", 400)]
    mean = [r for r in result["rows"] if r["curve"] == "mean"][0]
    assert mean["level"] == pytest.approx(LEVEL + 50, rel=0.01)
    lines = projection_table(result)
    assert len(lines) == 2 + 6 and "rise below 5" in lines[0]
    with pytest.raises(FileNotFoundError, match="weights_s"):
        plateau_projection(str(tmp_path), learner="weights")


def test_mean_curve_uses_only_the_generations_every_seed_covers():
    logs = [[{"generation": g, "heldout": float(g)} for g in (9, 19, 29)],
            [{"generation": g, "heldout": float(g) + 10 if g % 10 == 9 else None} for g in range(40)]]
    grid, mean = mean_curve(logs)
    assert list(grid) == [9, 19, 29]
    assert np.allclose(mean, grid + 5)
