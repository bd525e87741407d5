"""The saturating fits that project when a rising curve levels off, and their backtests (`pdlf_brian.analysis.plateau`)."""
import json

import numpy as np
import pytest

from pdlf_brian.analysis.figures import close
from pdlf_brian.analysis.plateau import (backtest, backtest_table, fit_saturating, generation_rise_below, mean_curve,
                                         plateau_figure, plateau_projection, predict, projection_table, trailing_rise)

LEVEL, AMPLITUDE, TAU = 1400.0, 700.0, 400.0


EXPONENT = 0.5


def saturating(g, start=300):
    return LEVEL - AMPLITUDE * np.exp(-(g - start) / TAU)


def power_law(g, start=300):
    return LEVEL - AMPLITUDE * (g / start) ** -EXPONENT


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
    result = plateau_projection(str(tmp_path), starts=(300, 400), threshold=5.0, holdouts=(100, 200))
    assert [(r["curve"], r["form"], r["start"]) for r in result["rows"]] == [
        (curve, form, start) for curve in ("plastic_s0", "plastic_s1", "mean")
        for form in ("exponential", "power") for start in (300, 400)]
    mean = [r for r in result["rows"] if r["curve"] == "mean" and r["form"] == "exponential"][0]
    assert mean["level"] == pytest.approx(LEVEL + 50, rel=0.01)
    lines = projection_table(result)
    assert len(lines) == 2 + 12 and "rise below 5" in lines[0]
    assert "| mean | exponential | 300 |" in lines[-4] and "τ = " in lines[-4] and "b = " in lines[-1]
    assert [(b["form"], b["start"], b["holdout"]) for b in result["backtests"]] == [
        (form, start, holdout) for form in ("exponential", "power") for start in (300, 400) for holdout in (100, 200)]
    assert abs(result["backtests"][0]["bias"]) < 1.0          # the exponential predicts its own kind
    assert len(backtest_table(result)) == 2 + 8
    assert result["mean_curve"]["generations"][0] == 9 and len(result["mean_curve"]["scores"]) == 70
    fig, numbers = plateau_figure(result)
    assert [(f["form"], f["start"]) for f in numbers["fits"]] == [
        (form, start) for form in ("exponential", "power") for start in (300, 400)]
    assert numbers["until"] >= max(f["generation_below"] for f in numbers["fits"])
    assert min(numbers["measured"]["generations"]) >= 300
    assert len(fig.axes) == 2
    close(fig)
    with pytest.raises(FileNotFoundError, match="weights_s"):
        plateau_projection(str(tmp_path), learner="weights")


def test_mean_curve_uses_only_the_generations_every_seed_covers():
    logs = [[{"generation": g, "heldout": float(g)} for g in (9, 19, 29)],
            [{"generation": g, "heldout": float(g) + 10 if g % 10 == 9 else None} for g in range(40)]]
    grid, mean = mean_curve(logs)
    assert list(grid) == [9, 19, 29]
    assert np.allclose(mean, grid + 5)


def test_power_form_recovers_its_exponent_and_a_later_end_than_the_exponential():
    g = np.arange(309, 1300, 10)
    y = power_law(g) + np.random.default_rng(2).normal(0, 3, len(g))
    fit = fit_saturating(g, y, start=300, form="power")
    assert fit["form"] == "power" and not fit["at_bound"]
    assert fit["exponent"] == pytest.approx(EXPONENT, rel=0.15)
    assert fit["level"] == pytest.approx(LEVEL, rel=0.05)
    assert fit["rise_now"] == pytest.approx(50 * AMPLITUDE * EXPONENT / 300 * (1299 / 300) ** (-EXPONENT - 1), rel=0.1)
    # 50 * 700 * 0.5 / 300 * (G / 300) ** -1.5 = 5  ->  G = 300 * (35000 * 0.5 / 1500) ** (1 / 1.5)
    assert generation_rise_below(fit, 5.0) == pytest.approx(300 * (17500 / 1500) ** (1 / 1.5), rel=0.1)
    assert np.allclose(predict(fit, [1299.0]), fit["fitted_last"])
    exponential = fit_saturating(g, y, start=300)
    assert generation_rise_below(exponential, 5.0) < generation_rise_below(fit, 5.0)


def test_backtest_tells_the_form_that_made_the_curve():
    g = np.arange(309, 1300, 10)
    y = power_law(g) + np.random.default_rng(3).normal(0, 3, len(g))
    right = backtest(g, y, start=300, holdout=400, form="power")
    wrong = backtest(g, y, start=300, holdout=400, form="exponential")
    assert right["cutoff"] == 899 and right["points_ahead"] == 40 and right["holdout"] == 400
    assert abs(right["bias"]) < 10 and right["rms"] < wrong["rms"]
    assert wrong["bias"] < -10                          # an exponential levels off too soon: predicts too low
    assert backtest(g, y, start=300, holdout=990) is None


def test_bad_form_or_start_is_named():
    g = np.arange(0, 500, 10.0)
    with pytest.raises(ValueError, match="form must be one of"):
        fit_saturating(g, g, start=100, form="logistic")
    with pytest.raises(ValueError, match="start must be positive"):
        fit_saturating(g, g, start=0, form="power")


def test_trailing_rise_is_the_slope_over_the_window():
    g = np.arange(9, 400, 10.0)
    rising = 3.0 * g + 7.0                               # +150 per 50 generations everywhere
    x, rise = trailing_rise(g, rising, per=50)
    assert x[0] == 29 and np.allclose(rise, 150.0)     # from the third point on (min_points=3)
    x, rise = trailing_rise(g, np.full_like(g, 4.0), per=50)
    assert np.allclose(rise, 0.0)
