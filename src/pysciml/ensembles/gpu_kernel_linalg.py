"""W = I/(γh) − J, its LU factorization with partial pivoting and the solves, on lanes, for the Rosenbrock
methods of `EnsembleGPUKernel`.

A kernel holds every value as a lane vector (one entry per trajectory, see `_lanes`): a matrix is a list of
rows of lane vectors, and each lane picks its own pivot. Pallas lowers no LAPACK call (``lax.linalg``), so the
elimination is unrolled at trace time for the system's small n, with the operations of
`linalg.w_matrix._small_lu` / `_small_solve` (the factorization `EnsembleVmap` uses for n ≤ 8) in the same order,
so that both give the same numbers up to the compiler's rounding choices. The row swaps become selects: each
lane moves the row its own pivot names. Cost n³/3 multiply-adds and n³/2 selects per factorization, for
the n ≲ 8 systems a lane can hold in registers.
"""
import jax.numpy as jnp


def w_matrix(jac, gamma_h):
    """W = I/(γh) − J from J given as rows of lane vectors (`factor_w` with M = I: the off-diagonal 0/(γh) − J_ij
    is −J_ij exactly)."""
    inv = 1.0 / gamma_h
    return [[(inv if i == j else 0.0 / gamma_h) - jac[i][j] for j in range(len(jac))] for i in range(len(jac))]


def lu_factor(a):
    """LU with partial pivoting of a matrix of lane vectors: returns (lu, pivots), lu holding the unit-lower L
    below the diagonal and U on and above it (rows swapped as they were chosen), pivots[k] the row (≥ k) swapped
    with row k at step k, a lane vector of int32 (LAPACK's getrf layout)."""
    a = [list(row) for row in a]
    n = len(a)
    pivots = []
    for k in range(n - 1):
        # the first row of largest |a_ik| (jnp.argmax's choice, as in _small_lu)
        best = jnp.abs(a[k][k])
        pivot = jnp.full(best.shape, k, jnp.int32)
        for i in range(k + 1, n):
            size = jnp.abs(a[i][k])
            larger = size > best
            best, pivot = jnp.where(larger, size, best), jnp.where(larger, i, pivot)
        row_k = a[k]
        for i in range(k + 1, n):
            chosen = pivot == i
            a[k] = [jnp.where(chosen, x, y) for x, y in zip(a[i], a[k])]
            a[i] = [jnp.where(chosen, x, y) for x, y in zip(row_k, a[i])]
        pivots.append(pivot)
        for i in range(k + 1, n):
            multiplier = a[i][k] / a[k][k]
            a[i][k] = multiplier
            for j in range(k + 1, n):
                a[i][j] = a[i][j] - multiplier * a[k][j]
    return a, pivots


def lu_solve(factors, b):
    """x with W x = b for the factors of `lu_factor` (b, x: tuples of lane vectors): the row swaps, then forward
    substitution with the unit-lower factor and back substitution with the upper one."""
    lu, pivots = factors
    n = len(lu)
    y = list(b)
    for k, pivot in enumerate(pivots):
        y_k = y[k]
        for i in range(k + 1, n):
            chosen = pivot == i
            y[k] = jnp.where(chosen, y[i], y[k])
            y[i] = jnp.where(chosen, y_k, y[i])
    for i in range(1, n):
        y[i] = y[i] - _dot(lu[i][:i], y[:i])
    for i in range(n - 1, -1, -1):
        y[i] = (y[i] - _dot(lu[i][i + 1:], y[i + 1:]) if i < n - 1 else y[i]) / lu[i][i]
    return tuple(y)


def _dot(row, values):
    total = row[0] * values[0]
    for x, v in zip(row[1:], values[1:]):
        total = total + x * v
    return total
