"""Consistent initial values for index-1 DAEs M du/dt = f(u, p, t) with a singular mass matrix.

Zero rows of M are algebraic equations 0 = f_i(u); zero columns are the algebraic variables. With the
differential variables held at their given values, a few Newton iterations solve the algebraic
equations for the algebraic variables (the pairing of equations and variables is by index, as in a
diagonal mass matrix, the usual case).
"""
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from .jacobian import jacobian, time_derivative


def algebraic_mask(mass):
    """Boolean mask of the algebraic equations/variables: returns True for the zero rows of the mass matrix
    ``mass``."""
    return jnp.all(mass == 0, axis=1)


@partial(jax.jit, static_argnums=(0, 5))
def initialize_dae(f, u0, p, t0, mass, iterations=8, rtol=1e-6, atol=1e-8):
    """(u0 with its algebraic components corrected so that the algebraic equations hold at t0, converged).
    Newton on the algebraic components, the differential ones held; ``converged``: the last Newton update is
    within the tolerance, |Δu_i| ≤ ``atol`` + ``rtol``·|u_i| for every i (the solve's tolerances), and everything
    is finite. Compiled once per
    right-hand side (``f`` must be hashable), so eager solves do not pay op-by-op dispatch. ``p``: the
    parameters; ``mass``: the mass matrix (its zero rows are the algebraic equations); ``iterations``: the
    Newton iterations on the algebraic components."""
    algebraic = algebraic_mask(mass)
    n = u0.shape[0]
    eye = jnp.eye(n, dtype=u0.dtype)

    def newton(_, carry):
        u, _ = carry
        residual = jnp.where(algebraic, f(u, p, t0), 0.0)
        # Algebraic rows: ∂f_i/∂u_j over algebraic columns j; differential rows: keep u_i fixed.
        matrix = jnp.where(algebraic[:, None], jacobian(f, u, p, t0) * algebraic[None, :], eye)
        matrix = jnp.where(algebraic[:, None] & ~jnp.any(algebraic[None, :] & (matrix != 0), axis=1,
                                                         keepdims=True), eye, matrix)
        update = jnp.linalg.solve(matrix, residual)
        return u - update, update

    u, last = lax.fori_loop(0, iterations, newton, (u0, jnp.zeros_like(u0)))
    within = jnp.abs(last) <= atol + rtol * jnp.abs(u)
    return u, jnp.all(within & jnp.isfinite(u))


def consistent_initial_state(f, u0, p, t0, mass, iterations=8):
    """u0 with its algebraic components corrected so that the algebraic equations hold at t0 (`initialize_dae`
    without its convergence flag). ``p``: the parameters; ``mass``: the mass matrix (its zero rows are the
    algebraic equations); ``iterations``: the Newton iterations. Returns the corrected state."""
    return initialize_dae(f, u0, p, t0, mass, iterations)[0]


def consistent_derivative(f, u, p, t, mass, jac, f_u):
    """du/dt at a consistent state of M du/dt = f(u, p, t) (index ≤ 1), given ``jac`` = ∂f/∂u and
    ``f_u`` = f(u, p, t): the differential rows solve M u' = f; each algebraic equation 0 = f_i(u, t),
    differentiated in time, gives J_i u' = −∂f_i/∂t. For a nonsingular ``mass`` M this is M⁻¹f. Returns
    du/dt."""
    algebraic = algebraic_mask(mass)
    matrix = jnp.where(algebraic[:, None], jac, mass)
    rhs = jnp.where(algebraic, -time_derivative(f, u, p, t), f_u)
    return jnp.linalg.solve(matrix, rhs)
