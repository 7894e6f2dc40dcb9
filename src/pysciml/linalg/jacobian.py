"""∂f/∂u and ∂f/∂t for implicit methods: the user's ``jac`` when given, else forward-mode AD, compressed by
column coloring when the right-hand side carries a sparsity pattern (``f.sparsity``)."""
import jax
import jax.numpy as jnp
import numpy as np


def jacobian(f, u, p, t):
    """Dense ∂f/∂u at (u, t): ``f.jac(u, p, t)`` when the right-hand side carries a user Jacobian, else
    forward-mode AD: one Jacobian–vector product per color of ``f.sparsity`` when it has one, otherwise
    `jax.jacfwd` (one per column). Returns the (n, n) matrix."""
    user = getattr(f, "jac", None)
    if user is not None:
        return user(u, p, t)
    pattern = getattr(f, "sparsity", None)
    if pattern is not None and pattern.n_colors < pattern.n:
        values = compressed_jacobian(f, u, p, t, pattern)
        return jnp.zeros((pattern.n, pattern.n), values.dtype).at[pattern.rows, pattern.cols].set(values)
    return jax.jacfwd(lambda x: f(x, p, t))(u)


def compressed_jacobian(f, u, p, t, pattern):
    """The values of ∂f/∂u at the positions (pattern.rows, pattern.cols), one jvp per column color.

    The seed of color c is the sum of the unit vectors of the columns of that color; since those columns
    share no row, entry (i, j) of the Jacobian is component i of the product for j's color. ``f`` is
    evaluated as f(u, ``p``, ``t``). Returns the values, one per non-zero of ``pattern``.
    """
    seeds = np.zeros((pattern.n_colors, pattern.n), u.dtype)
    seeds[pattern.colors, np.arange(pattern.n)] = 1.0
    _, tangents = jax.vmap(lambda s: jax.jvp(lambda x: f(x, p, t), (u,), (s,)))(jnp.asarray(seeds))
    return tangents[pattern.colors[pattern.cols], pattern.rows]


def time_derivative(f, u, p, t):
    """∂f/∂t at (u, t) with parameters ``p`` by one forward-mode product (zero for autonomous f, at the cost of
    one evaluation). Returns it, shaped like u."""
    return jax.jvp(lambda s: f(u, p, s), (t,), (jnp.ones_like(t),))[1]
