"""Brownian bridges with space-time Lévy area: the one piece of probability every path here is built from.

A Brownian path on [a, b] is carried by its values W and its running integral I(s) = ∫_{t0}^s W(r) dr at
the interval's ends. Splitting the interval at c = a + h1 (h2 = b − c) samples W(c) and I(c) from their
law given the ends. With ΔW = W(b) − W(a) and K = ∫_a^b (W(r) − W(a)) dr − (b − a) ΔW/2 (= (b − a)·H, the
space-time Lévy area H times the length), the halves' (ΔW1, K1), (ΔW2, K2) are independent a priori,
ΔW_i ~ N(0, h_i), K_i ~ N(0, h_i³/12), and

    ΔW = ΔW1 + ΔW2,        K = K1 + K2 + (h2 ΔW1 − h1 ΔW2)/2

(expand ∫ over the two halves). ΔW and K are independent with variances T = h1 + h2 and T³/12, so the
conditional sample is Matheron's rule: draw the halves from the prior, then correct them by the
covariances with (ΔW, K) times the residuals (no matrix to factor). For h1 = h2 this is Theorem 6.1.4 of
J. Foster's thesis (Numerical approximations for stochastic differential equations, Oxford 2020), used by
diffrax's VirtualBrownianTree with space-time Lévy area.
"""
import jax
import jax.numpy as jnp
from jax import lax

from .increment import BrownianIncrement


def split(h1, h2, dW, K, z):
    """(ΔW1, K1) of the left part [a, a + h1] of an interval of length h1 + h2 with increment ``dW`` and
    area ``K``, from four standard normals per process ``z`` (shape (4, m))."""
    T = h1 + h2
    w1, w2 = jnp.sqrt(h1) * z[0], jnp.sqrt(h2) * z[1]
    k1, k2 = jnp.sqrt(h1 ** 3 / 12) * z[2], jnp.sqrt(h2 ** 3 / 12) * z[3]
    r_w = dW - (w1 + w2)
    r_k = K - (k1 + k2 + (h2 * w1 - h1 * w2) / 2)
    # Cov(ΔW1, ΔW) = h1, Cov(ΔW1, K) = h1 h2 / 2, Cov(K1, ΔW) = 0, Cov(K1, K) = h1³/12; Var ΔW = T, Var K = T³/12.
    return (w1 + (h1 / T) * r_w + (6 * h1 * h2 / T ** 3) * r_k,
            k1 + (h1 / T) ** 3 * r_k)


def area(a, b, Wa, Ia, Wb, Ib):
    """K over [a, b] from the ends' values and running integrals."""
    return Ib - Ia - (b - a) * (Wa + Wb) / 2


def point(a, Wa, Ia, h1, dW1, K1):
    """(W, I) at a + h1 from the left part's increment and area."""
    return Wa + dW1, Ia + h1 * Wa + K1 + h1 * dW1 / 2


def node_normals(key, x, depth, m, dtype):
    """Standard normals (depth + 1, 4, m) for the nodes on the way to the point at fraction ``x`` in [0, 1]
    of an interval: level l's node is number floor(x·2^l) of the 2^l nodes at that level, and its normals
    are drawn from fold_in(fold_in(key, l), number). All levels are drawn in one vectorised call before
    the descent, whose loop is then plain arithmetic (hashing inside the loop tripled compile time).
    Also returns the node numbers (int32 for depth ≤ 30, which `VirtualBrownianTree` enforces)."""
    levels = jnp.arange(depth + 1)
    number = jnp.clip(jnp.floor(x * 2.0 ** levels), 0, 2.0 ** levels - 1).astype(jnp.int32)
    draw = lambda l, k: jax.random.normal(jax.random.fold_in(jax.random.fold_in(key, l), k), (4, m), dtype)
    return jax.vmap(draw)(levels, number), number


def descend(key, a, b, Wa, Ia, Wb, Ib, tau, depth):
    """(W(τ), I(τ)) for τ in [a, b], given the ends: ``depth`` bisections, then a split of the leaf at τ,
    each drawn from its node's key (`node_normals`). Deterministic in (key, τ): the same τ gives the same
    values whatever else was evaluated, which keeps a path consistent across rejected steps."""
    m = Wa.shape[-1]
    # Times are not differentiated (a path is a function of them; √h at h = 0 would turn a zero tangent
    # into NaN): the path's values depend on the key alone.
    a, b, tau = lax.stop_gradient(a), lax.stop_gradient(b), lax.stop_gradient(tau)
    b0, Wb0, Ib0 = b, Wb, Ib
    x = jnp.clip((tau - a) / (b - a), 0.0, 1.0)
    z, number = node_normals(key, x, depth, m, Wa.dtype)
    # the child taken at level l is the parity of the node number at level l + 1 (so the path down the tree
    # and the nodes whose normals were drawn agree, whatever the rounding of the midpoints)
    go_right = jnp.concatenate([number[1:] % 2 == 1, jnp.ones((1,), bool)])

    def level(i, carry):
        a, b, Wa, Ia, Wb, Ib = carry
        c = jnp.where(i < depth, (a + b) / 2, jnp.clip(tau, a, b))   # the last pass splits the leaf at τ
        h1 = c - a
        dW1, K1 = split(h1, b - c, Wb - Wa, area(a, b, Wa, Ia, Wb, Ib), z[i])
        Wc, Ic = point(a, Wa, Ia, h1, dW1, K1)
        pick = lambda r, l: jnp.where(go_right[i], r, l)
        return pick(c, a), pick(b, c), pick(Wc, Wa), pick(Ic, Ia), pick(Wb, Wc), pick(Ib, Ic)

    a, b, Wa, Ia, Wb, Ib = lax.fori_loop(0, depth + 1, level, (a, b, Wa, Ia, Wb, Ib))
    # after the last pass τ is the left end (τ at the given right end: its values, free of rounding)
    at_end = tau >= b0
    return jnp.where(at_end, Wb0, Wa), jnp.where(at_end, Ib0, Ia)


def increment(s, u, Ws, Is, Wu, Iu):
    """The `BrownianIncrement` over [s, u] from (W, I) at both ends."""
    dt = u - s
    K = area(s, u, Ws, Is, Wu, Iu)
    return BrownianIncrement(Wu - Ws, K / jnp.where(dt == 0, 1.0, dt))
