"""Dense output of a whole solution: every accepted step, read at any time (``sol(t)``, the adjoints)."""
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .base import Interpolant
from .local import locate_step


class _DenseFields(NamedTuple):
    ts: jnp.ndarray
    us: jnp.ndarray
    stages: jnp.ndarray
    n_steps: jnp.ndarray


class DenseOutput(_DenseFields, Interpolant):
    """Every accepted step: boundaries ``ts`` (steps + 1), states ``us`` and the method's stages; the step
    holding a time is found by binary search (either direction of time)."""
    __slots__ = ()

    def step_at(self, s, hints=None):
        direction = jnp.where(self.ts[-1] >= self.ts[0], 1.0, -1.0)
        i = locate_step(self.ts, self.n_steps, direction, s)
        return self.ts[i], self.us[i], self.ts[i + 1] - self.ts[i], self.stages[i]


def evaluate_dense(alg, f, p, dense: DenseOutput, t):
    """The state at one time ``t`` from the stored steps, with the method's own interpolant."""
    return dense.evaluate(alg.interpolant, t, f, p)


@partial(jax.jit, static_argnums=(0, 1))
def interpolate_dense(alg, f, p, dense: DenseOutput, times):
    """States at ``times`` (1-D) from the stored steps, with the method's own interpolant."""
    return jax.vmap(lambda t: evaluate_dense(alg, f, p, dense, t))(times)
