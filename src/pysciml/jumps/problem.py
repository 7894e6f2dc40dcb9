"""`JumpProblem`: a continuous-time Markov jump process on integer counts (a chemical master equation).

Reaction j fires at rate ``propensity(u, p, t)[j]`` and changes the counts by ``stoichiometry[j]``. The
random stream is the problem's ``key``, so a solve is reproducible and an ensemble is a vmap over keys.
"""
import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..problems.ode import check_tspan, problem_pytree


@problem_pytree(dynamic=("u0", "tspan", "p", "stoichiometry", "key"), static=("propensity", "monotone"))
@dataclasses.dataclass(frozen=True)
class JumpProblem:
    """Counts ``u0`` (S,) evolving over tspan by R reactions.

    propensity: pure JAX ``a(u, p, t) -> (R,)`` non-negative rates (u: float counts). stoichiometry: (R, S)
    integer net change of each reaction. key: a ``jax.random`` key or an integer seed. monotone: True when
    every propensity is non-decreasing in every count (mass action), which `RSSA`'s bounds need.
    Time-dependent propensities are taken as constant between events (exact only for autonomous rates).
    """
    propensity: Callable
    u0: Any
    tspan: tuple
    p: Any = None
    stoichiometry: Any = None
    key: Any = 0
    monotone: bool = False

    def __post_init__(self):
        if not callable(self.propensity):
            raise TypeError(f"JumpProblem: propensity must be callable as a(u, p, t); got {type(self.propensity).__name__}")
        object.__setattr__(self, "tspan", check_tspan(self.tspan))
        u0 = np.asarray(self.u0)
        if u0.ndim != 1 or u0.size == 0 or not np.issubdtype(u0.dtype, np.number):
            raise ValueError(f"JumpProblem: u0 must be a non-empty 1-D array of counts; got shape {u0.shape}")
        if np.any(u0 < 0) or np.any(u0 != np.round(u0)):
            raise ValueError(f"JumpProblem: u0 must hold non-negative integer counts; got {u0}")
        if self.stoichiometry is None:
            raise ValueError("JumpProblem: stoichiometry (R, S) is required")
        nu = np.asarray(self.stoichiometry)
        if nu.ndim != 2 or nu.shape[1] != u0.size:
            raise ValueError(f"JumpProblem: stoichiometry must have shape (R, {u0.size}); got {nu.shape}")
        if np.any(nu != np.round(nu)):
            raise ValueError("JumpProblem: stoichiometry must hold integers")
        if float(self.tspan[1]) <= float(self.tspan[0]):
            raise ValueError(f"JumpProblem: tspan must run forward, t0 < t1; got {self.tspan}")
        a = np.asarray(self.propensity(jnp.asarray(u0, jnp.float64), self.p, self.tspan[0]))
        if a.shape != (nu.shape[0],):
            raise ValueError(f"JumpProblem: propensity must return shape ({nu.shape[0]},) (one rate per reaction); "
                             f"got {a.shape}")
        if np.any(a < 0) or not np.all(np.isfinite(a)):
            raise ValueError(f"JumpProblem: propensities at u0 must be finite and non-negative; got {a}")
        key = self.key
        if isinstance(key, (int, np.integer)):
            key = jax.random.key(int(key))
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "u0", jnp.asarray(u0, jnp.float64))
        object.__setattr__(self, "stoichiometry", jnp.asarray(nu, jnp.float64))
