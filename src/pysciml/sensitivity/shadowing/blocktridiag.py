"""Symmetric positive definite block-tridiagonal systems, by block Cholesky (the block Thomas algorithm):
O(m n³) work and O(m n²) memory for m blocks of n×n, two `lax.scan` sweeps. The least-squares shadowing
Schur complement B W⁻¹ Bᵀ has this shape."""
import jax.numpy as jnp
from jax import lax
from jax.scipy.linalg import cho_factor, cho_solve


def solve_spd_block_tridiagonal(diag, lower, rhs):
    """Solve A x = rhs for A with diagonal blocks ``diag`` (m, n, n), sub-diagonal blocks ``lower``
    (m − 1, n, n) (A[i+1, i] = lower[i], A[i, i+1] = lower[i]ᵀ) and ``rhs`` (m, n, k)."""
    def eliminate(carry, blocks):
        chol_prev, y_prev = carry
        d, l_prev, r = blocks
        # Schur complement of the previous pivot: D_i − L_{i−1} D̃_{i−1}⁻¹ L_{i−1}ᵀ.
        pivot = d - l_prev @ cho_solve((chol_prev, True), l_prev.T)
        y = r - l_prev @ cho_solve((chol_prev, True), y_prev)
        chol = cho_factor(pivot, lower=True)[0]
        return (chol, y), (chol, y)

    first = cho_factor(diag[0], lower=True)[0]
    _, (chols, ys) = lax.scan(eliminate, (first, rhs[0]), (diag[1:], lower, rhs[1:]))
    chols = jnp.concatenate([first[None], chols])
    ys = jnp.concatenate([rhs[0][None], ys])

    def substitute(x_next, blocks):
        c, y, l = blocks
        x = cho_solve((c, True), y - l.T @ x_next)
        return x, x

    last = cho_solve((chols[-1], True), ys[-1])
    _, xs = lax.scan(substitute, last, (chols[:-1], ys[:-1], lower), reverse=True)
    return jnp.concatenate([xs, last[None]])
