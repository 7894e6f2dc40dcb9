"""Where the next step ends, and the step actually taken (the integration loop and the GPU kernel share it)."""
import math

import jax.numpy as jnp
import numpy as np

from .step_floor import ROUNDING_UNITS

# A proposal that would end within this fraction of a step before a stop lands on the stop instead of
# leaving a sliver step (the loop's rule since wave 1; float64 behaviour rests on it).
_SLIVER = 1e-8


def step_end(t, dt, target, direction, grid=None):
    """(t_new, h, lands): the end of the next step from ``t`` with the proposal ``dt`` toward the stop
    ``target``, the step to take, and whether it lands on the stop (a proposal reaching it, or leaving a
    sliver of less than 1e-8 of a step, or of a few rounding units of t for fixed steps). ``direction``: +1
    when integrating forward in time, −1 backward. Returns the triple.

    Fixed steps (``grid = (t_start, n)``, ``t_start`` the last stop landed on and ``n`` the steps since) end on
    the grid ``t_start + (n + 1) dt`` and take ``h = t_new - t``, the time actually advanced. Stepping u by
    dt while t accumulates ``fl(t + dt)`` drifts by a rounding unit of t per step: float32 Lorenz, RK4,
    dt = 1e-3 on [0, 1] took 1001 steps (the drift left a sliver before t1) with error 1.2e-4 (u and t out of
    step), against 1000 steps and 7e-6 on the grid (diffrax: 3e-6, round-off either way).

    Adaptive steps keep ``h = dt`` and ``t_new = t + dt``: the controller chooses dt afresh every step, so
    there is no drift to correct, and ``h = fl(t + dt) - t`` is not reliable under XLA, whose vectorised CPU
    code may simplify it to dt while the scalar code does not (a vmapped solve would then differ from the
    same solve alone).
    """
    if grid is None:
        remaining = target - t
        lands = direction * (remaining - dt) <= _SLIVER * jnp.abs(dt)
        h = jnp.where(lands, remaining, dt)
        return jnp.where(lands, target, t + h), h, lands
    proposal = grid[0] + (grid[1] + 1).astype(t.dtype) * dt
    eps = jnp.finfo(jnp.result_type(t)).eps
    # Grid times are within a few rounding units of the exact ones: within ROUNDING_UNITS of them (never
    # more than half a step) a proposal lands, so dt = (t1 - t0)/N takes exactly N steps.
    rounding = ROUNDING_UNITS * eps * jnp.maximum(jnp.abs(t), jnp.abs(target))
    slack = jnp.maximum(_SLIVER * jnp.abs(dt), jnp.minimum(rounding, 0.5 * jnp.abs(dt)))
    lands = direction * (target - proposal) <= slack
    t_new = jnp.where(lands, target, proposal)
    return t_new, t_new - t, lands


def fixed_step_count(t0, t1, dt, dtype) -> int:
    """The number of steps `step_end` takes with fixed steps of ``dt`` from ``t0`` to ``t1`` (no stops), computed
    on the host in ``dtype`` with the same grid and landing rule, for code that must know it before tracing
    (a noise path drawn in bulk, a scan over the grid). Returns the count (a Python int)."""
    dtype = np.dtype(dtype)
    t0, t1 = dtype.type(t0), dtype.type(t1)
    direction = dtype.type(1.0 if t1 >= t0 else -1.0)
    dt = direction * dtype.type(abs(dt))
    eps = np.finfo(dtype).eps
    k = max(int(math.floor(float((t1 - t0) / dt))) - 2, 0)   # start a little before the end; walk forward
    while True:
        t = t0 if k == 0 else t0 + dtype.type(k) * dt
        proposal = t0 + dtype.type(k + 1) * dt
        rounding = ROUNDING_UNITS * eps * max(abs(t), abs(t1))
        slack = max(_SLIVER * abs(dt), min(rounding, 0.5 * abs(dt)))
        if direction * (t1 - proposal) <= slack:
            return k + 1
        k += 1
