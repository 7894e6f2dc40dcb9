"""The simplified Newton iteration of implicit methods (ESDIRK stages, Radau IIA collocation, BDF
correctors): z ← z + Δz with Δz from the frozen iteration matrix W, until the error of the iterate, read
off the convergence rate, is below ``kappa`` (Hairer & Wanner, Solving ODEs II, IV.8, eqs. (8.10)–(8.13)).

With θ the rate ‖Δz_k‖/‖Δz_{k−1}‖ and η = θ/(1 − θ), the remaining error is about η‖Δz_k‖. The
iteration stops as converged when η‖Δz‖ ≤ κ, and early as failed when it diverges (θ ≥ ``divergence``),
when the iterate is not finite, or (``stop_when_slow``) when even at rate θ the iterations left cannot
reach κ (θ^(left)·η‖Δz‖ > κ): the step is then retried smaller without spending the remaining iterations.

At tight tolerances κ can lie below the rounding error of the iterate itself (TRBDF2 at rtol 1e-12 controls
with rtol^(3/2) = 1e-18, far under one unit in the last place of u ~ 1): the corrections then stagnate at
rounding level (θ ≈ 1, which would read as divergence) and the stage would fail however good the iterate
is. A correction no larger than ``floor``, the norm of 10 rounding units of the iterate (`rounding_floor`),
therefore counts as converged, as RADAU5 bounds its Newton tolerance below by 10·uround/rtol (Hairer &
Wanner, Solving ODEs II, IV.8, and the RADAU5 code's FNEWT).
"""
from typing import Callable, NamedTuple

import jax.numpy as jnp
from jax import lax


class NewtonResult(NamedTuple):
    """The outcome of `simplified_newton`: ``z`` the last iterate; ``iterations`` the corrections computed
    (each one f evaluation and one linear solve); ``eta`` the next solve's starting η (see `next_eta`);
    ``theta`` the last convergence rate (geometric_rate only, else None); ``theta_max`` the largest rate seen;
    ``converged`` (bool)."""
    z: jnp.ndarray             # the last iterate
    iterations: jnp.ndarray    # corrections computed (each one f evaluation and one linear solve)
    eta: jnp.ndarray           # η at the end: the next iteration's starting estimate (see `next_eta`)
    theta: jnp.ndarray | None  # the last convergence rate (0 before two iterations); geometric_rate only
    theta_max: jnp.ndarray     # the largest rate seen (including the ``theta_max`` passed in)
    converged: jnp.ndarray     # bool


def simplified_newton(correction: Callable, size: Callable, z0, eta, kappa, max_iters, *, theta_max=0.0,
                      divergence=1.0, geometric_rate=False, lookahead=1, stop_when_slow=True,
                      floor=0.0) -> NewtonResult:
    """Iterate ``z ← z + correction(z)`` from ``z0``. ``size(dz, z_new)``: the scaled norm of a correction;
    ``eta``: the starting η (from the previous solve, see `next_eta`); ``kappa``: the tolerance on η‖Δz‖.

    The rate is the last ratio of correction sizes, or (``geometric_rate``, Hairer's RADAU5) the geometric
    mean of the last two from the third iteration on; ``lookahead`` is the offset in the count of iterations
    left after iteration k (0-based): max_iters − lookahead − k (RADAU5 counts one fewer: 2).
    ``stop_when_slow=False`` keeps iterating at a rate too slow to converge in time (divergence still stops):
    ESDIRK stages, where the early stop was measured to cost more than it saves (Kvaerno5 on ROBER at
    rtol 1e-6: 127 steps and 15 rejections instead of 95 and 6). ``theta_max``: the largest rate seen so far
    (carried across the stages of a step; the result reports the maximum including it). ``floor``: a correction
    size at or below which the iterate is converged whatever the rate (rounding level, see `rounding_floor`).
    Returns the `NewtonResult`."""
    dtype = jnp.result_type(z0)
    real = jnp.finfo(dtype).dtype
    tiny = jnp.finfo(real).tiny

    def cond(s):
        return ~s[-2] & ~s[-1] & (s[2] < max_iters)

    # The loop carries only what the rate estimate needs: the last ratio and rate for the geometric mean
    # (a scalar more per iteration costs a kernel on XLA:CPU; the other methods' graphs stay as small).
    def body(s):
        z, prev, it, eta, theta_max, rates, _, _ = s
        dz = correction(z)
        z = z + dz
        norm = size(dz, z)
        later = it > 0
        ratio = norm / jnp.maximum(prev, tiny)
        if geometric_rate:
            ratio_prev, theta = rates
            theta = jnp.where(later, jnp.where(it == 1, ratio, jnp.sqrt(ratio * ratio_prev)), theta)
            rates = (ratio, theta)
        else:
            theta = ratio
        diverging = later & (theta >= divergence)
        eta = jnp.where(later & ~diverging, theta / jnp.maximum(1.0 - theta, tiny), eta)
        theta_max = jnp.where(later, jnp.maximum(theta_max, theta), theta_max)
        left = jnp.maximum(max_iters - lookahead - it, 0).astype(real)
        hopeless = later & ~diverging & (theta ** left * eta * norm > kappa) if stop_when_slow else False
        at_rounding = (norm <= floor) | (norm <= 1e-10 * kappa)   # stagnating at rounding level is converged
        failed = ~jnp.isfinite(norm) | ((diverging | hopeless) & ~at_rounding)
        done = ~failed & ((eta * norm <= kappa) | at_rounding)
        return z, norm, it + 1, eta, theta_max, rates, done, failed

    zero = jnp.zeros((), real)
    start = (z0, jnp.ones((), real), jnp.zeros((), jnp.int32), jnp.asarray(eta, real), jnp.asarray(theta_max, real),
             (zero, zero) if geometric_rate else (), jnp.asarray(False), jnp.asarray(False))
    z, _, iterations, eta, theta_max, rates, done, _ = lax.while_loop(cond, body, start)
    return NewtonResult(z, iterations, eta, rates[1] if geometric_rate else None, theta_max, done)


def next_eta(eta, dtype):
    """η to start the next solve from: returns max(``eta``, eps)^0.8 (Hairer & Wanner IV.8, after (8.12)), eps
    the machine epsilon of ``dtype``."""
    return jnp.maximum(eta, jnp.finfo(dtype).eps) ** 0.8


def rounding_floor(norm: Callable, scale):
    """The Newton ``floor`` of `simplified_newton`: ``norm(v)`` (the scaled norm of the corrections) of 10
    rounding units of ``scale`` (the iterate's magnitude, e.g. the stage value). Returns a scalar: about
    10·uround/rtol for a relative tolerance rtol (RADAU5's lower bound on its Newton tolerance)."""
    eps = jnp.finfo(jnp.result_type(scale)).eps
    return norm(10.0 * eps * jnp.abs(scale))
