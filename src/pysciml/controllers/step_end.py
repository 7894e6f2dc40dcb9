"""Where the next step ends, and the step actually taken (the integration loop and the GPU kernel share it)."""
import jax.numpy as jnp

from .step_floor import ROUNDING_UNITS

# A proposal that would end within this fraction of a step before a stop lands on the stop instead of
# leaving a sliver step (the loop's rule since wave 1; float64 behaviour rests on it).
_SLIVER = 1e-8


def step_end(t, dt, target, direction, grid=None):
    """(t_new, h, lands): the end of the next step from ``t`` with the proposal ``dt`` toward the stop
    ``target``, the step actually taken (``h = t_new - t``), and whether it lands on the stop.

    The state must advance by exactly the time advanced: stepping u by ``dt`` while t moves by the rounded
    ``fl(t + dt) - t`` adds an error of a rounding unit of t every step (float32 Lorenz, RK4, dt = 1e-3 on
    [0, 1]: 1.2e-4 instead of diffrax's 1e-5). So the step is ``h = t_new - t``, which Fast2Sum makes exact
    for steps no longer than t.

    ``grid = (t_start, n)`` (fixed steps): the step ends on ``t_start + (n + 1) dt``, ``t_start`` being the
    last stop landed on and ``n`` the steps since. Times accumulated step by step drift by a rounding unit
    per step, and that drift decides whether the last step lands on t1 or leaves a sliver (1001 steps for
    dt = 1e-3 on [0, 1] in float32); times on the grid are within a few rounding units of the exact ones,
    so dt = (t1 - t0)/N takes exactly N steps.

    A proposal within a few rounding units of ``target`` (or within 1e-8 of a step) lands on it; the slack
    stays below half a step so a step is never stretched by more than that.
    """
    proposal = t + dt if grid is None else grid[0] + (grid[1] + 1).astype(t.dtype) * dt
    eps = jnp.finfo(jnp.result_type(t)).eps
    rounding = ROUNDING_UNITS * eps * jnp.maximum(jnp.abs(t), jnp.abs(target))
    slack = jnp.maximum(_SLIVER * jnp.abs(dt), jnp.minimum(rounding, 0.5 * jnp.abs(dt)))
    lands = direction * (target - proposal) <= slack
    t_new = jnp.where(lands, target, proposal)
    return t_new, t_new - t, lands
