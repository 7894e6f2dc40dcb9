"""SDE checks, public so users can test their own models: reference SDEs with exact solutions in terms of
the Brownian path, the strong error of a method on the same paths at several step sizes, and the weak
error of an ensemble mean against a known expectation with a confidence interval."""
import math
import statistics
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..noise import VirtualBrownianTree
from ..problems import SDEProblem
from ..solve import solve


class SDEReference(NamedTuple):
    """An SDE ``prob`` with its exact solution ``exact(t, W)`` (W the Brownian path's value at t, shape (m,))."""
    prob: SDEProblem
    exact: Callable


def gbm(mu=1.5, sigma=0.2, u0=(1.0, 0.5, 2.0, 1.5), noise_type="diagonal", interpretation="ito"):
    """Geometric Brownian motion du = μu dt + σu dW on [0, 1] (mu = μ, sigma = σ; noise_type "diagonal": one
    process per state, "scalar": one shared; interpretation "ito" or "stratonovich"). Returns the
    `SDEReference` with u(t) = u0 exp((μ − σ²/2) t + σ W(t)) (Itô) or u0 exp(μt + σW(t)) (Stratonovich)."""
    u0 = jnp.asarray(u0, float)
    prob = SDEProblem(lambda u, p, t: p[0] * u, lambda u, p, t: p[1] * u, u0, (0.0, 1.0), p=jnp.array([mu, sigma]),
                      noise_type=noise_type, interpretation=interpretation)
    shift = sigma ** 2 / 2 if interpretation == "ito" else 0.0
    return SDEReference(prob, lambda t, W: u0 * jnp.exp((mu - shift) * t + sigma * W))


def additive_linear(alpha=0.1, beta=0.05, u0=(0.5, 1.0)):
    """du = (β/√(1+t) − u/(2(1+t))) dt + αβ/√(1+t) dW (alpha = α, beta = β; additive, diagonal; Kloeden &
    Platen 1992, eq. 4.4.23, StochasticDiffEq.jl's additive test problem). Returns the `SDEReference` with
    u(t) = u0/√(1+t) + β(t + αW(t))/√(1+t)."""
    u0 = jnp.asarray(u0, float)
    f = lambda u, p, t: p[1] / jnp.sqrt(1 + t) - u / (2 * (1 + t))
    g = lambda u, p, t: p[0] * p[1] / jnp.sqrt(1 + t) * jnp.ones_like(u)
    prob = SDEProblem(f, g, u0, (0.0, 1.0), p=jnp.array([alpha, beta]), noise_type="additive")
    return SDEReference(prob, lambda t, W: u0 / jnp.sqrt(1 + t) + beta * (t + alpha * W) / jnp.sqrt(1 + t))


def general_commuting_linear(a=(0.3, -0.2, 0.1), b=((0.4, 0.1), (0.2, 0.3), (0.1, 0.5)), u0=(1.0, 0.8, 1.2)):
    """du = A u dt + Σ_k B_k u dW_k with diagonal (so commuting) A = diag(a), B_k = diag(b[:, k]): general
    (n × m) noise g(u) = b * u[:, None]. Returns the `SDEReference` with the Itô solution
    u(t) = u0 exp((a − ½ Σ_k b_k²) t + b W(t))."""
    a, b, u0 = jnp.asarray(a, float), jnp.asarray(b, float), jnp.asarray(u0, float)
    prob = SDEProblem(lambda u, p, t: p[0] * u, lambda u, p, t: p[1] * u[:, None], u0, (0.0, 1.0), p=(a, b),
                      noise_type="general", noise_rate_prototype=jnp.zeros(b.shape))
    return SDEReference(prob, lambda t, W: u0 * jnp.exp((a - 0.5 * jnp.sum(b ** 2, axis=1)) * t + b @ W))


class OrnsteinUhlenbeck(NamedTuple):
    """dX = θ(μ − X) dt + σ dW: the problem ``prob`` and its ``mean`` and ``var`` (variance) at time t
    (Gaussian, closed form)."""
    prob: SDEProblem
    mean: Callable
    var: Callable


def ornstein_uhlenbeck(theta=1.0, mu=0.5, sigma=0.3, x0=(1.5, -0.5)):
    """dX = θ(μ − X) dt + σ dW from x0 on [0, 1] (theta = θ, mu = μ, sigma = σ; additive noise). Returns the
    `OrnsteinUhlenbeck` (problem, mean(t) = μ + (x0 − μ)e^{−θt}, var(t) = σ²(1 − e^{−2θt})/(2θ))."""
    x0 = jnp.asarray(x0, float)
    prob = SDEProblem(lambda u, p, t: p[0] * (p[1] - u), lambda u, p, t: p[2] * jnp.ones_like(u), x0, (0.0, 1.0),
                      p=jnp.array([theta, mu, sigma]), noise_type="additive")
    mean = lambda t: mu + (x0 - mu) * jnp.exp(-theta * t)
    var = lambda t: sigma ** 2 / (2 * theta) * (1 - jnp.exp(-2 * theta * t)) * jnp.ones_like(x0)
    return OrnsteinUhlenbeck(prob, mean, var)


def strong_errors(reference: SDEReference, alg, dts, n_paths=100, seed=0):
    """E|u_N − u(T)| (max over components, mean over ``n_paths`` paths from ``seed``) of ``alg`` on the
    `SDEReference` ``reference``, at each fixed step size in
    ``dts``, every step size on the same paths: a virtual Brownian tree deep enough that the steps'
    endpoints (for dyadic step sizes) are exact tree nodes. Adaptive methods run at the fixed steps
    (adaptive=False). Returns a numpy array, one error per dt."""
    t0, t1 = (float(x) for x in reference.prob.tspan)
    depth = max(int(math.ceil(math.log2((t1 - t0) / min(dts)) - 1e-9)), 0)
    prob = reference.prob.remake(noise=VirtualBrownianTree(depth))
    keys = jax.random.split(jax.random.PRNGKey(seed), n_paths)

    def one(key, dt):
        sol = solve(prob, alg, dt=dt, key=key, adaptive=False, save_everystep=False)
        return jnp.max(jnp.abs(sol.u[-1] - reference.exact(sol.t[-1], sol.W[-1])))

    mean_error = jax.jit(lambda dt: jnp.mean(jax.vmap(one, in_axes=(0, None))(keys, dt)))   # one compile for all dt
    return np.asarray([float(mean_error(jnp.asarray(dt, float))) for dt in dts])


class WeakError(NamedTuple):
    """A Monte Carlo estimate of E[X] − expected: ``error`` with ``half_width``, the half-width of its ``level``
    confidence interval (normal approximation, standard error of the sample mean), the interval itself
    (``lower``, ``upper``) and the number of samples ``n``.
    """
    error: np.ndarray
    half_width: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n: int


def weak_error(samples, expected, level=0.95) -> WeakError:
    """Returns the `WeakError` of ``samples`` (trajectories along axis 0, e.g. ``ens.u[:, -1]`` or a function
    of it) against its known expectation ``expected`` (broadcast against one sample), with a confidence
    interval at ``level``."""
    x = np.asarray(samples, dtype=float)
    if x.ndim < 1 or x.shape[0] < 2:
        raise ValueError(f"samples: need at least two trajectories along axis 0; got shape {x.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level}")
    n = x.shape[0]
    error = x.mean(axis=0) - np.asarray(expected, dtype=float)
    z = statistics.NormalDist().inv_cdf(0.5 + level / 2)
    half = z * x.std(axis=0, ddof=1) / math.sqrt(n)
    return WeakError(error, half, error - half, error + half, n)
