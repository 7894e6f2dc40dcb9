"""The BDF history: backward differences D_j = ∇^j y_n (j = 0..K+2) at a constant spacing h, in a fixed
(K + 3, n) array, K the largest order. The current order k is a traced integer; rows above k + 2 are
dead weight and every operation masks by k instead of slicing, so the history is jit- and vmap-friendly.

Changing the step from h to rh re-samples the interpolating polynomial of the rows 0..k at spacing rh:
D ← (R(r) U)ᵀ D with R(r)_ij = Π_{m=1..i} (m − 1 − r j)/m and U = R(1) (Shampine & Reichelt, "The MATLAB
ODE Suite", 1997, Section 2.3). U is upper triangular, so the order-k matrix is the top-left block of
the order-K one and masking rows/columns above k gives it exactly.
"""
import jax.numpy as jnp
import numpy as np


def _r_matrix(r, size, dtype):
    i = jnp.arange(1, size, dtype=dtype)[:, None]
    j = jnp.arange(size, dtype=dtype)[None, :]
    factors = (i - 1.0 - r * j) / i
    return jnp.cumprod(jnp.concatenate([jnp.ones((1, size), dtype), factors]), axis=0)


def rescale(history, order, ratio):
    """The history re-sampled at spacing ratio·h (rows 0..order; the others are kept)."""
    size = history.shape[0] - 2
    dtype = history.dtype
    ru = _r_matrix(ratio, size, dtype) @ _r_matrix(jnp.asarray(1.0, dtype), size, dtype)
    index = jnp.arange(size)
    active = (index[:, None] <= order) & (index[None, :] <= order)
    transform = jnp.where(active, ru.T, jnp.eye(size, dtype=dtype))
    return jnp.concatenate([transform @ history[:size], history[size:]])


def predict(history, order):
    """The predictor y⁽⁰⁾ = Σ_{j≤k} D_j (the history polynomial extrapolated one step)."""
    mask = jnp.arange(history.shape[0]) <= order
    return jnp.where(mask[:, None], history, 0.0).sum(axis=0)


def weighted_sum(history, weights, order):
    """Σ_{1≤j≤k} weights[j] D_j, weights indexed by j (the γ_j terms of the corrector)."""
    index = jnp.arange(history.shape[0])
    w = jnp.where((index >= 1) & (index <= order), jnp.asarray(weights[:history.shape[0]], history.dtype), 0.0)
    return w @ history


def accept(history, order, d):
    """The history at the new point y_{n+1} = y⁽⁰⁾ + d: D_{k+2} = d − D_{k+1}, D_{k+1} = d, and
    D_j ← Σ_{j≤i≤k+1} D_i for j ≤ k (the differences updated by the new value)."""
    rows = history.shape[0]
    index = jnp.arange(rows)
    old_next = history[jnp.minimum(order + 1, rows - 1)]
    history = jnp.where((index == order + 1)[:, None], d[None, :],
                        jnp.where((index == order + 2)[:, None], (d - old_next)[None, :], history))
    # Reverse cumulative sum over rows j..k+1 for j ≤ k: an upper-triangular 0/1 matrix masked by k.
    upper = (index[None, :] >= index[:, None]) & (index[None, :] <= order + 1) & (index[:, None] <= order)
    summing = jnp.where(upper, 1.0, jnp.eye(rows, dtype=history.dtype)).astype(history.dtype)
    return summing @ history


def dense_stages(history, order, h, max_order):
    """Stage vectors k_j = D_j/h for j = 1..max_order (zero above the order) for the interpolant
    u0 + h Σ_j b_j(θ) k_j of `coefficients.dense_weights`."""
    j = np.arange(1, max_order + 1)
    return jnp.where((jnp.asarray(j) <= order)[:, None], history[1:max_order + 1], 0.0) / h
