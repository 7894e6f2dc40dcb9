"""Prior distributions, each with the transform from the real line onto its support.

Samplers move on an unconstrained vector θ; a prior maps its block of θ onto its support and returns the log
density of the value *including* the log-Jacobian of that map, so that the density sampled in θ is the
posterior density of the constrained values. Each distribution keeps its parameters as arrays broadcast
against the block's shape (one prior can cover a whole parameter vector, or give each element its own scale).
"""
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy import special, stats


# --- supports: the bijection R -> support, its inverse and log |d value / d θ| ---------------------------------------

@dataclass(frozen=True)
class Real:
    def forward(self, z):
        return z, jnp.zeros_like(z)

    def inverse(self, x):
        return x

    def contains(self, x):
        return np.isfinite(x)


@dataclass(frozen=True)
class GreaterThan:
    """(low, ∞) by low + exp(z)."""
    low: float = 0.0

    def forward(self, z):
        return self.low + jnp.exp(z), z

    def inverse(self, x):
        return jnp.log(x - self.low)

    def contains(self, x):
        return np.asarray(x) > self.low


@dataclass(frozen=True)
class Interval:
    """(low, high) by low + (high − low)·sigmoid(z)."""
    low: float
    high: float

    def forward(self, z):
        width = self.high - self.low
        return self.low + width * jax.nn.sigmoid(z), jnp.log(width) + jax.nn.log_sigmoid(z) + jax.nn.log_sigmoid(-z)

    def inverse(self, x):
        s = (x - self.low) / (self.high - self.low)
        return jnp.log(s) - jnp.log1p(-s)

    def contains(self, x):
        return (np.asarray(x) > self.low) & (np.asarray(x) < self.high)


