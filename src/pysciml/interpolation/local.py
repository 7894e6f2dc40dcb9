"""Local interpolation: the continuous extension of one Runge–Kutta step, u(t0 + θh) = u0 + h Σ_j b_j(θ) k_j.

``method`` is any object with ``dense_weights`` (rows of polynomial coefficients of θ¹..θᵈ, one row per
stage) and the lazily evaluated extra stages ``c_extra``/``a_extra`` (see `ButcherTableau`), or a method
``extra_stages`` that evaluates them (composite methods).
"""
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._core.trees import linear_combination


def full_stages(method, f, p, t0, h, u0, stages):
    """Append the extra stages the interpolant needs to the step's ``stages`` (shape (s, n)). An
    interpolant with its own ``extra_stages(f, p, t0, h, u0, stages)`` computes them itself. ``method``: the
    interpolant (its c_extra, a_extra). Returns the stages with the extra ones appended."""
    if not method.c_extra:
        return stages
    custom = getattr(method, "extra_stages", None)
    if custom is not None:
        return custom(f, p, t0, h, u0, stages)
    ks = list(stages)
    for c, row in zip(method.c_extra, method.a_extra):
        ks.append(f(linear_combination(u0, h, row, ks), p, t0 + c * h))
    return jnp.stack(ks)


def _weights_over_theta(method, theta, dtype):
    """b(θ)/θ = w_1 + θ (w_2 + ...) by Horner, one entry per stage (``dense_weights`` rows)."""
    weights = np.asarray(method.dense_weights, dtype=np.float64)
    b = jnp.asarray(weights[:, -1], dtype=dtype)
    for m in range(weights.shape[1] - 2, -1, -1):
        b = jnp.asarray(weights[:, m], dtype=dtype) + theta * b
    return b


def stage_weights(method, theta, dtype):
    """b(θ): the weights with u(t0 + θh) = u0 + h Σ_j b_j(θ) k_j (the interpolant is linear in the stages), for
    the interpolant ``method`` at the fraction ``theta`` of the step, in ``dtype``. Returns the (s,) weights."""
    return theta * _weights_over_theta(method, theta, dtype)


def evaluate_step(method, u0, h, stages, theta):
    """The interpolant ``method`` at fraction ``theta`` of the step of size ``h`` from ``u0``; ``stages`` must
    include the extra stages. Returns the state u0 + hθ Σ_j (b_j(θ)/θ) k_j."""
    return u0 + (h * theta) * (_weights_over_theta(method, theta, u0.dtype) @ stages)


def locate_step(step_times, n_steps, direction, t):
    """Index i of the step [step_times[i], step_times[i+1]] holding t, searched along ``direction`` (+1 or −1,
    the direction of time) and clamped to the ``n_steps`` valid steps. Returns i (int32)."""
    i = jnp.searchsorted(direction * step_times, direction * t, side="right") - 1
    return jnp.clip(i, 0, jnp.maximum(n_steps - 1, 0))


def fill_step_times(method, times, index, buffer, accept, t, dt, t_new, u, u_new, stages, direction,
                    value=lambda state, time: state):
    """Write ``value(state, time)`` for each of ``times`` (sorted along ``direction``) from ``index`` on that
    lies in (t, t_new] of an accepted step, the state from the step's interpolant (exactly u_new at t_new);
    ``stages`` must include the extra stages. ``method``: the interpolant; ``accept``: whether the step was
    accepted (nothing is written otherwise); ``dt``: the step size from (``t``, ``u``). Returns the next index
    and the buffer."""
    n = times.shape[0]

    def more(state):
        i, _ = state
        return accept & (i < n) & (direction * (times[jnp.minimum(i, n - 1)] - t_new) <= 0)

    def write(state):
        i, out = state
        time = times[i]
        at = jnp.where(time == t_new, u_new, evaluate_step(method, u, dt, stages, (time - t) / dt))
        return i + 1, out.at[i].set(value(at, time))

    return lax.while_loop(more, write, (index, buffer))


def fill_window(method, times, values, count, limit, slots, accept, t, dt, t_new, u, u_new, stages, direction,
                drop=False):
    """`fill_step_times` without a loop, for at most ``slots`` (static) times: each of times[count:count+slots]
    below ``limit`` that lies at or before t_new of an accepted step gets the interpolated state (exactly
    u_new at t_new) in the same rows of ``values`` (which needs count + slots rows). Returns (values,
    count); times after those slots that the step passed are left to the caller. ``method``: the interpolant;
    ``accept``: whether the step was accepted; (``t``, ``u``): its start, ``dt`` its size and ``stages`` its
    stages (extra stages included); ``direction``: +1 or −1, the direction of time. ``drop``: write the due
    rows only, by a scatter that drops the others (under vmap, where the rows differ between trajectories,
    this avoids reading the window back), instead of rewriting the whole window in place.

    The step's interpolant is collapsed to its polynomial in θ, u0 + hθ Σ_m θ^m c_m with c_m = Σ_j w_jm k_j
    (unrolled over the stages: elementwise work XLA fuses, where a matrix product is a kernel of its own
    under vmap), and evaluated by Horner. Slots that are not due are evaluated at θ = 1, so that no
    inf/NaN (padding times, zero-length steps) reaches derivatives."""
    window = lax.dynamic_slice_in_dim(times, count, slots)
    due = accept & (count + jnp.arange(slots) < limit) & (direction * (window - t_new) <= 0)
    h = jnp.where(dt == 0, jnp.ones_like(dt), dt)
    theta = jnp.where(due, (window - t) / h, jnp.ones_like(window)).astype(u.dtype)[:, None]
    weights = np.asarray(method.dense_weights, dtype=np.float64)            # (stages, degree)
    coefficients = [linear_combination(None, None, weights[:, m], stages) for m in range(weights.shape[1])]
    poly = coefficients[-1]
    for m in range(weights.shape[1] - 2, -1, -1):
        poly = coefficients[m] + theta * poly
    states = jnp.where((window == t_new)[:, None], u_new[None, :], u + (dt * theta) * poly)
    new_count = count + jnp.sum(due).astype(count.dtype)
    if drop:
        slot = jnp.arange(slots)
        rows = jnp.where(due, count + slot, values.shape[0] + slot)   # out of range (and distinct): dropped
        return values.at[rows].set(states, mode="drop", unique_indices=True), new_count
    old = lax.dynamic_slice_in_dim(values, count, slots)
    values = lax.dynamic_update_slice_in_dim(values, jnp.where(due[:, None], states, old), count, 0)
    return values, new_count
