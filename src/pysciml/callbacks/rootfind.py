"""Locating the first zero crossing of event conditions inside one step, on the step's dense output.

``g(θ)`` is the vector of conditions along the step (θ ∈ [0, 1] the fraction of the step). Sign changes
are detected between samples θ_0 = 0 < θ_1 < … < θ_K = 1; each component's first bracketing interval is
then narrowed by the Illinois variant of regula falsi (superlinear and, unlike the secant method, always
bracketing; Dowell & Jarratt, BIT 11 (1971) 168–174) or by bisection, to a bracket of width ``tol``. The
root is reported on the far side of the crossing (where g has its new sign), so that stepping onto it
really passes the event; the earliest component wins.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

MAX_ITERATIONS = 100


class Crossing(NamedTuple):
    """The earliest zero crossing in a step: ``found`` (bool: some component crosses), ``theta`` (the fraction
    of the step at the crossing, on its far side), ``component`` (the index of the component crossing first)
    and ``upward`` (bool: from negative to non-negative)."""
    found: jnp.ndarray       # bool: some component crosses in this step
    theta: jnp.ndarray       # fraction of the step at the (earliest) crossing, on its far side
    component: jnp.ndarray   # index of the component that crosses first
    upward: jnp.ndarray      # bool: that crossing goes from negative to non-negative


def sign_changes(values, direction):
    """Masks (K, m) of the intervals [θ_k, θ_k+1] where component j crosses zero, counting upcrossings
    (g < 0 → g ≥ 0) and/or downcrossings (g > 0 → g ≤ 0) by ``direction`` (0 both, 1 up, −1 down, per
    component), and which of them are upcrossings."""
    left, right = values[:-1], values[1:]
    up = (left < 0) & (right >= 0)
    down = (left > 0) & (right <= 0)
    up = up & (direction >= 0)
    down = down & (direction <= 0)
    return up | down, up


def _narrow(phi, a, b, fa, fb, tol, method):
    """Shrink the bracket [a, b] (phi(a) and phi(b) on opposite sides of zero, phi(b) possibly 0) until
    b − a ≤ tol; returns the far end b. ``method``: "illinois", "bisection", or a (traced) bool array
    that is True for bisection (components of different callbacks searched in one vmap)."""
    before = jnp.sign(fa)

    def more(state):
        a, b, fa, fb, side, i = state
        return (b - a > tol) & (fb != 0) & (i < MAX_ITERATIONS)

    def body(state):
        a, b, fa, fb, side, i = state
        mid = 0.5 * (a + b)
        if isinstance(method, str) and method == "bisection":
            c = mid
        else:
            secant = b - fb * (b - a) / (fb - fa)
            c = jnp.where((secant > a) & (secant < b) & jnp.isfinite(secant), secant, mid)
            # Every few iterations bisect, so a slow end cannot stall the bracket.
            c = jnp.where(i % 8 == 7, mid, c)
            if not isinstance(method, str):
                c = jnp.where(method, mid, c)
        fc = phi(c)
        keeps_sign = jnp.sign(fc) == before
        # Illinois: when the same end moves twice in a row, halve the value kept at the other end.
        fa_new = jnp.where(keeps_sign, fc, jnp.where(side == -1, 0.5 * fa, fa))
        fb_new = jnp.where(keeps_sign, jnp.where(side == 1, 0.5 * fb, fb), fc)
        a_new = jnp.where(keeps_sign, c, a)
        b_new = jnp.where(keeps_sign, b, c)
        side_new = jnp.where(keeps_sign, 1, -1).astype(jnp.int32)
        return a_new, b_new, fa_new, fb_new, side_new, i + 1

    init = (a, b, fa, fb, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    return lax.while_loop(more, body, init)[1]


def first_crossing(g, thetas, values, direction, tol, method="illinois") -> Crossing:
    """The earliest crossing of any component of ``g`` (θ ↦ (m,) conditions) in the step, given its
    values (K+1, m) at the sample points ``thetas`` (K+1,). ``method``: the root finder, one name for every
    component or a sequence of m names (each callback of a set keeps its own). ``direction`` (per component):
    0 counts both crossings, 1 upcrossings only (g < 0 → g ≥ 0), −1 downcrossings only; ``tol``: the width of
    θ-bracket the root finder narrows to. Pure; differentiate it only through the implicit function theorem
    (the caller's job). Returns the `Crossing`."""
    if not isinstance(method, str):
        method = tuple(method)
        method = method[0] if len(set(method)) == 1 else np.array([name == "bisection" for name in method])
    crosses, up = sign_changes(values, direction)
    any_in = jnp.any(crosses, axis=0)                         # (m,)
    k = jnp.argmax(crosses, axis=0)                           # first interval per component
    m = values.shape[1]
    cols = jnp.arange(m)

    def locate(j, kj):
        phi = lambda theta: g(theta)[j]
        how = method if isinstance(method, str) else jnp.asarray(method)[j]
        return _narrow(phi, thetas[kj], thetas[kj + 1], values[kj, j], values[kj + 1, j], tol, how)

    def search():
        if m == 1:        # one condition: no batching of the iteration (a smaller program to compile)
            return locate(cols[0], k[0])[None]
        return jax.vmap(locate)(cols, k)

    roots = lax.cond(jnp.any(any_in), search, lambda: jnp.ones((m,), thetas.dtype))
    roots = jnp.where(any_in, roots, jnp.inf)
    j = jnp.argmin(roots)
    return Crossing(jnp.any(any_in), jnp.where(any_in[j], roots[j], 1.0), j.astype(jnp.int32), up[k[j], j])
