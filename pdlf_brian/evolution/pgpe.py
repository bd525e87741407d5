r"""PGPE (Policy Gradients with Parameter-based Exploration) as a Nevergrad optimizer.

The reference results of PDLF were produced with evojax's ``PGPE``
(``evojax/algo/pgpe.py``, itself a port of nnaisense's ``pgpelib``).  Nevergrad
has no PGPE, so this module provides one, following evojax's update equations
exactly (in float64 instead of JAX's float32).

Importing this module registers the optimizer in ``nevergrad.optimizers.registry``
under the name ``"PGPE"`` (default settings).  Variants are made with
:class:`ParametrizedPGPE`, e.g. ``ParametrizedPGPE(popsize=128, center_learning_rate=0.02)``.

Search space
------------
Everything happens in Nevergrad's *standardized* space of the parametrization
(``get_standardized_data``/``set_standardized_data``).  The center starts at 0,
i.e. at the parametrization's initial value; for an unbounded
``ng.p.Array`` with the default ``sigma=1`` the standardized space is the value
space itself, so ``init_stdev`` etc. are in the units of the values.

Update equations (one generation t)
-----------------------------------
Notation: d = dimension, n = ``popsize`` (even), P = n/2 pairs, elementwise
operations on vectors of R^d, mu_t the center, sigma_t the per-parameter
standard deviations (mu_0 = 0, sigma_0 = ``init_stdev``).

1. Sampling (all P noise vectors are drawn at the first ask of a generation,
   with one call ``rng.standard_normal((P, d))`` on the parametrization's
   ``random_state``)::

       eps_j   = sigma_t * z_j,       z_j ~ N(0, I_d),            j = 0..P-1
       x_{2j}   = mu_t + eps_j         ("plus" member of pair j)
       x_{2j+1} = mu_t - eps_j         ("minus" member of pair j)

   ``ask()`` number k (k = 0..n-1) within the generation returns x_k.

2. Fitness shaping (centered ranks over the whole population).  Nevergrad
   minimises losses L_k, evojax maximises fitness f_k = -L_k, so::

       rank_k = #{ i : f_i < f_k } (+ ties broken by index: among equal losses
                the member with the smaller index gets the smaller rank)
       r_k    = rank_k / (n - 1) - 1/2          in [-1/2, 1/2],  sum_k r_k = 0

   i.e. the lowest loss gets r = +1/2 and the highest loss r = -1/2.

3. Gradient estimates (evojax ``compute_reinforce_update``); with
   r+_j = r_{2j}, r-_j = r_{2j+1} and the baseline b = mean_k r_k (b = 0 up to
   rounding for centered ranks; kept to match evojax)::

       g_mu    = 1/P * sum_j (r+_j - r-_j) / 2 * eps_j
       g_sigma = 1/P * sum_j ((r+_j + r-_j) / 2 - b) * (eps_j**2 - sigma_t**2) / sigma_t

   These are the symmetric-sampling PGPE estimates of grad_mu E[f] and
   grad_sigma E[f] for x ~ N(mu, diag(sigma^2)) (score functions eps/sigma^2 and
   (eps^2 - sigma^2)/sigma^3), both multiplied by sigma^2 as in Sehnke et al.
   (2010) and evojax.

4. Center update, ascending the fitness, i.e. descending g = -g_mu.  With
   a = ``center_learning_rate``, s = floor(t / ``center_lr_decay_steps``) and
   the step size a_t = a * ``center_lr_decay_coef`` ** s:

   ``optimizer="adam"`` (default; beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8,
   m_0 = v_0 = 0)::

       m     = beta1 * m + (1 - beta1) * g
       v     = beta2 * v + (1 - beta2) * g**2
       m_hat = m / (1 - beta1 ** (i + 1))
       v_hat = v / (1 - beta2 ** (i + 1))
       mu_{t+1} = mu_t - a_t * m_hat / (sqrt(v_hat) + epsilon)

   where the bias-correction index i is
     * ``adam_bias_correction="evojax"`` (default): i = s = floor(t / 1000).
       evojax passes ``t // lr_decay_steps`` as the step index of
       ``jax.example_libraries.optimizers.adam``, so during the first 1000
       generations the correction factors are constant (1 - beta1 = 0.1,
       1 - beta2 = 0.001).  This is what produced the paper's numbers.
     * ``adam_bias_correction="standard"``: i = t (textbook Adam).

   ``optimizer="clipup"`` (evojax's ClipUp; momentum 0.9, max_speed 0.15)::

       g_hat = g / ||g||                       (if clipup_normalize, the default)
       u     = momentum * u + a_t * g_hat      (u_0 = 0)
       u     = u * max_speed / ||u||           if ||u|| > max_speed
       mu_{t+1} = mu_t - u

   ``optimizer="sgd"`` (evojax's ``optimizer=None``): mu_{t+1} = mu_t - a_t * g.

5. Standard-deviation update (``stdev_learning_rate`` eta, ``stdev_max_change``
   c = 0.2), using sigma_t and the eps of the same generation::

       sigma_{t+1} = clip(sigma_t + eta * g_sigma,
                          sigma_t - c * |sigma_t|,  sigma_t + c * |sigma_t|)

``recommend()`` returns the current center mu_t.

Ask/tell protocol (what was chosen)
-----------------------------------
* A generation has exactly ``popsize`` members.  Asks and tells within a
  generation may be interleaved and told in any order; the tell of the last
  untold member triggers the update above, and the next ask starts the next
  generation.
* Asking more than ``popsize`` candidates before the whole generation has been
  told raises a ``RuntimeError`` (an antithetic pair cannot be split across
  generations without biasing the estimate).  Consequently ``num_workers``
  must be <= ``popsize`` (checked at construction, ``ValueError``).
* Telling a candidate that was not asked (including ``suggest``-ed points)
  raises ``TellNotAskedNotSupportedError``, as in Nevergrad's EDA.
* The update uses the exact sampled ``eps`` (kept by the optimizer), not the
  candidates' data read back, so bounded/transformed parametrizations don't
  distort it.
* Parametrizations with cheap constraints are not supported (Nevergrad would
  silently drop re-sampled candidates, so a generation would never complete).

Determinism and checkpointing
-----------------------------
All randomness comes from ``optimizer.parametrization.random_state`` (seed it
with ``parametrization.random_state.seed(s)`` or pass a seeded
``np.random.RandomState`` as Nevergrad does).  The optimizer pickles with that
state and with the current generation's noise, so ``optimizer.dump(path)`` /
``Optimizer.load(path)`` at any point where every asked candidate has been told
resumes with bit-identical numbers.  (Candidates asked but not yet told at dump
time can still be told to the loaded optimizer if their Python objects
survive, since they are matched by ``uid``.)
"""
from __future__ import annotations

