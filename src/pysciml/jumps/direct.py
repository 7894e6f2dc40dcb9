"""Gillespie's direct method (J. Phys. Chem. 81, 2340, 1977): the waiting time is exponential with the
total propensity, the reaction is chosen with probability proportional to its propensity."""
import dataclasses

import jax.numpy as jnp

from .algorithm import JumpAlgorithm, select
from .rng import unit


@dataclasses.dataclass(frozen=True)
class Direct(JumpAlgorithm):
    """Exact SSA, direct method."""

    def step(self, prob, words, u, p, t, t1, state):
        a = prob.propensity(u, p, t)
        total = jnp.sum(a)
        r = unit(words, u.dtype)
        tau = -jnp.log(r[0]) / total
        j = select(a, total, 1.0 - r[1])
        t_next = jnp.where(total > 0, t + tau, jnp.inf)
        return t_next, u + prob.stoichiometry[j], state
