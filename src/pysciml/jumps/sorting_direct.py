"""Sorting direct method (McCollum, Peterson, Cox, Simpson & Samatova, Comput. Biol. Chem. 30, 39, 2006):
the direct method searching reactions in an order that moves each fired reaction one place forward, so
frequent reactions are found after few comparisons. Same distribution as `Direct`."""
import dataclasses

import jax.numpy as jnp

from .algorithm import JumpAlgorithm, next_time, select
from .rng import unit


@dataclasses.dataclass(frozen=True)
class SortingDirect(JumpAlgorithm):
    """Exact SSA, sorting direct method."""

    def init(self, prob, u, p, t):
        """Returns the initial search ``order`` of the reactions of ``prob`` (0..R−1; ``u``, ``p``, ``t`` unused)."""
        return jnp.arange(prob.stoichiometry.shape[0])

    def step(self, prob, words, u, p, t, t1, order):
        """One event (or trial) of the jump process ``prob`` from counts ``u`` at time ``t`` with parameters ``p``,
        using the random 64-bit ``words`` (``draws`` of them) and the algorithm's search ``order``; ``t1`` is the end
        of the span.
        Returns (t_next, u_next, search ``order``): t_next = inf when nothing can fire any more; the reaction that
        fired moves one place up the order, so frequent reactions are found early.
        """
        a = prob.propensity(u, p, t)[order]
        total = jnp.sum(a)
        r = unit(words, u.dtype)
        pos = select(a, total, 1.0 - r[1])
        j = order[pos]
        before = jnp.maximum(pos - 1, 0)
        # the swap as selects over the positions (a vmapped scatter is a separate, serial kernel per step)
        k = jnp.arange(order.shape[0])
        swapped = jnp.where(k == pos, order[before], jnp.where(k == before, j, order))
        # with total = 0 nothing fires again (t_next = inf): the order and counts returned are then unused
        return next_time(t, r[0], total), u + prob.stoichiometry[j], swapped
