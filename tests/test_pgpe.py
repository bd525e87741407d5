"""Tests of the PGPE Nevergrad optimizer (pdlf_brian.evolution.pgpe).

The reference implementation below is transcribed from the update equations in
the module docstring (evojax PGPE), independently of the optimizer's code: it
only sees the candidates the optimizer hands out and the losses we tell it.
"""
from __future__ import annotations

import subprocess
import sys
import pickle

import numpy as np
import pytest

import nevergrad as ng
from nevergrad.common import errors as ng_errors
from nevergrad.optimization.base import Optimizer

from pdlf_brian.evolution import pgpe as pgpe_module
from pdlf_brian.evolution.pgpe import ParametrizedPGPE, centered_ranks


# ----------------------------------------------------------------- helpers
def _array_param(dim: int, seed: int) -> ng.p.Array:
    param = ng.p.Array(shape=(dim,))
    param.random_state.seed(seed)
    return param


def _reference_ranks(losses: np.ndarray) -> np.ndarray:
    """Centered ranks via double argsort of the fitness -loss (ties by index)."""
    fitness = -np.asarray(losses, dtype=float)
    ranks = np.argsort(np.argsort(fitness, kind="stable"), kind="stable").astype(float)
    return ranks / (len(fitness) - 1) - 0.5


class _ReferencePGPE:
    """Plain transcription of the evojax PGPE equations (center, stdev, Adam/ClipUp/SGD)."""

    def __init__(self, dim: int, **cfg):
        self.cfg = dict(
            center_learning_rate=0.01,
            stdev_learning_rate=0.07,
            init_stdev=0.04,
            stdev_max_change=0.2,
            optimizer="adam",
            adam_beta1=0.9,
            adam_beta2=0.999,
            adam_epsilon=1e-8,
            adam_bias_correction="evojax",
            clipup_momentum=0.9,
            clipup_max_speed=0.15,
            center_lr_decay_coef=1.0,
            center_lr_decay_steps=1000,
        )
        self.cfg.update(cfg)
        self.mu = np.zeros(dim)
        self.sigma = np.full(dim, self.cfg["init_stdev"])
        self.m = np.zeros(dim)
        self.v = np.zeros(dim)
        self.u = np.zeros(dim)
        self.t = 0

    def step(self, eps: np.ndarray, losses: np.ndarray) -> None:
        c = self.cfg
        npairs = eps.shape[0]
        r = _reference_ranks(losses)
        rp = np.array([r[2 * j] for j in range(npairs)])
        rm = np.array([r[2 * j + 1] for j in range(npairs)])
        b = np.mean(r)
        g_mu = np.mean(((rp - rm) / 2.0)[:, None] * eps, axis=0)
        g_sigma = np.mean(
            ((rp + rm) / 2.0 - b)[:, None] * (eps**2 - self.sigma[None, :] ** 2) / self.sigma[None, :],
            axis=0,
        )
        s = self.t // c["center_lr_decay_steps"]
        lr = c["center_learning_rate"] * c["center_lr_decay_coef"] ** s
        g = -g_mu
        if c["optimizer"] == "adam":
            b1, b2 = c["adam_beta1"], c["adam_beta2"]
            i = s if c["adam_bias_correction"] == "evojax" else self.t
            self.m = b1 * self.m + (1 - b1) * g
            self.v = b2 * self.v + (1 - b2) * g * g
            mhat = self.m / (1 - b1 ** (i + 1))
            vhat = self.v / (1 - b2 ** (i + 1))
            self.mu = self.mu - lr * mhat / (np.sqrt(vhat) + c["adam_epsilon"])
        elif c["optimizer"] == "clipup":
            gn = g / np.linalg.norm(g)
            self.u = c["clipup_momentum"] * self.u + lr * gn
            speed = np.linalg.norm(self.u)
            if speed > c["clipup_max_speed"]:
                self.u = self.u / speed * c["clipup_max_speed"]
            self.mu = self.mu - self.u
        else:
            self.mu = self.mu - lr * g
        lo = self.sigma * (1 - c["stdev_max_change"])
        hi = self.sigma * (1 + c["stdev_max_change"])
        self.sigma = np.minimum(np.maximum(self.sigma + c["stdev_learning_rate"] * g_sigma, lo), hi)
        self.t += 1