class Prior:
    """A distribution over one block of parameters: ``log_prob``, ``sample``, ``support`` and a ``typical``
    value (used to start chains when the problem gives none). Subclasses set the fields and these methods."""
    support = Real()

    def log_prob(self, x):
        """Returns the log density at ``x`` (elementwise, shaped like ``x``) of the constrained value (without the
        support map's Jacobian); subclasses implement it."""
        raise NotImplementedError

    def sample(self, key, shape):
        """Returns draws of the given ``shape`` from the PRNG ``key``; subclasses implement it."""
        raise NotImplementedError

    @property
    def typical(self):
        return self._typical()

    def _typical(self):
        raise NotImplementedError

    # the block interface used by `Model`: how many unconstrained numbers it takes for ``shape`` values
    def unconstrained_size(self, shape):
        """Returns how many unconstrained numbers a block of ``shape`` values takes (one per value here)."""
        return int(np.prod(shape, dtype=int))

    def constrain(self, z, shape):
        """Map the unconstrained block ``z`` onto the support as a value of ``shape``. Returns (value, log prior
        density of z): log p(value) + log |Jacobian| of the support map, summed over the block.
        """
        x, log_jac = self.support.forward(z.reshape(shape))
        return x, jnp.sum(self.log_prob(x) + log_jac)

    def unconstrain(self, value, shape):
        """Returns the unconstrained block (flat) whose `constrain` gives ``value`` broadcast to ``shape``."""
        return jnp.ravel(self.support.inverse(jnp.broadcast_to(value, shape)))

    def check_shape(self, shape, where):
        """Refuse parameters that are not finite (bounds of a TruncatedNormal may be infinite) or that do not
        broadcast against the block of ``shape`` they cover; ``where`` names the block in the error. Returns None.
        """
        for name, v in vars(self).items():
            if not (isinstance(self, TruncatedNormal) and name in ("low", "high")) and \
                    not np.all(np.isfinite(np.asarray(v, dtype=float))):
                raise ValueError(f"priors[{where!r}]: {type(self).__name__}.{name} must be finite; got "
                                 f"{np.asarray(v).tolist()!r}")
            vshape = np.shape(v)
            try:
                if np.broadcast_shapes(vshape, shape) != tuple(shape):
                    raise ValueError
            except ValueError:
                raise ValueError(f"priors[{where!r}]: {type(self).__name__}.{name} has shape {vshape}, which does "
                                 f"not broadcast to the parameter's shape {tuple(shape)}") from None

    def __repr__(self):
        args = ", ".join(f"{k}={np.asarray(v).tolist()!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


def _positive(name, value, cls):
    if not np.all(np.asarray(value) > 0):
        raise ValueError(f"{cls}: {name} must be positive; got {value!r}")
    return jnp.asarray(value, dtype=float)


class Normal(Prior):
    """The normal distribution N(``loc``, ``scale``) on the real line: mean ``loc``, standard deviation
    ``scale`` > 0 (arrays broadcast against the parameter's shape).
    """
    def __init__(self, loc=0.0, scale=1.0):
        self.loc, self.scale = jnp.asarray(loc, dtype=float), _positive("scale", scale, "Normal")

    def log_prob(self, x):
        """Returns the log density at ``x`` (elementwise, shaped like ``x``): the Gaussian log density."""
        return stats.norm.logpdf(x, self.loc, self.scale)

    def sample(self, key, shape):
        """Returns draws of the given ``shape`` from the PRNG ``key``."""
        return self.loc + self.scale * jax.random.normal(key, shape)

    def _typical(self):
        return self.loc


class Cauchy(Prior):
    """The Cauchy distribution with location ``loc`` and scale ``scale``: a heavy-tailed prior on the real
    line, with median ``loc`` and half-width at half-maximum ``scale`` > 0.
    """
    def __init__(self, loc=0.0, scale=1.0):
        self.loc, self.scale = jnp.asarray(loc, dtype=float), _positive("scale", scale, "Cauchy")

    def log_prob(self, x):
        """Returns the log density at ``x`` (elementwise, shaped like ``x``)."""
        return stats.cauchy.logpdf(x, self.loc, self.scale)

    def sample(self, key, shape):
        """Returns draws of the given ``shape`` from the PRNG ``key``."""
        return self.loc + self.scale * jax.random.cauchy(key, shape)

    def _typical(self):
        return self.loc


class LogNormal(Prior):
    """log x ~ Normal(loc, scale)."""
    support = GreaterThan(0.0)

    def __init__(self, loc=0.0, scale=1.0):
        self.loc, self.scale = jnp.asarray(loc, dtype=float), _positive("scale", scale, "LogNormal")

    def log_prob(self, x):
        """Returns the log density at ``x`` (elementwise, shaped like ``x``) of x > 0 (with the 1/x of the change of
        variables)."""
        return stats.norm.logpdf(jnp.log(x), self.loc, self.scale) - jnp.log(x)

    def sample(self, key, shape):
        """Returns draws of the given ``shape`` from the PRNG ``key``."""
        return jnp.exp(self.loc + self.scale * jax.random.normal(key, shape))

    def _typical(self):
        return jnp.exp(self.loc)


class HalfNormal(Prior):
    """|Normal(0, ``scale``)|: a positive parameter, e.g. a noise level; ``scale`` > 0. Sampled as log x."""
    support = GreaterThan(0.0)

    def __init__(self, scale=1.0):
        self.scale = _positive("scale", scale, "HalfNormal")

    def log_prob(self, x):
        """Returns the log density at ``x`` (elementwise, shaped like ``x``)."""
        return stats.norm.logpdf(x, 0.0, self.scale) + math.log(2.0)

    def sample(self, key, shape):
        """Returns draws of the given ``shape`` from the PRNG ``key``."""
        return jnp.abs(self.scale * jax.random.normal(key, shape))

    def _typical(self):
        return 0.6745 * self.scale          # the median


class HalfCauchy(Prior):
    """|Cauchy(0, ``scale``)|: a positive parameter with a heavy tail (a scale that may be large); ``scale`` > 0.
    Sampled as log x.
    """
    support = GreaterThan(0.0)

    def __init__(self, scale=1.0):
        self.scale = _positive("scale", scale, "HalfCauchy")

    def log_prob(self, x):
        """Returns the log density at ``x`` (elementwise, shaped like ``x``)."""
        return stats.cauchy.logpdf(x, 0.0, self.scale) + math.log(2.0)

    def sample(self, key, shape):
        """Returns draws of the given ``shape`` from the PRNG ``key``."""
        return jnp.abs(self.scale * jax.random.cauchy(key, shape))

    def _typical(self):
        return self.scale                   # the median


class Exponential(Prior):
    """Exponential with ``rate`` > 0 (mean 1/rate) on x > 0. Sampled as log x."""
    support = GreaterThan(0.0)

    def __init__(self, rate=1.0):
        self.rate = _positive("rate", rate, "Exponential")

    def log_prob(self, x):
        """Returns the log density at ``x`` (elementwise, shaped like ``x``)."""
        return jnp.log(self.rate) - self.rate * x

    def sample(self, key, shape):
        """Returns draws of the given ``shape`` from the PRNG ``key``."""
        return jax.random.exponential(key, shape) / self.rate

    def _typical(self):
        return math.log(2.0) / self.rate


class Gamma(Prior):
    """Gamma in the shape–rate parametrisation: ``concentration`` (shape) > 0 and ``rate`` > 0, mean
    concentration/rate, on x > 0. Sampled as log x.
    """
    support = GreaterThan(0.0)

    def __init__(self, concentration, rate=1.0):
        self.concentration = _positive("concentration", concentration, "Gamma")
        self.rate = _positive("rate", rate, "Gamma")

    def log_prob(self, x):
        """Returns the log density at ``x`` (elementwise, shaped like ``x``)."""
        return stats.gamma.logpdf(x * self.rate, self.concentration) + jnp.log(self.rate)

    def sample(self, key, shape):
        """Returns draws of the given ``shape`` from the PRNG ``key``."""
        return jax.random.gamma(key, jnp.broadcast_to(self.concentration, shape)) / self.rate

    def _typical(self):
        return self.concentration / self.rate


class InverseGamma(Prior):
    """Inverse gamma with ``concentration`` (shape) a > 0 and ``scale`` b > 0: density ∝ x^(−a−1) e^(−b/x) on
    x > 0 (the conjugate prior of a Gaussian variance). Sampled as log x.
    """
    support = GreaterThan(0.0)

    def __init__(self, concentration, scale=1.0):
        self.concentration = _positive("concentration", concentration, "InverseGamma")
        self.scale = _positive("scale", scale, "InverseGamma")

    def log_prob(self, x):
        """Returns the log density at ``x`` (elementwise, shaped like ``x``)."""
        a, b = self.concentration, self.scale
        return a * jnp.log(b) - special.gammaln(a) - (a + 1) * jnp.log(x) - b / x

    def sample(self, key, shape):
        """Returns draws of the given ``shape`` from the PRNG ``key``."""
        return self.scale / jax.random.gamma(key, jnp.broadcast_to(self.concentration, shape))

    def _typical(self):
        return self.scale / (self.concentration + 1)     # the mode


class Uniform(Prior):
    """Uniform on (``low``, ``high``) (high > low); sampled through a logistic map of the real line."""
    def __init__(self, low, high):
        if not np.all(np.asarray(high) > np.asarray(low)):
            raise ValueError(f"Uniform: need high > low; got low={low!r}, high={high!r}")
        self.low, self.high = jnp.asarray(low, dtype=float), jnp.asarray(high, dtype=float)

    @property
    def support(self):
        return Interval(self.low, self.high)

    def log_prob(self, x):
        """Returns the log density at ``x`` (elementwise, shaped like ``x``)."""
        return -jnp.log(self.high - self.low) * jnp.ones_like(x)

    def sample(self, key, shape):
        """Returns draws of the given ``shape`` from the PRNG ``key``."""
        return jax.random.uniform(key, shape, minval=self.low, maxval=self.high)

    def _typical(self):
        return 0.5 * (self.low + self.high)


class Beta(Prior):
    """The beta distribution B(``a``, ``b``) on (0, 1), a, b > 0 (mean a/(a + b)); sampled through a logistic map of
    the real line."""
    support = Interval(0.0, 1.0)

    def __init__(self, a, b):
        self.a, self.b = _positive("a", a, "Beta"), _positive("b", b, "Beta")

    def log_prob(self, x):
        """Returns the log density at ``x`` (elementwise, shaped like ``x``)."""
        return stats.beta.logpdf(x, self.a, self.b)

    def sample(self, key, shape):
        """Returns draws of the given ``shape`` from the PRNG ``key``."""
        return jax.random.beta(key, self.a, self.b, shape)

    def _typical(self):
        return self.a / (self.a + self.b)


class TruncatedNormal(Prior):
    """Normal(loc, scale) restricted to (low, high); either bound may be infinite (low=0: a positive
    parameter with a Gaussian prior, as in the NumPyro Lotka–Volterra example)."""

    def __init__(self, loc=0.0, scale=1.0, low=-np.inf, high=np.inf):
        if not np.all(np.asarray(high) > np.asarray(low)):
            raise ValueError(f"TruncatedNormal: need high > low; got low={low!r}, high={high!r}")
        if np.ndim(low) or np.ndim(high):
            raise ValueError("TruncatedNormal: low and high must be scalars (one support per prior)")
        self.loc, self.scale = jnp.asarray(loc, dtype=float), _positive("scale", scale, "TruncatedNormal")
        self.low, self.high = float(low), float(high)

    @property
    def support(self):
        if np.isfinite(self.low) and np.isfinite(self.high):
            return Interval(self.low, self.high)
        if np.isfinite(self.low):
            return GreaterThan(self.low)
        if np.isfinite(self.high):
            return _LessThan(self.high)
        return Real()

    def log_prob(self, x):
        """Returns the log density at ``x`` (elementwise, shaped like ``x``) (normalised by the mass inside (low,
        high))."""
        a, b = (self.low - self.loc) / self.scale, (self.high - self.loc) / self.scale
        log_mass = jnp.log(special.ndtr(b) - special.ndtr(a))
        return stats.norm.logpdf(x, self.loc, self.scale) - log_mass

    def sample(self, key, shape):
        """Returns draws of the given ``shape`` from the PRNG ``key``."""
        a, b = (self.low - self.loc) / self.scale, (self.high - self.loc) / self.scale
        return self.loc + self.scale * jax.random.truncated_normal(key, a, b, shape)

    def _typical(self):             # the median
        a, b = special.ndtr((self.low - self.loc) / self.scale), special.ndtr((self.high - self.loc) / self.scale)
        return self.loc + self.scale * special.ndtri(0.5 * (a + b))


@dataclass(frozen=True)
class _LessThan:
    high: float

    def forward(self, z):
        return self.high - jnp.exp(z), z

    def inverse(self, x):
        return jnp.log(self.high - x)

    def contains(self, x):
        return np.asarray(x) < self.high


class Horseshoe(Prior):
    """The horseshoe (Carvalho, Polson & Scott 2010) for network weights or candidate-term coefficients:
    w_i = z_i·τ·λ_i, z_i ~ N(0, 1), λ_i ~ C⁺(0, 1), τ ~ C⁺(0, global_scale). Sampled non-centred (z, log τ,
    log λ), which removes the funnel between the weights and their scales. Most weights shrink to zero, a few
    escape: the posterior shrinkage κ_i = 1/(1 + τ²λ_i²/s²) (s: the scale a term would need to matter) reads as
    one minus an inclusion probability (`Posterior.shrinkage`, `Posterior.inclusion_probability`).

    global_scale  the prior scale τ₀ of τ; Piironen & Vehtari (2017, Electron. J. Statist. 11, §3) advise
                  τ₀ = p₀/(P − p₀)·σ/√N for p₀ expected non-zero terms among P with N observations of noise σ
                  (the default 1 shrinks little).
    """

    def __init__(self, global_scale=1.0):
        self.global_scale = _positive("global_scale", global_scale, "Horseshoe")
        if np.ndim(global_scale):
            raise ValueError("Horseshoe: global_scale must be a scalar")

    def unconstrained_size(self, shape):
        """Returns 2n + 1 for a block of ``shape`` with n values: z (n), log τ (1) and log λ (n)."""
        n = int(np.prod(shape, dtype=int))
        return 2 * n + 1

    def constrain(self, z, shape):
        """Map the unconstrained block ``z`` = (z, log τ, log λ) to the weights w = z·τ·λ of ``shape``. Returns (w,
        log density of the block): N(0, 1) for z, half-Cauchy for τ and λ, with the log-Jacobians of their log maps.
        """
        n = int(np.prod(shape, dtype=int))
        w, log_tau, log_lam = z[:n], z[n], z[n + 1:]
        tau, lam = jnp.exp(log_tau), jnp.exp(log_lam)
        logp = (jnp.sum(stats.norm.logpdf(w)) + stats.cauchy.logpdf(tau, 0.0, self.global_scale) + math.log(2.0)
                + log_tau + jnp.sum(stats.cauchy.logpdf(lam) + math.log(2.0) + log_lam))
        return (w * tau * lam).reshape(shape), logp

    def scales(self, z, shape):
        """Returns (τ, λ), the global and local scales, of an unconstrained block ``z`` covering a parameter of
        ``shape``."""
        n = int(np.prod(shape, dtype=int))
        return jnp.exp(z[..., n]), jnp.exp(z[..., n + 1:])

    def unconstrain(self, value, shape):
        """Returns an unconstrained block giving the weights ``value`` (broadcast to ``shape``): τ at global_scale, λ
        = 1, z = w/τ."""
        n = int(np.prod(shape, dtype=int))
        tau = self.global_scale
        # start with every weight at the given value: τ at its median, λ = 1, z = w/τ
        return jnp.concatenate([jnp.ravel(jnp.broadcast_to(value, shape)) / tau, jnp.log(jnp.atleast_1d(tau)),
                                jnp.zeros(n)])

    def log_prob(self, x):
        """The horseshoe has no closed-form marginal density of ``x``: raises a TypeError (it is sampled through its
        scales, see `constrain`); never returns."""
        raise TypeError("Horseshoe has no closed-form marginal density; it is sampled through its scales")

    def sample(self, key, shape):
        """Returns draws of the given ``shape`` from the PRNG ``key``: τ, λ from their half-Cauchy priors, w = z·τ·λ."""
        k1, k2, k3 = jax.random.split(key, 3)
        tau = jnp.abs(self.global_scale * jax.random.cauchy(k1, ()))
        return jax.random.normal(k2, shape) * tau * jnp.abs(jax.random.cauchy(k3, shape))

    def _typical(self):
        return 0.0

    def check_shape(self, shape, where):
        """Any ``shape`` is accepted (global_scale is a scalar, checked on construction); ``where`` unused. Returns
        None."""
        pass


__all__ = ["Beta", "Cauchy", "Exponential", "Gamma", "HalfCauchy", "HalfNormal", "Horseshoe", "InverseGamma",
           "LogNormal", "Normal", "Prior", "TruncatedNormal", "Uniform"]
