"""Derivatives of a field u(z) with respect to its inputs by nested forward-mode AD (jax.jvp).

A k-th order partial derivative is k nested Jacobian-vector products along unit directions: no finite
differences and no reverse passes, so the cost is a small multiple of one forward evaluation per point.
Several derivatives of the same order (u_xx and u_yy of a Laplacian) are one `vmap` over their
directions, so the traced program holds one nested-jvp chain per order, not one per derivative.
"""
import jax
import jax.numpy as jnp
import numpy as np


def derivative(u, z, *directions):
    """Returns ∂^k u / ∂z[d₁]…∂z[d_k] at the point z (1-D array), for u: (d,) → (m,) or scalar, with the
    ``directions`` d₁ … d_k (indices of z), shaped like u(z).

    ``derivative(u, z)`` is u(z); ``derivative(u, z, 0, 0)`` is ∂²u/∂z₀²; ``derivative(u, z, 0, 1)`` the
    mixed second derivative.
    """
    return derivatives(u, z, [directions])[0]


def derivatives(u, z, direction_lists):
    """Several partial derivatives of the same order k at z, stacked: (len(direction_lists), *u(z).shape)."""
    orders = {len(d) for d in direction_lists}
    if len(orders) != 1:
        raise ValueError(f"derivatives of one call must have the same order, got {direction_lists}")
    (order,) = orders
    if order == 0:
        return jnp.stack([u(z)] * len(direction_lists))
    unit = np.eye(z.shape[0])
    tangents = jnp.asarray(np.stack([[unit[d] for d in dirs] for dirs in direction_lists]), dtype=z.dtype)

    def nested(vectors):                          # vectors: (order, d), one tangent per nesting level
        f = u
        for level in range(order):
            f = _directional(f, vectors[level])
        return f(z)
    return jax.vmap(nested)(tangents)


def _directional(f, v):
    return lambda z: jax.jvp(f, (z,), (v,))[1]
