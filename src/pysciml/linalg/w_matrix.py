"""W = M/(γh) − J, factorized once per step (dense LU), solved for every stage."""
import jax.numpy as jnp
from jax.scipy.linalg import lu_factor, lu_solve


def factor_w(jac, gamma_h, mass=None):
    """LU factors of W = M/(γh) − J (M = I when ``mass`` is None)."""
    n = jac.shape[0]
    m = jnp.eye(n, dtype=jac.dtype) if mass is None else mass
    return lu_factor(m / gamma_h - jac)


def solve_w(factors, rhs):
    return lu_solve(factors, rhs)