import math
import typing as tp

import numpy as np
from nevergrad.common import errors
from nevergrad.optimization import base
from nevergrad.optimization.base import registry
import nevergrad.parametrization.parameter as p

__all__ = ["PGPE", "ParametrizedPGPE", "centered_ranks"]

_META_KEY = "pdlf_pgpe"  # (generation, member index) stored in candidate._meta
_OPTIMIZERS = ("adam", "clipup", "sgd")
_BIAS_CORRECTIONS = ("evojax", "standard")


def centered_ranks(losses: tp.Sequence[float] | np.ndarray) -> np.ndarray:
    """Centered ranks of a population, evojax ``process_scores`` for fitness = -loss.

    Returns r with r_k = rank_k / (n - 1) - 0.5, where rank 0 is the highest loss
    and rank n-1 the lowest (so the best member gets +0.5).  Ties: among equal
    losses the member with the smaller index gets the smaller rank.
    """
    losses = np.asarray(losses, dtype=np.float64).ravel()
    n = losses.size
    if n < 2:
        raise ValueError("centered_ranks needs at least 2 losses")
    order = np.argsort(-losses, kind="stable")  # ascending fitness
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.arange(n, dtype=np.float64)
    return ranks / (n - 1) - 0.5


class _PGPE(base.Optimizer):
    """PGPE with antithetic sampling, centered-rank shaping and Adam/ClipUp center updates.

    See the module docstring for the exact equations and the ask/tell protocol.
    Use :class:`ParametrizedPGPE` (or the registered ``"PGPE"``) to create it.
    """

    # pylint: disable=too-many-instance-attributes,too-many-arguments

    def __init__(
        self,
        parametrization: tp.Any,
        budget: tp.Optional[int] = None,
        num_workers: int = 1,
        *,
        popsize: int = 64,
        center_learning_rate: float = 0.01,
        stdev_learning_rate: float = 0.07,
        init_stdev: float = 0.04,
        stdev_max_change: float = 0.2,
        optimizer: str = "adam",
        adam_beta1: float = 0.9,
        adam_beta2: float = 0.999,
        adam_epsilon: float = 1e-8,
        adam_bias_correction: str = "evojax",
        clipup_momentum: float = 0.9,
        clipup_max_speed: float = 0.15,
        clipup_normalize: bool = True,
        center_lr_decay_coef: float = 1.0,
        center_lr_decay_steps: int = 1000,
    ) -> None:
        _check_settings(
            popsize=popsize,
            center_learning_rate=center_learning_rate,
            stdev_learning_rate=stdev_learning_rate,
            init_stdev=init_stdev,
            stdev_max_change=stdev_max_change,
            optimizer=optimizer,
            adam_bias_correction=adam_bias_correction,
            center_lr_decay_steps=center_lr_decay_steps,
        )
        super().__init__(parametrization, budget=budget, num_workers=num_workers)
        if self.num_workers > popsize:
            raise ValueError(
                f"PGPE: num_workers={self.num_workers} exceeds popsize={popsize}; a generation "
                "must be fully told before the next one is asked, so use num_workers <= popsize"
            )
        if getattr(self.parametrization, "_constraint_checkers", None):
            raise NotImplementedError("PGPE does not support parametrizations with cheap constraints")
        self.popsize = int(popsize)
        self.center_learning_rate = float(center_learning_rate)
        self.stdev_learning_rate = float(stdev_learning_rate)
        self.init_stdev = float(init_stdev)
        self.stdev_max_change = float(stdev_max_change)
        self.optimizer_name = optimizer
        self.adam_beta1 = float(adam_beta1)
        self.adam_beta2 = float(adam_beta2)
        self.adam_epsilon = float(adam_epsilon)
        self.adam_bias_correction = adam_bias_correction
        self.clipup_momentum = float(clipup_momentum)
        self.clipup_max_speed = float(clipup_max_speed)
        self.clipup_normalize = bool(clipup_normalize)
        self.center_lr_decay_coef = float(center_lr_decay_coef)
        self.center_lr_decay_steps = int(center_lr_decay_steps)

        dim = self.dimension
        self._center = np.zeros(dim, dtype=np.float64)
        self._stdev = np.full(dim, self.init_stdev, dtype=np.float64)
        # center-optimizer state
        self._adam_m = np.zeros(dim) if optimizer == "adam" else None
        self._adam_v = np.zeros(dim) if optimizer == "adam" else None
        self._velocity = np.zeros(dim) if optimizer == "clipup" else None
        # generation state
        self._generation = 0  # number of completed updates (t)
        self._noise: tp.Optional[np.ndarray] = None  # (P, d) scaled noises eps_j of this generation
        self._num_asked_in_gen = 0
        self._gen_losses = np.full(self.popsize, np.nan)
        self._gen_told = np.zeros(self.popsize, dtype=bool)
        self.last_shaped_fitness: tp.Optional[np.ndarray] = None  # r_k of the last update

    # ------------------------------------------------------------------ views
    @property
    def center(self) -> np.ndarray:
        """Current center mu_t (standardized space), a copy."""
        return self._center.copy()

    @property
    def stdev(self) -> np.ndarray:
        """Current per-parameter standard deviations sigma_t (standardized space), a copy."""
        return self._stdev.copy()

    @property
    def generation(self) -> int:
        """Number of completed generations (updates) t."""
        return self._generation

    # -------------------------------------------------------------- ask/tell
    def _internal_ask_candidate(self) -> p.Parameter:
        if self._noise is None:  # first ask of a new generation
            num_pairs = self.popsize // 2
            z = self._rng.standard_normal((num_pairs, self.dimension))
            self._noise = z * self._stdev
            self._num_asked_in_gen = 0
            self._gen_losses.fill(np.nan)
            self._gen_told.fill(False)
        k = self._num_asked_in_gen
        if k >= self.popsize:
            raise RuntimeError(
                f"PGPE: all popsize={self.popsize} candidates of generation {self._generation} have "
                f"been asked but only {int(self._gen_told.sum())} were told; tell the whole generation "
                "before asking more (num_workers must be <= popsize)"
            )
        self._num_asked_in_gen = k + 1
        eps = self._noise[k // 2]
        data = self._center + eps if k % 2 == 0 else self._center - eps
        candidate = self.parametrization.spawn_child().set_standardized_data(
            data, reference=self.parametrization
        )
        candidate._meta[_META_KEY] = (self._generation, k)
        return candidate

    def _internal_tell_candidate(self, candidate: p.Parameter, loss: tp.FloatLoss) -> None:
        key = candidate._meta.get(_META_KEY)
        if key is None:
            raise errors.TellNotAskedNotSupportedError
        generation, k = key
        if generation != self._generation or self._noise is None:
            raise RuntimeError(
                f"PGPE: candidate from generation {generation} told during generation {self._generation}"
            )
        if self._gen_told[k]:
            raise RuntimeError(f"PGPE: member {k} of generation {generation} was already told")
        self._gen_losses[k] = float(loss)
        self._gen_told[k] = True
        if self._gen_told.all():
            self._update(self._gen_losses.copy())

    def _internal_tell_not_asked(self, candidate: p.Parameter, loss: tp.FloatLoss) -> None:
        raise errors.TellNotAskedNotSupportedError

    def _internal_provide_recommendation(self) -> np.ndarray:
        return self._center.copy()

    # ---------------------------------------------------------------- update
    def _update(self, losses: np.ndarray) -> None:
        assert self._noise is not None
        noise = self._noise
        num_pairs = noise.shape[0]
        r = centered_ranks(losses)
        r_plus, r_minus = r[0::2], r[1::2]
        baseline = r.mean()
        sigma = self._stdev
        grad_center = ((r_plus - r_minus) * 0.5) @ noise / num_pairs
        grad_stdev = (((r_plus + r_minus) * 0.5 - baseline) @ (noise**2 - sigma**2)) / sigma / num_pairs

        t = self._generation
        decay_index = t // self.center_lr_decay_steps
        step_size = self.center_learning_rate * self.center_lr_decay_coef**decay_index
        g = -grad_center  # descend -fitness
        if self.optimizer_name == "adam":
            assert self._adam_m is not None and self._adam_v is not None
            b1, b2 = self.adam_beta1, self.adam_beta2
            i = decay_index if self.adam_bias_correction == "evojax" else t
            self._adam_m = (1 - b1) * g + b1 * self._adam_m
            self._adam_v = (1 - b2) * g**2 + b2 * self._adam_v
            m_hat = self._adam_m / (1 - b1 ** (i + 1))
            v_hat = self._adam_v / (1 - b2 ** (i + 1))
            self._center = self._center - step_size * m_hat / (np.sqrt(v_hat) + self.adam_epsilon)
        elif self.optimizer_name == "clipup":
            assert self._velocity is not None
            if self.clipup_normalize:
                norm = math.sqrt(float(g @ g))
                g = g / norm if norm > 0 else g
            velocity = self.clipup_momentum * self._velocity + step_size * g
            speed = math.sqrt(float(velocity @ velocity))
            if speed > self.clipup_max_speed:
                velocity = velocity * (self.clipup_max_speed / speed)
            self._velocity = velocity
            self._center = self._center - velocity
        else:  # sgd
            self._center = self._center - step_size * g

        allowed = np.abs(sigma) * self.stdev_max_change
        self._stdev = np.clip(sigma + self.stdev_learning_rate * grad_stdev, sigma - allowed, sigma + allowed)

        self.last_shaped_fitness = r
        self._generation = t + 1
        self._noise = None
        self._num_asked_in_gen = 0


def _check_settings(
    *,
    popsize: int,
    center_learning_rate: float,
    stdev_learning_rate: float,
    init_stdev: float,
    stdev_max_change: float,
    optimizer: str,
    adam_bias_correction: str,
    center_lr_decay_steps: int,
) -> None:
    if isinstance(popsize, bool) or not isinstance(popsize, (int, np.integer)):
        raise ValueError(f"PGPE: popsize must be an even integer >= 2, got {popsize!r}")
    if popsize < 2 or popsize % 2:
        raise ValueError(
            f"PGPE: popsize must be an even integer >= 2 (antithetic pairs), got popsize={popsize}"
        )
    for name, value in (
        ("center_learning_rate", center_learning_rate),
        ("stdev_learning_rate", stdev_learning_rate),
        ("stdev_max_change", stdev_max_change),
    ):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"PGPE: {name} must be a finite number >= 0, got {value!r}")
    if not (np.isscalar(init_stdev) and np.isfinite(init_stdev) and init_stdev > 0):
        raise ValueError(f"PGPE: init_stdev must be a finite scalar > 0, got {init_stdev!r}")
    if optimizer not in _OPTIMIZERS:
        raise ValueError(f"PGPE: optimizer must be one of {_OPTIMIZERS}, got {optimizer!r}")
    if adam_bias_correction not in _BIAS_CORRECTIONS:
        raise ValueError(
            f"PGPE: adam_bias_correction must be one of {_BIAS_CORRECTIONS}, got {adam_bias_correction!r}"
        )
    if int(center_lr_decay_steps) < 1:
        raise ValueError(f"PGPE: center_lr_decay_steps must be >= 1, got {center_lr_decay_steps!r}")


