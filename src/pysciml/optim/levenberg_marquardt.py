"""Levenberg–Marquardt for least squares, min ½‖r(x)‖² over a flat vector x, compiled.

One iteration: the Jacobian J at x (held in the state, with r), the damped Gauss–Newton step
(JᵀJ + μD) h = −Jᵀr solved through the SVD of the column-scaled J (accurate where the normal equations
would square the condition number; a rejected trial reuses the SVD), then trials until one decreases the
cost. The trial's evaluation yields r and J together (forward mode: one vmapped JVP carries the primal),
so an accepted step costs one evaluation.

- damping: Nielsen's rule (H. B. Nielsen, "Damping parameter in Marquardt's method", IMM-REP-1999-05,
  DTU 1999; K. Madsen, H. B. Nielsen, O. Tingleff, "Methods for non-linear least squares problems", 2nd
  ed., DTU 2004, eq. 3.16 and Algorithm 3.16): with gain ratio ρ = actual / predicted decrease, an accepted
  step sets μ ← μ·max(1/3, 1 − (2ρ − 1)³), ν ← 2; a rejected one μ ← μν, ν ← 2ν.
- scaling: D = diag of the largest squared column norms of J seen so far (J. J. Moré, "The Levenberg–
  Marquardt algorithm: implementation and theory", Lecture Notes in Math. 630, 1978, §6), which makes the
  iteration invariant to the units of the parameters (Lorenz σ, ρ, β; SINDy coefficients of x and x·y).
- stopping (as MINPACK's lmder and scipy.optimize.least_squares, tolerances relative): the scaled step
  ‖D^½h‖ ≤ xtol·(‖D^½x‖ + xtol); the largest cosine between r and a column of J ≤ gtol; actual and
  predicted relative decrease of the cost both ≤ ftol; or a zero residual.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._core.trees import select


class LMState(NamedTuple):
    """The Levenberg–Marquardt iteration's state: the point ``x``, residuals ``r`` and their Jacobian ``jac``
    there, ``cost`` = ½‖r‖² (inf while pending), Moré's column ``scale``, the damping ``mu`` and Nielsen's growth
    factor ``nu``, ``converged``, ``k`` accepted iterations and ``evaluations``.
    """
    x: jax.Array          # the point
    r: jax.Array          # residuals at x
    jac: jax.Array        # ∂r/∂x at x, (m, n)
    cost: jax.Array       # ½‖r‖² (inf while pending: x not evaluated yet)
    scale: jax.Array      # D, Moré's column scaling
    mu: jax.Array         # damping (relative to the scaled JᵀJ)
    nu: jax.Array         # Nielsen's growth factor for the damping after a rejection
    converged: jax.Array  # a tolerance was met by the last accepted step
    k: jax.Array          # accepted iterations
    evaluations: jax.Array


def residuals_and_jacobian(residual):
    """Returns ``x -> (r(x), ∂r/∂x)`` for the function ``residual`` by forward mode; the primal r comes out of the
    same vmapped JVP."""
    def flat(x):
        r = jnp.ravel(residual(x))
        return r, r
    jac = jax.jacfwd(flat, has_aux=True)
    return lambda x: jac(x)[::-1]


def lm_pending(evaluate, stage, x):
    """Returns an `LMState` at ``x`` not evaluated yet: the first `lm_step` only evaluates it (not counted as an
    iteration), so a compiled stepping loop holds the single evaluation program. ``evaluate(x) -> (r, J)``;
    ``stage`` (a `LevenbergMarquardt`) gives the initial damping.
    """
    r_shape = jax.eval_shape(evaluate, x)[0]
    r = jnp.zeros(r_shape.shape, x.dtype)
    return LMState(x, r, jnp.zeros((r.size, x.size), x.dtype), jnp.asarray(jnp.inf, x.dtype),
                   jnp.zeros_like(x), jnp.asarray(stage.initial_damping, x.dtype), jnp.asarray(2.0, x.dtype),
                   jnp.asarray(False), jnp.asarray(0), jnp.asarray(0))


def lm_step(evaluate, stage, state):
    """(next state, accepted): one Levenberg–Marquardt iteration from ``state`` with ``evaluate(x) -> (r, J)``
    under the options of ``stage``. ``accepted`` is False when the state had converged already (nothing is
    evaluated then) or when ``stage.max_trials`` trials all failed to decrease the cost (stalled); the state is
    then returned unchanged.
    """
    x, r, jac, cost = state.x, state.r, state.jac, state.cost
    pending = jnp.isinf(cost)
    d = jnp.sqrt(state.scale)
    d = jnp.where(d > 0, d, 1.0)                 # a parameter with no effect on r: unscaled (its step is 0)
    u, s, vt = jnp.linalg.svd(jac / d, full_matrices=False)
    utr = u.T @ r
    grad = jac.T @ r

    def trial(carry):
        mu, nu, _, best, n = carry
        h = jnp.where(pending, 0.0, -(vt.T @ (s * utr / (s * s + mu))) / d)
        r_t, jac_t = evaluate(x + h)
        cost_t = 0.5 * jnp.dot(r_t, r_t)
        predicted = 0.5 * jnp.dot(h, mu * d * d * h - grad)     # L(0) − L(h) of the linear model
        actual = cost - cost_t
        ok = jnp.isfinite(cost_t) & jnp.all(jnp.isfinite(jac_t)) & (pending | ((actual > 0) & (predicted > 0)))
        rho = actual / jnp.where(predicted > 0, predicted, 1.0)
        mu_ok = jnp.where(pending, mu, mu * jnp.maximum(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3))
        # at the start only the point's own tests apply (zero residual, gradient orthogonal to r)
        converged = _stationary(stage, r_t, jac_t, cost_t) | (
            ~pending & _small_step(stage, h * d, x * d, cost, actual, predicted))
        accepted = (x + h, r_t, jac_t, cost_t, converged)
        return (jnp.where(ok, mu_ok, mu * nu), jnp.where(ok, 2.0, 2.0 * nu), ok,
                select(ok, accepted, best), n + 1)

    carry = (state.mu, state.nu, jnp.asarray(False), (x, r, jac, cost, state.converged), 0)
    mu, nu, ok, (x_new, r_new, jac_new, cost_new, converged), n = jax.lax.while_loop(
        lambda c: ~c[2] & ~state.converged & (c[4] < stage.max_trials), trial, carry)
    scale = jnp.maximum(state.scale, jnp.sum(jac_new * jac_new, axis=0))
    new = LMState(x_new, r_new, jac_new, cost_new, scale, mu, nu, converged,
                  state.k + jnp.where(pending, 0, 1), state.evaluations + n)
    # a failed search keeps the point but remembers the larger damping it reached
    failed = state._replace(mu=mu, nu=nu, evaluations=state.evaluations + n)
    return select(ok, new, failed), ok


def _small_step(stage, scaled_step, scaled_x, cost, actual, predicted):
    small_step = jnp.linalg.norm(scaled_step) <= stage.xtol * (jnp.linalg.norm(scaled_x) + stage.xtol)
    small_decrease = (jnp.abs(actual) <= stage.ftol * cost) & (predicted <= stage.ftol * cost)
    return small_step | small_decrease


def _stationary(stage, r, jac, cost):
    norms = jnp.linalg.norm(jac, axis=0) * jnp.linalg.norm(r)
    cosine = jnp.max(jnp.where(norms > 0, jnp.abs(jac.T @ r) / jnp.where(norms > 0, norms, 1.0), 0.0))
    return (cosine <= stage.gtol) | (cost == 0)


def least_squares(residual, x, stage):
    """Minimize ½‖residual(x)‖² from the flat vector ``x`` with the `LevenbergMarquardt` ``stage``, all in one
    compiled loop (call it inside `jax.jit` to compile once); returns the final `LMState` (``converged``
    says whether a tolerance was met within ``stage.steps`` iterations)."""
    evaluate = residuals_and_jacobian(residual)

    def body(carry):
        state, _ = carry
        return lm_step(evaluate, stage, state)

    state, _ = jax.lax.while_loop(lambda c: c[1] & ~c[0].converged & (c[0].k < stage.steps), body,
                                  (lm_pending(evaluate, stage, x), jnp.asarray(True)))
    return state