def _ask_generation(opt, popsize):
    center = np.array(opt.recommend().value, dtype=float)
    cands = [opt.ask() for _ in range(popsize)]
    values = np.array([c.value for c in cands], dtype=float)
    return center, cands, values


# ---------------------------------------------------------------- test 1
@pytest.mark.parametrize(
    "cfg",
    [
        {},
        {"adam_bias_correction": "standard"},
        {"optimizer": "clipup", "center_learning_rate": 0.05},
        {"optimizer": "sgd", "center_learning_rate": 0.3},
        {
            "center_learning_rate": 0.02,
            "stdev_learning_rate": 0.2,
            "init_stdev": 0.1,
            "center_lr_decay_coef": 0.5,
            "center_lr_decay_steps": 2,
        },
    ],
    ids=["adam-evojax", "adam-standard", "clipup", "sgd", "adam-decay"],
)
def test_matches_numpy_transcription(cfg):
    dim, popsize = 40, 10
    opt = ParametrizedPGPE(popsize=popsize, **cfg)(_array_param(dim, seed=3))
    ref = _ReferencePGPE(dim, **cfg)
    loss_rng = np.random.RandomState(123)
    for _ in range(3):
        center, cands, values = _ask_generation(opt, popsize)
        np.testing.assert_allclose(center, ref.mu, rtol=1e-12, atol=1e-15)
        eps = values[0::2] - center  # plus members: center + eps_j
        losses = loss_rng.normal(size=popsize)
        for k in loss_rng.permutation(popsize):  # tell order must not matter
            opt.tell(cands[k], float(losses[k]))
        ref.step(eps, losses)
    np.testing.assert_allclose(np.asarray(opt.recommend().value), ref.mu, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(opt.stdev, ref.sigma, rtol=1e-12, atol=0)
    assert not np.allclose(ref.mu, 0.0)  # the center did move
    assert not np.allclose(ref.sigma, ref.cfg["init_stdev"])  # so did sigma


# ---------------------------------------------------------------- test 2
def test_antithetic_pairs_symmetric_about_center():
    dim, popsize = 2000, 64
    opt = ParametrizedPGPE(popsize=popsize)(_array_param(dim, seed=0))
    for gen in range(2):
        center, cands, values = _ask_generation(opt, popsize)
        plus, minus = values[0::2], values[1::2]
        np.testing.assert_allclose(plus + minus, np.tile(2 * center, (popsize // 2, 1)), rtol=0, atol=1e-14)
        eps = plus - center
        # eps ~ N(0, sigma^2) per parameter, all pairs distinct
        assert np.all(np.abs(eps).max(axis=1) > 0)
        assert len({tuple(e[:5]) for e in eps}) == popsize // 2
        z = eps / opt.stdev[None, :]
        assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01
        for c in cands:
            opt.tell(c, float(np.sum(np.asarray(c.value) ** 2)))
        assert opt.generation == gen + 1


# ---------------------------------------------------------------- test 3
@pytest.mark.parametrize("with_ties", [False, True])
def test_centered_ranks(with_ties):
    rng = np.random.RandomState(7)
    n = 64
    losses = rng.normal(size=n)
    if with_ties:
        losses = np.round(losses, 0)
    r = centered_ranks(losses)
    assert r.min() == -0.5 and r.max() == 0.5
    assert np.all((r >= -0.5) & (r <= 0.5))
    assert abs(r.sum()) < 1e-12
    np.testing.assert_allclose(np.sort(r), np.arange(n) / (n - 1) - 0.5, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(r, _reference_ranks(losses))
    # lower loss is better
    better = losses[:, None] < losses[None, :]
    assert np.all(r[:, None] > r[None, :], where=better)
    # ties: the member with the smaller index gets the smaller rank
    tied_later = (losses[:, None] == losses[None, :]) & (np.arange(n)[:, None] < np.arange(n)[None, :])
    assert np.all(r[:, None] < r[None, :], where=tied_later)
    assert tied_later.any() == with_ties


def test_optimizer_uses_centered_ranks_of_told_losses():
    popsize = 16
    opt = ParametrizedPGPE(popsize=popsize)(_array_param(5, seed=1))
    cands = [opt.ask() for _ in range(popsize)]
    losses = np.random.RandomState(0).uniform(size=popsize)
    for c, loss in zip(cands, losses):
        opt.tell(c, float(loss))
    r = opt.last_shaped_fitness
    assert r is not None and abs(r.sum()) < 1e-12 and r.min() == -0.5 and r.max() == 0.5
    assert r[np.argmin(losses)] == 0.5 and r[np.argmax(losses)] == -0.5


# ---------------------------------------------------------------- test 4
@pytest.mark.parametrize("direction", [+1, -1])
def test_stdev_change_is_clipped(direction):
    dim, popsize, lr = 300, 16, 50.0
    opt = ParametrizedPGPE(popsize=popsize, stdev_learning_rate=lr)(_array_param(dim, seed=2))
    sigma0 = opt.stdev
    center, cands, values = _ask_generation(opt, popsize)
    eps = values[0::2] - center
    # direction=+1: reward large perturbations (pushes sigma up), -1: small ones (down)
    losses = np.repeat(-direction * np.sum(eps**2, axis=1), 2)
    for c, loss in zip(cands, losses):
        opt.tell(c, float(loss))
    # unclipped update from the equations
    r = _reference_ranks(losses)
    avg = (r[0::2] + r[1::2]) / 2 - r.mean()
    g_sigma = np.mean(avg[:, None] * (eps**2 - sigma0**2) / sigma0, axis=0)
    unclipped = sigma0 + lr * g_sigma
    ratio_unclipped = unclipped / sigma0
    assert (ratio_unclipped > 1.2).sum() > dim // 4 or (ratio_unclipped < 0.8).sum() > dim // 4
    ratio = opt.stdev / sigma0
    assert np.all(ratio <= 1.2 + 1e-12) and np.all(ratio >= 0.8 - 1e-12)
    np.testing.assert_allclose(opt.stdev, np.clip(unclipped, 0.8 * sigma0, 1.2 * sigma0), rtol=1e-12)
    extreme = 1.2 if direction > 0 else 0.8
    assert np.mean(np.isclose(ratio, extreme, rtol=1e-12)) > 0.5


# ---------------------------------------------------------------- test 5
def _sphere(x):
    return float(np.sum((np.asarray(x) - 0.3) ** 2))


def _run(opt, generations, popsize, record):
    for _ in range(generations):
        cands = [opt.ask() for _ in range(popsize)]
        record.append(np.array([c.value for c in cands]))
        for c in cands:
            opt.tell(c, _sphere(c.value))


def test_same_seed_same_numbers():
    dim, popsize = 30, 8
    recs = []
    for seed in (5, 5, 6):
        opt = ParametrizedPGPE(popsize=popsize)(_array_param(dim, seed=seed))
        rec: list = []
        _run(opt, 4, popsize, rec)
        recs.append((np.array(rec), opt.center, opt.stdev))
    for a, b in zip(recs[0], recs[1]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(recs[0][0], recs[2][0])


@pytest.mark.parametrize("outstanding", [False, True])
def test_dump_load_identical_continuation(tmp_path, outstanding):
    dim, popsize = 30, 8
    opt = ParametrizedPGPE(popsize=popsize)(_array_param(dim, seed=11))
    _run(opt, 2, popsize, [])
    # half a generation: ask 5, tell 3 (or all 5), then dump
    cands = [opt.ask() for _ in range(5)]
    n_told = 3 if outstanding else 5
    for c in cands[:n_told]:
        opt.tell(c, _sphere(c.value))
    path = tmp_path / "pgpe.pkl"
    opt.dump(path)
    loaded = Optimizer.load(path)
    assert type(loaded) is type(opt) and loaded.generation == opt.generation

    def finish(o):
        rec = []
        for c in cands[n_told:]:  # same candidate objects (matched by uid)
            o.tell(c, _sphere(c.value))
        rest = [o.ask() for _ in range(popsize - 5)]
        rec.append(np.array([c.value for c in rest]))
        for c in rest:
            o.tell(c, _sphere(c.value))
        _run(o, 3, popsize, rec)
        return np.concatenate(rec), o.center, o.stdev, np.asarray(o.recommend().value)

    a, b = finish(opt), finish(loaded)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert opt.generation == 6
    # the pickled state really holds the random state: a fresh-seeded run differs
    fresh = ParametrizedPGPE(popsize=popsize)(_array_param(dim, seed=12))
    _run(fresh, 6, popsize, [])
    assert not np.array_equal(fresh.center, a[1])


def test_pickle_roundtrip_keeps_random_state():
    opt = ParametrizedPGPE(popsize=4)(_array_param(10, seed=0))
    clone = pickle.loads(pickle.dumps(opt))
    np.testing.assert_array_equal(opt.ask().value, clone.ask().value)


# ---------------------------------------------------------------- test 6
@pytest.mark.parametrize("popsize", [63, 1, 0, -4])
def test_odd_or_too_small_popsize_raises(popsize):
    with pytest.raises(ValueError, match="popsize"):
        ParametrizedPGPE(popsize=popsize)


def test_protocol_errors():
    popsize = 4
    opt = ParametrizedPGPE(popsize=popsize)(_array_param(3, seed=0))
    cands = [opt.ask() for _ in range(popsize)]
    with pytest.raises(RuntimeError, match="popsize=4"):
        opt.ask()  # a 5th ask before the generation is told
    for c in cands:
        opt.tell(c, 0.0)
    opt.ask()  # the next generation can start
    with pytest.raises(ng_errors.TellNotAskedNotSupportedError):
        opt.tell(opt.parametrization.spawn_child(new_value=np.ones(3)), 1.0)
    with pytest.raises(ValueError, match="num_workers"):
        ParametrizedPGPE(popsize=popsize)(3, num_workers=5)
    with pytest.raises(ValueError, match="optimizer"):
        ParametrizedPGPE(optimizer="rmsprop")


def test_recommend_is_center_and_minimize_works():
    opt = ParametrizedPGPE(popsize=8)(_array_param(6, seed=4), budget=8 * 5)
    rec = opt.minimize(_sphere)
    assert opt.generation == 5
    np.testing.assert_array_equal(np.asarray(rec.value), opt.center)


# ---------------------------------------------------------------- test 7
def test_reduces_loss_on_1000d_sphere():
    dim, popsize, generations = 1000, 64, 150
    target = np.random.RandomState(1).uniform(-0.5, 0.5, size=dim)
    opt = ng.optimizers.registry["PGPE"](_array_param(dim, seed=0))
    start = float(np.sum(target**2))
    for _ in range(generations):
        cands = [opt.ask() for _ in range(popsize)]
        for c in cands:
            opt.tell(c, float(np.sum((c.value - target) ** 2)))
    final = float(np.sum((np.asarray(opt.recommend().value) - target) ** 2))
    assert final < 0.1 * start, (start, final)


def test_registry_and_reimport():
    assert "PGPE" in ng.optimizers.registry
    opt = ng.optimizers.registry["PGPE"](5, budget=128)
    assert opt.popsize == 64 and opt.center_learning_rate == 0.01
    assert opt.init_stdev == 0.04 and opt.stdev_learning_rate == 0.07
    np.testing.assert_array_equal(opt.stdev, np.full(5, 0.04))
    # re-importing must not raise a name collision; done in a fresh process because reloading
    # replaces the module's classes, which would break pickling optimizers in later tests
    code = ("import importlib, nevergrad as ng\n"
            "import pdlf_brian.evolution.pgpe as m\n"
            "importlib.reload(m)\n"
            "assert ng.optimizers.registry['PGPE'] is m.PGPE\n")
    subprocess.run([sys.executable, "-c", code], check=True)