class ParametrizedPGPE(base.ConfiguredOptimizer):
    """PGPE family (evojax PGPE).  See the module docstring for the equations.

    Parameters
    ----------
    popsize: int
        number of candidates per generation, even (antithetic pairs); budget-independent.
    center_learning_rate: float
        step size of the center optimizer (0.01).
    stdev_learning_rate: float
        learning rate of the per-parameter standard deviation (0.07).
    init_stdev: float
        initial standard deviation of every parameter, standardized space (0.04).
    stdev_max_change: float
        maximal relative change of each stdev per generation (0.2 = +-20%).
    optimizer: str
        "adam" (default), "clipup" or "sgd".
    adam_beta1, adam_beta2, adam_epsilon: float
        Adam constants (0.9, 0.999, 1e-8).
    adam_bias_correction: str
        "evojax" (default; bias-correction index floor(t / center_lr_decay_steps), as evojax
        does) or "standard" (index t).
    clipup_momentum, clipup_max_speed, clipup_normalize:
        ClipUp settings (evojax defaults 0.9, 0.15, True).
    center_lr_decay_coef, center_lr_decay_steps:
        step size = center_learning_rate * coef ** floor(t / steps) (evojax defaults 1.0, 1000).
    """

    # pylint: disable=unused-argument,too-many-arguments
    def __init__(
        self,
        *,
        popsize: int = 64,
        center_learning_rate: float = 0.01,
        stdev_learning_rate: float = 0.07,
        init_stdev: float = 0.04,
        stdev_max_change: float = 0.2,
        optimizer: str = "adam",
        adam_beta1: float = 0.9,
        adam_beta2: float = 0.999,
        adam_epsilon: float = 1e-8,
        adam_bias_correction: str = "evojax",
        clipup_momentum: float = 0.9,
        clipup_max_speed: float = 0.15,
        clipup_normalize: bool = True,
        center_lr_decay_coef: float = 1.0,
        center_lr_decay_steps: int = 1000,
    ) -> None:
        super().__init__(_PGPE, locals())


def _register(name: str, configured: ParametrizedPGPE) -> ParametrizedPGPE:
    """Register under ``name``, replacing a previous registration by this module (re-import/reload)."""
    existing = registry.get(name)
    if existing is not None:
        if type(existing).__module__ != __name__:
            raise RuntimeError(f"an optimizer named {name!r} is already registered by {existing!r}")
        registry.unregister(name)
    configured.set_name(name, register=True)
    return configured


PGPE = _register("PGPE", ParametrizedPGPE())
