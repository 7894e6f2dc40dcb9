"""Interpolation of the solution so far, for delay equations: the delayed state u(s) is the user's history
before t0, the solution's own dense output after it.

The solution so far lives in the integration loop's "steps" buffers (`StepHistory`: step boundaries,
states and the stages of every accepted step, static size max_steps + 1). A lookup finds the step holding
s, then evaluates the method's interpolant on it. With constant lags the step holding t − τ moves forward
a step or two per step, so `MethodOfSteps` keeps one index per lag from step to step (`locate`): each
lookup searches a short window forward from the nearest such index (scalar reads fused into one kernel)
and only when s lies outside it bisects over the valid steps (⌈log2(size)⌉ iterations). Either way it
reads a few entries of the buffers, never all of them, so the cost per step does not grow with max_steps,
and it runs under jit and vmap. Past the last accepted step the value comes from the step being taken
(`CurrentStep`, during the fixed-point iteration of `MethodOfSteps`) or else by extrapolating the last
step's interpolant.
"""
import math
from typing import NamedTuple

import jax.numpy as jnp
from jax import lax

from .base import Interpolant
from .local import evaluate_step


class _StepFields(NamedTuple):
    t: jnp.ndarray
    u: jnp.ndarray
    dt: jnp.ndarray
    stages: jnp.ndarray


class CurrentStep(_StepFields, Interpolant):
    """A candidate step [t, t + dt] from u with all the stages its interpolant needs (read past its end,
    it extrapolates)."""
    __slots__ = ()

    def step_at(self, s, hints=None):
        """Returns (start time, start state, step size, stages) of the step holding time ``s``: this step, whatever
        ``s`` (``hints`` unused)."""
        return self.t, self.u, self.dt, self.stages


class _HistoryFields(NamedTuple):
    ts: jnp.ndarray
    us: jnp.ndarray
    stages: jnp.ndarray
    n_steps: jnp.ndarray


class StepHistory(_HistoryFields, Interpolant):
    """Read-only view of the loop's accepted steps so far ("steps" mode with dense): step i spans
    [ts[i], ts[i+1]] from us[i] with stages[i] (complete), for i < n_steps; entries past n_steps are unused.
    Time runs forward; the step holding s is searched from ``hints`` (see `locate`), or by bisection."""
    __slots__ = ()

    def step_at(self, s, hints=None):
        """Returns (start time, start state, step size, stages) of the step holding time ``s``, searched from
        ``hints`` (step indices near s, see `locate`) or by bisection when None."""
        i = _step_holding(self, hints, s)
        return self.ts[i], self.us[i], self.ts[i + 1] - self.ts[i], self.stages[i]


WINDOW = 8    # steps searched forward from a hint before falling back to bisection


def _last_step_at_or_before(ts, n_steps, s):
    """Largest i in [0, n_steps − 1] with ts[i] ≤ s (0 when none), by bisection over the valid prefix."""
    def halve(_, bounds):
        lo, hi = bounds
        mid = (lo + hi) // 2
        right = ts[mid] <= s
        return jnp.where(right, mid, lo), jnp.where(right, hi, mid)

    bounds = (jnp.zeros((), jnp.int32), jnp.maximum(n_steps, 1).astype(jnp.int32))
    return lax.fori_loop(0, max(1, math.ceil(math.log2(ts.shape[0])) + 1), halve, bounds)[0]


def _search_from(ts, n_steps, hint, s):
    """The same index, searched in the WINDOW steps after ``hint`` (any index: it only saves work); when
    the step found there does not bracket s, by bisection. The window is summed term by term (scalar
    reads and compares), so XLA fuses the search into one kernel."""
    last, size = jnp.maximum(n_steps - 1, 0).astype(jnp.int32), ts.shape[0]
    hint = jnp.clip(hint, 0, last).astype(jnp.int32)
    i = hint
    for k in range(1, WINDOW + 1):
        i = i + ((hint + k <= last) & (ts[jnp.minimum(hint + k, size - 1)] <= s)).astype(jnp.int32)
    brackets = ((ts[i] <= s) | (i == 0)) & ((i == last) | (s < ts[jnp.minimum(i + 1, size - 1)]))
    return lax.cond(brackets, lambda: i, lambda: _last_step_at_or_before(ts, n_steps, s))


def locate(history, times, hints):
    """For each of ``times``, the index of the accepted step holding it, searched from the matching entry
    of ``hints`` (the indices found one step earlier), in the accepted steps of ``history`` (a `StepHistory`).
    Returns the indices (int array shaped like times)."""
    return jnp.stack([_search_from(history.ts, history.n_steps, hints[j], times[j])
                      for j in range(times.shape[0])])


def _step_holding(history, hints, s):
    if hints is None:
        return _last_step_at_or_before(history.ts, history.n_steps, s)
    # Start from the latest hint at or before s (for s = t + θ·dt − τⱼ: the one of lag τⱼ).
    start = jnp.zeros((), jnp.int32)
    for j in range(hints.shape[0]):
        start = jnp.where(history.ts[hints[j]] <= s, jnp.maximum(start, hints[j]), start)
    return _search_from(history.ts, history.n_steps, start, s)


def delayed_state(interpolant, history, current, user_history, s, hints=None):
    """The flat state at time ``s``: ``user_history(s)`` for s ≤ t0, else the stored steps' interpolant,
    else (s past the last accepted step) ``current``'s interpolant or the last step's extrapolation.

    history: the loop's `StepHistory` view (ts[0] is t0); current: a `CurrentStep` or None; hints: step
    indices near s to search from (see `locate`), or None to bisect; interpolant: the method's interpolant.
    Returns the flat state at s.
    """
    # One interpolant evaluation, on the stored step holding s or (past the last accepted step) the current
    # one. Before the first accepted step, step 0 has zero length (ts[1] = t0): the value is u0.
    step = history.step_at(s, hints)
    if current is not None:
        past = s > history.ts[history.n_steps]
        step = tuple(jnp.where(past, a, b) for a, b in zip(current.step_at(s), step))
    start, u_start, h, k = step
    value = evaluate_step(interpolant, u_start, h, k, (s - start) / jnp.where(h == 0, 1.0, h))
    t0 = history.ts[0]
    before = user_history(jnp.minimum(s, t0))
    return jnp.where(s <= t0, before, value)
