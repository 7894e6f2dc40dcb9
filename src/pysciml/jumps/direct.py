"""Gillespie's direct method (J. Phys. Chem. 81, 2340, 1977): the waiting time is exponential with the
total propensity, the reaction is chosen with probability proportional to its propensity."""
import dataclasses

import jax.numpy as jnp

from .algorithm import JumpAlgorithm, next_time, select
from .rng import unit


@dataclasses.dataclass(frozen=True)
class Direct(JumpAlgorithm):
    """Exact SSA, direct method."""

    def step(self, prob, words, u, p, t, t1, state):
        """One event (or trial) of the jump process ``prob`` from counts ``u`` at time ``t`` with parameters ``p``,
        using the random 64-bit ``words`` (``draws`` of them) and the algorithm's ``state`` (unused: the direct method
        keeps none); ``t1`` is the end of the span.
        Returns (t_next, u_next, ``state`` (unused: the direct method keeps none)): t_next = inf when nothing can fire
        any more. The waiting time is exponential with the total propensity; the reaction is drawn in proportion to
        its propensity.
        """
        a = prob.propensity(u, p, t)
        total = jnp.sum(a)
        r = unit(words, u.dtype)
        j = select(a, total, 1.0 - r[1])
        return next_time(t, r[0], total), u + prob.stoichiometry[j], state
