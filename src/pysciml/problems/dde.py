"""`DDEProblem`: du/dt = f(u, h, p, t) with delays, where h(p, s) is the state at an earlier time s.

Before t0 the state is the user's history function; after t0 it is the solution's own dense output
(`pysciml.delay`). The delays are declared so the solver can step onto the discontinuities they
propagate: constant lags as numbers, state-dependent lags as functions lag(u, p, t).
"""
import dataclasses
import math
from typing import Any, Callable

import jax.numpy as jnp
import numpy as np

from .._core.trees import is_concrete
from .ode import as_state, check_tspan, check_u0, problem_pytree


@problem_pytree(dynamic=("u0", "tspan", "p", "constant_lags"), static=("f", "h", "dependent_lags", "neutral"))
@dataclasses.dataclass(frozen=True)
class DDEProblem:
    """A delay differential equation du/dt = f(u, h, p, t), u(t0) = u0, u(s) = h(p, s) for s < t0.

    f: pure JAX function; inside it ``h(p, t - tau)`` returns the (pytree) state at time t − τ: the history
    function before t0, the solution's dense output after. h: the history h(p, s) -> u0-shaped value, a pure
    JAX function of s (it is only evaluated at s ≤ t0). constant_lags: the constant delays τ > 0 appearing
    in f (numbers, a tuple or 1-D array; traced values are allowed, e.g. under vmap). dependent_lags: the
    state-dependent delays as functions lag(u, p, t) -> τ > 0. At least one lag must be declared: the lags
    drive discontinuity tracking and tell the method when a step reaches into its own interval.
    neutral: f depends on delayed derivatives (not supported yet: `solve` refuses it).

    tspan: (t0, t1), the interval of integration. p: the parameters passed to f and h.
    """
    f: Callable
    u0: Any
    h: Callable
    tspan: tuple
    p: Any = None
    constant_lags: Any = ()
    dependent_lags: tuple = ()
    neutral: bool = False

    def __post_init__(self):
        if not callable(self.f):
            raise TypeError(f"DDEProblem: f must be callable as f(u, h, p, t); got {type(self.f).__name__}")
        if not callable(self.h):
            raise TypeError(f"DDEProblem: h must be the history function h(p, t); got {type(self.h).__name__}")
        object.__setattr__(self, "tspan", check_tspan(self.tspan))
        object.__setattr__(self, "u0", as_state(self.u0))
        check_u0(self.u0)
        object.__setattr__(self, "constant_lags", _check_constant_lags(self.constant_lags))
        lags = self.dependent_lags
        lags = (lags,) if callable(lags) else tuple(lags)
        for i, lag in enumerate(lags):
            if not callable(lag):
                raise TypeError(f"DDEProblem: dependent_lags[{i}] must be a function lag(u, p, t); "
                                f"got {type(lag).__name__}")
        object.__setattr__(self, "dependent_lags", lags)
        if self.constant_lags.shape[0] == 0 and not lags:
            raise ValueError("DDEProblem: declare the delays of f with constant_lags=(τ1, ...) and/or "
                             "dependent_lags=(lag(u, p, t), ...); they drive discontinuity tracking")
        if not isinstance(self.neutral, bool):
            raise TypeError(f"DDEProblem: neutral must be True or False; got {self.neutral!r}")


def _check_constant_lags(lags):
    """The constant lags as a 1-D float array; concrete values must be finite and positive."""
    if isinstance(lags, (int, float)) or (not isinstance(lags, (tuple, list)) and jnp.ndim(lags) == 0):
        lags = (lags,)
    if isinstance(lags, (tuple, list)) and len(lags) == 0:
        return jnp.zeros((0,))
    try:
        array = jnp.asarray(lags if not isinstance(lags, (tuple, list)) else jnp.stack([jnp.asarray(x) for x in lags]))
    except (TypeError, ValueError):
        raise TypeError(f"DDEProblem: constant_lags must be numbers (a tuple or 1-D array); got {lags!r}") from None
    if array.ndim != 1:
        raise ValueError(f"DDEProblem: constant_lags must be a 1-D collection of numbers; got shape {array.shape}")
    if not jnp.issubdtype(array.dtype, jnp.floating):
        if not jnp.issubdtype(array.dtype, jnp.integer):
            raise TypeError(f"DDEProblem: constant_lags must be real numbers; got dtype {array.dtype}")
        array = array.astype(float)
    if is_concrete(array):
        values = np.asarray(array)
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            bad = [float(v) for v in values if not (math.isfinite(v) and v > 0)]
            raise ValueError(f"DDEProblem: constant_lags must be positive and finite; got {bad}")
    return array
