"""Explicit tau-leaping (Gillespie, J. Chem. Phys. 115, 1716, 2001): over a leap of length dt each
reaction fires a Poisson(a_j(u)·dt) number of times. Approximate (first order in dt). A leap that would make
a count negative is rejected and retried with half the step (the next leap uses dt again)."""
import dataclasses

import jax
import jax.numpy as jnp

from .algorithm import JumpAlgorithm
from .rng import as_key


@dataclasses.dataclass(frozen=True)
class TauLeaping(JumpAlgorithm):
    """Fixed-step tau-leaping with leap ``dt``."""
    dt: float = None
    exact = False
    draws = 1           # one word seeds the leap's Poisson draws

    def __post_init__(self):
        if self.dt is None or not float(self.dt) > 0:
            raise ValueError(f"TauLeaping: dt must be a positive number; got {self.dt!r}")

    def init(self, prob, u, p, t):
        """Returns the leap length ``dt`` as an array of ``u``'s dtype (``prob``, ``p``, ``t`` unused)."""
        return jnp.asarray(self.dt, u.dtype)

    def step(self, prob, words, u, p, t, t1, dt):
        """One event (or trial) of the jump process ``prob`` from counts ``u`` at time ``t`` with parameters ``p``,
        using the random 64-bit ``words`` (``draws`` of them) and the algorithm's leap length ``dt``; ``t1`` is the
        end of the span.
        Returns (t_next, u_next, leap length ``dt``): t_next = inf when nothing can fire any more; each reaction fires
        a Poisson(a_j·h) number of times over h = min(dt, t1 − t), and a leap that would make a count negative is
        rejected (t_next = t) and retried with half the step.
        """
        h = jnp.minimum(dt, t1 - t)
        a = prob.propensity(u, p, t)
        counts = jax.random.poisson(as_key(words[0]), a * h, dtype=jnp.int32).astype(u.dtype)
        u_new = u + counts @ prob.stoichiometry
        ok = jnp.all(u_new >= 0)
        return (jnp.where(ok, t + h, t), jnp.where(ok, u_new, u),
                jnp.where(ok, jnp.asarray(self.dt, u.dtype), dt / 2))
