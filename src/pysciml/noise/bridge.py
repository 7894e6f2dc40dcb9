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


def descend(key, a, b, Wa, Ia, Wb, Ib, tau, depth):
    """(W(τ), I(τ)) for a in [a, b], given the ends: ``depth`` bisections, each drawn from the key of its
    node (the left child's key is fold_in(key, 0), the right's fold_in(key, 1)), then a split of the leaf at
    τ drawn from the leaf's key. Deterministic in (key, τ): the same τ gives the same values whatever else
    was evaluated, which is what keeps a path consistent across rejected steps."""
    m = Wa.shape[-1]
    dtype = Wa.dtype

    def level(_, carry):
        a, b, Wa, Ia, Wb, Ib, key = carry
        h = (b - a) / 2
        c = a + h
        z = jax.random.normal(jax.random.fold_in(key, 2), (4, m), dtype)
        dW1, K1 = split(h, b - c, Wb - Wa, area(a, b, Wa, Ia, Wb, Ib), z)
        Wc, Ic = point(a, Wa, Ia, h, dW1, K1)
        right = tau >= c
        pick = lambda r, l: jnp.where(right, r, l)
        return (pick(c, a), pick(b, c), pick(Wc, Wa), pick(Ic, Ia), pick(Wb, Wc), pick(Ib, Ic),
                jax.random.fold_in(key, right.astype(jnp.uint32)))

    a, b, Wa, Ia, Wb, Ib, key = lax.fori_loop(0, depth, level, (a, b, Wa, Ia, Wb, Ib, key))
    h1 = jnp.clip(tau - a, 0.0, b - a)
    z = jax.random.normal(jax.random.fold_in(key, 2), (4, m), dtype)
    dW1, K1 = split(h1, b - a - h1, Wb - Wa, area(a, b, Wa, Ia, Wb, Ib), z)
    W, I = point(a, Wa, Ia, h1, dW1, K1)
    at_end = tau >= b
    return jnp.where(at_end, Wb, W), jnp.where(at_end, Ib, I)


def increment(s, u, Ws, Is, Wu, Iu):
    """The `BrownianIncrement` over [s, u] from (W, I) at both ends."""
    dt = u - s
    K = area(s, u, Ws, Is, Wu, Iu)
    return BrownianIncrement(Wu - Ws, K / jnp.where(dt == 0, 1.0, dt))
