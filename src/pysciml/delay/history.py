"""The delayed state u(s): the user's history before t0, the solution's own dense output after it.

The solution so far lives in the integration loop's "steps" buffers (`StepHistory`: step boundaries,
states and the stages of every accepted step, static size max_steps + 1). A lookup is a bisection over
the valid steps only (their count is traced; the tail of the buffers is unused) in ⌈log2(size)⌉ fixed
iterations, then the method's interpolant on that step: O(log steps) per delayed value, no host work,
so it runs under jit and vmap. Past the last accepted step the value comes from the step being taken
(`CurrentStep`, during the fixed-point iteration of `MethodOfSteps`) or else by extrapolating the last
step's interpolant.
"""
import functools
import math
from typing import NamedTuple

import jax.numpy as jnp
from jax import lax

from ..interpolation import evaluate_step


class CurrentStep(NamedTuple):
    """A candidate step [t, t + dt] from u with all the stages its interpolant needs."""
    t: jnp.ndarray
    u: jnp.ndarray
    dt: jnp.ndarray
    stages: jnp.ndarray


def _last_step_at_or_before(ts, n_steps, s):
    """Largest i in [0, n_steps − 1] with ts[i] ≤ s (0 when none), by bisection over the valid prefix."""
    def halve(_, bounds):
        lo, hi = bounds
        mid = (lo + hi) // 2
        right = ts[mid] <= s
        return jnp.where(right, mid, lo), jnp.where(right, hi, mid)

    bounds = (jnp.zeros((), jnp.int32), jnp.maximum(n_steps, 1).astype(jnp.int32))
    return lax.fori_loop(0, max(1, math.ceil(math.log2(ts.shape[0])) + 1), halve, bounds)[0]


def delayed_state(interpolant, history, current, u0_flat, user_history, s):
    """The flat state at time ``s``: ``user_history(s)`` for s ≤ t0, else the stored steps' interpolant,
    else (s past the last accepted step) ``current``'s interpolant or the last step's extrapolation.

    history: the loop's `StepHistory` view (ts[0] is t0); current: a `CurrentStep` or None.
    """
    ts, us, stages, n_steps = history.ts, history.us, history.stages, history.n_steps
    t0 = ts[0]
    i = _last_step_at_or_before(ts, n_steps, s)
    h = ts[i + 1] - ts[i]
    stored = evaluate_step(interpolant, us[i], h, stages[i], (s - ts[i]) / jnp.where(h == 0, 1.0, h))
    # No accepted step yet: the state is u0 (extended constantly) until the current step is known.
    stored = jnp.where(n_steps > 0, stored, u0_flat)
    value = stored
    if current is not None:
        t_end = ts[n_steps]
        dt = jnp.where(current.dt == 0, 1.0, current.dt)
        inside = evaluate_step(interpolant, current.u, current.dt, current.stages, (s - current.t) / dt)
        value = jnp.where(s > t_end, inside, stored)
    before = user_history(jnp.minimum(s, t0))
    return jnp.where(s <= t0, before, value)


def smallest_lag(constant_lags, dependent_lags, u, p, t, dtype):
    """The smallest delay at (u, t): over the constant lags and the state-dependent lags evaluated there."""
    values = [jnp.min(constant_lags).astype(dtype)] if constant_lags.shape[0] else []
    values += [jnp.asarray(lag(u, p, t), dtype).reshape(()) for lag in dependent_lags]
    return functools.reduce(jnp.minimum, values)
