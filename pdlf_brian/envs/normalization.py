"""Running observation normalisation (spec section 4): statistics from training rollouts only.

``RunningNorm(obs_dim, n_passthrough=1)`` keeps the count, mean and sum of squared deviations of
the first ``obs_dim - n_passthrough`` columns, merged batch by batch (Chan et al.'s parallel form
of Welford's algorithm), so one update with all rows equals many updates with parts of them.
``normalize`` returns ``clip((obs - mean) / sqrt(var + eps), -clip, clip)`` for those columns and
the last ``n_passthrough`` columns (the task value) unchanged. ``frozen`` turns ``update`` into a
no-op (evaluation). ``state_dict`` / ``from_state`` give and take plain JSON-serialisable dicts.
"""
import numpy as np

from pdlf_brian.errors import ConfigError

STATE_VERSION = 1


class RunningNorm:
    """Running mean/variance normaliser with clipping and trailing pass-through columns.

    Args:
        obs_dim: observation width, task value column(s) included.
        n_passthrough: trailing columns left unnormalised (1: the task value; 0 for ``fetch``,
            ``reach``, whose ``FamilySpec.n_task_obs`` is 0).
        clip: bound of the normalised values (5).
        eps: added to the variance before the square root.
        frozen: when True, ``update`` does nothing.
    """

    def __init__(self, obs_dim, n_passthrough=1, clip=5.0, eps=1e-8, frozen=False):
        if not isinstance(obs_dim, (int, np.integer)) or obs_dim < 1:
            raise ConfigError(f"field 'obs_dim': expected a positive integer, got {obs_dim!r}")
        if not isinstance(n_passthrough, (int, np.integer)) or not 0 <= n_passthrough <= obs_dim:
            raise ConfigError(f"field 'n_passthrough': expected an integer in [0, {obs_dim}], got {n_passthrough!r}")
        if not clip > 0:
            raise ConfigError(f"field 'clip': expected a positive number, got {clip!r}")
        self.obs_dim = int(obs_dim)
        self.n_passthrough = int(n_passthrough)
        self.clip = float(clip)
        self.eps = float(eps)
        self.frozen = bool(frozen)
        k = self.n_norm
        self.count = 0
        self.mean = np.zeros(k)
        self.m2 = np.zeros(k)

    @property
    def n_norm(self):
        return self.obs_dim - self.n_passthrough

    @property
    def var(self):
        """Population variance (ones before any data; normalize is then the identity, clipped)."""
        if self.count == 0:
            return np.ones(self.n_norm)
        return self.m2 / self.count

    @property
    def std(self):
        if self.count == 0:
            return np.ones(self.n_norm)
        return np.sqrt(self.var + self.eps)

    def _check(self, obs):
        obs = np.asarray(obs, dtype=np.float64)
        if obs.shape[-1:] != (self.obs_dim,):
            raise ConfigError(f"field 'obs': expected last dimension {self.obs_dim}, got shape {obs.shape}")
        return obs

    def update(self, obs, mask=None):
        """Merge the rows of ``obs`` (..., obs_dim) into the statistics; ``mask`` (obs.shape[:-1],
        bool) keeps only the rows that are True (e.g. live copies). No-op when frozen."""
        if self.frozen:
            return self
        obs = self._check(obs)
        rows = obs.reshape(-1, self.obs_dim)[:, : self.n_norm]
        if mask is not None:
            rows = rows[np.asarray(mask, dtype=bool).reshape(-1)]
        n_b = rows.shape[0]
        if n_b == 0:
            return self
        mean_b = rows.mean(axis=0)
        m2_b = ((rows - mean_b) ** 2).sum(axis=0)
        n_a = self.count
        n = n_a + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta**2 * (n_a * n_b / n)
        self.count = n
        return self

    def merge(self, count, mean, m2):
        """Merge statistics gathered elsewhere (another `RunningNorm`'s ``count, mean, m2``)."""
        if self.frozen or count == 0:
            return self
        mean, m2 = np.asarray(mean, dtype=np.float64), np.asarray(m2, dtype=np.float64)
        n_a, n = self.count, self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / n)
        self.m2 = self.m2 + m2 + delta**2 * (n_a * count / n)
        self.count = n
        return self

    def normalize(self, obs):
        """Normalised copy of ``obs`` (..., obs_dim); the pass-through columns are unchanged."""
        obs = self._check(obs)
        out = obs.copy()
        k = self.n_norm
        out[..., :k] = np.clip((obs[..., :k] - self.mean) / self.std, -self.clip, self.clip)
        return out

    __call__ = normalize

    def freeze(self, frozen=True):
        self.frozen = bool(frozen)
        return self

    def state_dict(self):
        """A plain dict (lists, floats, ints, bools) that ``from_state`` restores exactly."""
        return {
            "version": STATE_VERSION, "obs_dim": self.obs_dim, "n_passthrough": self.n_passthrough,
            "clip": self.clip, "eps": self.eps, "frozen": self.frozen, "count": int(self.count),
            "mean": [float(v) for v in self.mean], "m2": [float(v) for v in self.m2],
        }

    @classmethod
    def from_state(cls, d):
        try:
            if d.get("version") != STATE_VERSION:
                raise ConfigError(f"RunningNorm state field 'version': expected {STATE_VERSION}, got {d.get('version')!r}")
            norm = cls(d["obs_dim"], n_passthrough=d["n_passthrough"], clip=d["clip"], eps=d["eps"],
                       frozen=d["frozen"])
            mean = np.asarray(d["mean"], dtype=np.float64)
            m2 = np.asarray(d["m2"], dtype=np.float64)
            count = int(d["count"])
        except (KeyError, TypeError, AttributeError) as e:
            raise ConfigError(f"RunningNorm state: missing or bad field ({e})") from None
        if mean.shape != (norm.n_norm,) or m2.shape != (norm.n_norm,) or count < 0:
            raise ConfigError(f"RunningNorm state fields 'mean'/'m2'/'count': expected {norm.n_norm} values "
                              f"and count >= 0, got {mean.shape}, {m2.shape}, {count}")
        norm.mean, norm.m2, norm.count = mean, m2, count
        return norm
