"""Where the next step ends, and the step actually taken (the integration loop and the GPU kernel share it)."""
import jax.numpy as jnp

from .step_floor import ROUNDING_UNITS

# A proposal that would end within this fraction of a step before a stop lands on the stop instead of
# leaving a sliver step (the loop's rule since wave 1; float64 behaviour rests on it).
_SLIVER = 1e-8


def step_end(t, dt, target, direction, grid=None):
    """(t_new, h, lands): the end of the next step from ``t`` with the proposal ``dt`` toward the stop
    ``target``, the step to take, and whether it lands on the stop (a proposal reaching it, or leaving a
    sliver of less than 1e-8 of a step, or of a few rounding units of t for fixed steps).

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
