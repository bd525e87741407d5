"""Steering numbers (`pdlf_brian.analysis.control`): which way, and how far, a path turns."""
import numpy as np
import pytest

from pdlf_brian.analysis.control import path_turn, segment_progress

SPEED = 0.1          # m per env step, about an Ant walking at 2 m/s


def walk(headings, sway=0.03, start=(0.0, 0.0)):
    """A path following ``headings`` (radians, one per step), swaying sideways every other step like a gait."""
    headings = np.asarray(headings, float)
    side = sway * np.where(np.arange(len(headings)) % 2, 1.0, -1.0)
    step_x = SPEED * np.cos(headings) - side * np.sin(headings)
    step_y = SPEED * np.sin(headings) + side * np.cos(headings)
    return start[0] + np.cumsum(step_x), start[1] + np.cumsum(step_y)


@pytest.mark.parametrize("turn", [-240.0, 120.0, 45.0, -90.0])
def test_path_turn_gives_the_sign_and_size_of_a_turn(turn):
    headings = np.concatenate([np.full(20, 120.0), np.linspace(120.0, 120.0 + turn, 200), np.full(20, 120.0 + turn)])
    x, y = walk(np.radians(headings))
    assert path_turn(x, y) == pytest.approx(turn, abs=8.0)


def test_path_turn_of_a_straight_swaying_walk_and_of_standing_is_near_zero():
    x, y = walk(np.full(200, np.radians(30.0)), sway=0.08)
    assert abs(path_turn(x, y)) < 3.0
    rng = np.random.default_rng(0)
    jitter = rng.normal(0.0, 0.003, size=(2, 200))         # a standing agent: headings are noise
    assert path_turn(*jitter) == 0.0
    assert path_turn([0.0] * 5, [0.0] * 5) == 0.0            # shorter than one chord


def test_path_turn_rejects_a_window_below_one_step():
    with pytest.raises(ValueError, match="window"):
        path_turn([0.0, 1.0], [0.0, 1.0], window=0)


def test_segment_progress_tells_the_long_way_round_from_the_short_way():
    """Both paths end heading -120°; only the turn says one went right through 240°, the other left through 120°."""
    n = 160
    before = np.full(n, np.radians(120.0))
    marks = [0, n]
    direction = np.concatenate([before, np.full(n, np.radians(-120.0))])
    for turn, sign in ((-240.0, -1), (120.0, 1)):
        after = np.radians(np.concatenate([np.linspace(120.0, 120.0 + turn, n - 40), np.full(40, 120.0 + turn)]))
        x, y = walk(np.concatenate([before, after]))
        first, second = segment_progress(x, y, direction, marks)
        assert first["turn_deg"] == pytest.approx(0.0, abs=3.0)
        assert np.degrees(first["exit_heading"]) == pytest.approx(120.0, abs=3.0)
        assert np.sign(second["turn_deg"]) == sign and second["turn_deg"] == pytest.approx(turn, abs=8.0)
        assert np.degrees(second["exit_heading"]) == pytest.approx(-120.0, abs=3.0)
        assert second["exit_distance"] == pytest.approx(40 * SPEED, rel=0.05)
        assert second["start"] == n and second["stop"] == 2 * n
