"""Rejection-based SSA (Thanh, Priami & Zunino, J. Chem. Phys. 141, 134116, 2014).

Counts are enclosed in a box [lo, hi]; for propensities non-decreasing in every count (mass action) the
propensities are bounded by a(lo) ≤ a(u) ≤ a(hi). A candidate reaction is drawn from the upper bounds, time
advances by an exponential of rate Σ a(hi) for every trial (thinning), and the candidate fires with
probability a_j(u)/a_j(hi) (accepted at once when below a_j(lo)/a_j(hi), the squeeze). The box is rebuilt
only when the counts leave it. Exact: same distribution as `Direct`."""
import dataclasses

import jax
import jax.numpy as jnp

from .algorithm import JumpAlgorithm, next_time, select
from .rng import unit


@dataclasses.dataclass(frozen=True)
class RSSA(JumpAlgorithm):
    """Exact SSA with rejection; ``fluctuation``: relative half-width of the count box (at least
    ``min_width`` counts)."""
    fluctuation: float = 0.1
    min_width: float = 3.0
    draws = 3

    def _box(self, prob, u, p, t):
        width = jnp.maximum(self.fluctuation * u, self.min_width)
        lo, hi = jnp.maximum(jnp.floor(u - width), 0.0), jnp.ceil(u + width)
        return lo, hi, prob.propensity(lo, p, t), prob.propensity(hi, p, t)

    def init(self, prob, u, p, t):
        """Returns the first count box (lo, hi) around ``u`` and the propensity bounds of ``prob`` at its corners
        (``p``, ``t``); a `ValueError` when ``prob.monotone`` is False."""
        if not prob.monotone:
            raise ValueError("RSSA needs propensities that do not decrease when a count grows (mass action); "
                             "build the problem with monotone=True if yours are, or use Direct()")
        return self._box(prob, u, p, t)

    def step(self, prob, words, u, p, t, t1, box):
        """One event (or trial) of the jump process ``prob`` from counts ``u`` at time ``t`` with parameters ``p``,
        using the random 64-bit ``words`` (``draws`` of them) and the algorithm's ``box`` (count bounds and propensity
        bounds); ``t1`` is the end of the span.
        Returns (t_next, u_next, ``box`` (count bounds and propensity bounds)): t_next = inf when nothing can fire any
        more; a rejected trial (thinning) advances the time without changing ``u``, and the box is rebuilt when the
        counts leave it.
        """
        lo, hi, a_lo, a_hi = box
        total = jnp.sum(a_hi)
        draws = unit(words, u.dtype)
        j = select(a_hi, total, 1.0 - draws[1])
        r = (1.0 - draws[2]) * a_hi[j]
        accept = (r <= a_lo[j]) | (r <= prob.propensity(u, p, t)[j])
        u_next = jnp.where(accept, u + prob.stoichiometry[j], u)
        outside = jnp.any((u_next < lo) | (u_next > hi))
        box = jax.lax.cond(outside, lambda: self._box(prob, u_next, p, t), lambda: box)
        return next_time(t, draws[0], total), u_next, box
