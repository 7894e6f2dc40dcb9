"""Observation models: how data scatter around the model's predictions.

``sigma`` is a known number (scalar, or one per observed component) or a `Prior`, in which case the noise
scale is estimated with the other parameters (it appears in the posterior as ``"sigma"``).
"""
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy import special, stats

from .priors import Prior


class Likelihood:
    """Base class: ``noise_priors()`` (estimated noise parameters), ``pointwise(data, pred, noise)`` (the log
    likelihood of each observation, −∞ where impossible), ``sample(key, pred, noise)`` and ``check_data(data)``."""

    def log_prob(self, data, pred, noise):
        """Returns the total log likelihood of ``data`` given ``pred`` and ``noise``: the sum of `pointwise`."""
        return jnp.sum(self.pointwise(data, pred, noise))

    def noise_priors(self):
        """Returns the estimated noise parameters as name -> `Prior` (empty when the noise is known)."""
        return {}

    def check_data(self, data):
        """Raise a ValueError when ``data`` cannot come from this observation model (any finite data here). Returns
        None."""
        pass

    def check_prediction_shape(self, shape):
        """Raise a ValueError when predictions of ``shape`` do not fit the noise parameters' shape. Returns None."""
        pass


class _Scaled(Likelihood):
    def __init__(self, sigma):
        if isinstance(sigma, Prior):
            self.sigma = sigma
        else:
            if not np.all(np.asarray(sigma, dtype=float) > 0) or not np.all(np.isfinite(sigma)):
                raise ValueError(f"{type(self).__name__}: sigma must be positive and finite, or a Prior to estimate "
                                 f"it; got {sigma!r}")
            self.sigma = jnp.asarray(sigma, dtype=float)

    def noise_priors(self):
        return {"sigma": self.sigma} if isinstance(self.sigma, Prior) else {}

    def _sigma(self, noise):
        return noise["sigma"] if isinstance(self.sigma, Prior) else self.sigma

    def noise_shape(self, obs_shape):
        """sigma is one number, or one per observed component (the last axis of the data)."""
        if isinstance(self.sigma, Prior):
            shapes = [np.shape(v) for v in vars(self.sigma).values() if np.ndim(v)]
            return shapes[0] if shapes else ()
        return np.shape(self.sigma)

    def check_prediction_shape(self, shape):
        s = self.noise_shape(shape)
        if s and (len(shape) < 2 or s != tuple(shape[-1:])):
            raise ValueError(f"{type(self).__name__}: sigma has shape {s}; it must be a scalar or have one entry "
                             f"per observed component (data shape {tuple(shape)})")

    def __repr__(self):
        return f"{type(self).__name__}(sigma={self.sigma!r})"


class Gaussian(_Scaled):
    """data ~ Normal(prediction, sigma)."""

    def pointwise(self, data, pred, noise):
        """Returns the log likelihood of each observation in ``data`` (−∞ where impossible) given the predictions
        ``pred`` and the estimated ``noise`` parameters (a dict): the normal log density with standard deviation
        sigma."""
        return stats.norm.logpdf(data, pred, self._sigma(noise))

    def sample(self, key, pred, noise):
        """Returns synthetic observations around the predictions ``pred`` (drawn with the PRNG ``key``; ``noise``:
        the noise parameters): pred + sigma·N(0, 1)."""
        return pred + self._sigma(noise) * jax.random.normal(key, jnp.shape(pred))


class LogNormal(_Scaled):
    """log data ~ Normal(log prediction, sigma): multiplicative noise on positive data (populations,
    concentrations). A prediction ≤ 0 has zero likelihood."""

    def check_data(self, data):
        """Raise a ValueError when ``data`` cannot come from this observation model (data must be positive). Returns
        None."""
        if not np.all(np.asarray(data) > 0):
            raise ValueError("data: a LogNormal likelihood needs positive data; got values ≤ 0")

    def pointwise(self, data, pred, noise):
        """Returns the log likelihood of each observation in ``data`` (−∞ where impossible) given the predictions
        ``pred`` and the estimated ``noise`` parameters (a dict): the normal log density of log data around log
        pred."""
        safe = jnp.where(pred > 0, pred, 1.0)
        ll = stats.norm.logpdf(jnp.log(data), jnp.log(safe), self._sigma(noise)) - jnp.log(data)
        return jnp.where(pred > 0, ll, -jnp.inf)

    def sample(self, key, pred, noise):
        """Returns synthetic observations around the predictions ``pred`` (drawn with the PRNG ``key``; ``noise``:
        the noise parameters): pred·exp(sigma·N(0, 1))."""
        return pred * jnp.exp(self._sigma(noise) * jax.random.normal(key, jnp.shape(pred)))


class Poisson(Likelihood):
    """Counts ~ Poisson(rate = prediction). A negative rate has zero likelihood."""

    def check_data(self, data):
        """Raise a ValueError when ``data`` cannot come from this observation model (non-negative integer counts).
        Returns None."""
        data = np.asarray(data)
        if np.any(data < 0) or np.any(data != np.round(data)):
            raise ValueError("data: a Poisson likelihood needs non-negative integer counts")

    def pointwise(self, data, pred, noise):
        """Returns the log likelihood of each observation in ``data`` (−∞ where impossible) given the predictions
        ``pred`` and the estimated ``noise`` parameters (a dict): the Poisson log probability with rate ``pred``."""
        rate = jnp.where(pred > 0, pred, 1.0)
        ll = data * jnp.log(rate) - rate - special.gammaln(data + 1.0)
        # a rate of exactly zero is fine for zero counts (probability one); below zero, or counts at zero, not
        return jnp.where(pred > 0, ll, jnp.where((pred == 0) & (data == 0), 0.0, -jnp.inf))

    def sample(self, key, pred, noise):
        """Returns synthetic observations around the predictions ``pred`` (drawn with the PRNG ``key``; ``noise``:
        the noise parameters): Poisson counts with rate ``pred``."""
        return jax.random.poisson(key, jnp.maximum(pred, 0.0)).astype(jnp.result_type(float))

    def __repr__(self):
        return "Poisson()"


__all__ = ["Gaussian", "Likelihood", "LogNormal", "Poisson"]
