"""The loop's side of callbacks (private): the event state carried through the loop and the three hooks
the loop calls when a solve has callbacks — `target` (where the next step must land), `hold_for_event`
(a crossing found in a trial step: reject it and land on the event instead) and `after_step` (apply the
affects due at the end of an accepted step).

An event found inside a step is not cut out of that step's interpolant: the step is discarded and the
solver steps exactly onto the event time (a pending stop), so every saved point, saveat value and dense
output segment is an ordinary step, and a jump is a step boundary. The located time carries its
implicit-function derivative, t* = t + θ*·h with θ* − (g − stop_gradient(g)) / stop_gradient(dg/dθ)
(g evaluated at the fixed θ*), so forward-mode AD through the loop differentiates event times exactly to
first order.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._core.trees import select
from ..callbacks import Effect, first_crossing
from ..interpolation import evaluate_step, fill_step_times

_DISARM = 1e-6       # a restart value below this fraction of the step's |g| counts as "on the surface"


class EventState(NamedTuple):
    p: object                 # the parameters now (affects may change them)
    g: jnp.ndarray            # (m,) continuous conditions at the current state
    disarmed: jnp.ndarray     # (m,) bool: the component fired at the current point (no re-trigger there)
    pending: jnp.ndarray      # bool: a located event waits to be stepped onto
    pending_t: jnp.ndarray
    pending_comp: jnp.ndarray
    pending_up: jnp.ndarray
    periodic_k: jnp.ndarray   # (n_periodic,) index of each periodic callback's next time
    log_t: jnp.ndarray        # (max_events,) times of the continuous events
    log_index: jnp.ndarray    # (max_events,) position of the callback in the set
    log_component: jnp.ndarray  # (max_events,) component of a vector callback (0 otherwise)
    n_logged: jnp.ndarray
    counts: jnp.ndarray       # (n_callbacks,) firings of every callback
    saved: tuple              # per SavingCallback: (len(saveat), k) values
    saved_index: tuple
    n_evals: jnp.ndarray      # f evaluations made for events (interpolant extra stages, steady-state test)
    counted: dict = {}        # the method's own counters (nf_steps, njacs, …) of the states discarded at restarts


def _apply(plan, fn, u, p, t, *extra):
    """Call an affect on the user's layout; (flat u, p, terminate)."""
    out = fn(plan.spec.unravel(u), p, t, *extra)
    if isinstance(out, Effect):
        new_p = p if out.p is None else jax.tree_util.tree_map(
            lambda new, old: jnp.asarray(new, jnp.result_type(old)), out.p, p)
        return plan.spec.ravel(out.u), new_p, jnp.asarray(out.terminate, bool)
    return plan.spec.ravel(out), p, jnp.asarray(False)



def conditions(plan, u, p, t):
    """All continuous condition components at (u, t), concatenated, (m,)."""
    values = [jnp.atleast_1d(cb.condition(plan.spec.unravel(u), p, t)).astype(u.dtype)
              for _, cb in plan.of_kind("continuous")]
    return jnp.concatenate(values) if values else jnp.zeros((0,), u.dtype)


def init(plan, data, u0, p, t0, direction):
    """Preset times at t0 applied to (u0, p); the initial event state."""
    dtype = u0.dtype
    counts = jnp.zeros((len(plan.callbacks),), jnp.int32)
    for i, cb in plan.of_kind("preset"):
        fire = jnp.any(data[i].astype(dtype) == t0)
        new_u, new_p, _ = _apply(plan, cb.affect, u0, p, t0)
        u0, p = select(fire, new_u, u0), select(fire, new_p, p)
        counts = counts.at[i].add(fire.astype(jnp.int32))
    m = len(plan.components)
    saved, saved_index = [], []
    for i, cb in plan.of_kind("saving"):
        times = data[i].astype(dtype)
        first = jnp.ravel(cb.save_func(plan.spec.unravel(u0), p, t0)).astype(dtype)
        at_start = direction * (times - t0) <= 0
        saved.append(jnp.where(at_start[:, None], first[None, :], jnp.zeros((times.shape[0], first.shape[0]), dtype)))
        saved_index.append(jnp.sum(at_start).astype(jnp.int32))
    n_log = plan.max_events
    state = EventState(
        p=p, g=conditions(plan, u0, p, t0), disarmed=jnp.zeros((m,), bool), pending=jnp.asarray(False),
        pending_t=t0, pending_comp=jnp.zeros((), jnp.int32), pending_up=jnp.asarray(False),
        periodic_k=jnp.ones((len(plan.of_kind("periodic")),), jnp.int32),
        log_t=jnp.full((n_log,), jnp.nan, dtype), log_index=jnp.full((n_log,), -1, jnp.int32),
        log_component=jnp.zeros((n_log,), jnp.int32), n_logged=jnp.zeros((), jnp.int32), counts=counts,
        saved=tuple(saved), saved_index=tuple(saved_index), n_evals=jnp.zeros((), jnp.int32))
    return u0, p, state


def _earlier(direction, a, b):
    return jnp.where(direction * (a - b) < 0, a, b)


def target(plan, data, ev, next_stop, t0, direction):
    """The time the next step must land on: the next tstop, a pending event or a periodic time."""
    out = next_stop
    out = jnp.where(ev.pending, _earlier(direction, ev.pending_t, out), out)
    for k, (i, _) in enumerate(plan.of_kind("periodic")):
        out = _earlier(direction, t0 + direction * ev.periodic_k[k] * data[i].astype(t0.dtype), out)
    return out


def needs_stages(plan):
    """Whether the hooks read the step's interpolant (continuous or saving callbacks)."""
    return bool(plan.of_kind("continuous") or plan.of_kind("saving"))


def hold_for_event(plan, alg, ev, t, u, dt, stages, t_new, u_new, accept):
    """Look for a crossing in the trial step [t, t_new]. Returns (found, maxed, g_end, ev): ``found`` — an
    event was located and is now pending (the loop discards the step and keeps dt so it lands there);
    ``maxed`` — one was found but the event log is full."""
    if not plan.of_kind("continuous"):
        return jnp.asarray(False), jnp.asarray(False), ev.g, ev
    cbs = plan.of_kind("continuous")
    n_inner = max(cb.interp_points for _, cb in cbs)
    thetas = jnp.linspace(0.0, 1.0, n_inner + 2, dtype=dt.dtype)
    p = ev.p
    u_at = lambda theta, u0, h, k: evaluate_step(alg.interpolant, u0, h, k, theta)
    g_of = lambda theta, u0, h, k, q: conditions(plan, u_at(theta, u0, h, k), q, t + theta * h)
    g_end = conditions(plan, u_new, p, t_new)
    sg = lax.stop_gradient
    su, sdt, sk, sp = sg(u), sg(dt), sg(stages), sg(p)
    inner = jax.vmap(lambda th: g_of(th, su, sdt, sk, sp))(thetas[1:-1])
    values = jnp.concatenate([sg(ev.g)[None], inner, sg(g_end)[None]])
    dirs = np.concatenate([np.full(cb.length or 1, cb.direction) for _, cb in cbs])
    values = values.at[0].set(_restart_side(ev, values, lambda th: g_of(th, su, sdt, sk, sp)))
    eps = jnp.finfo(dt.dtype).eps
    tol = 4 * eps * (1.0 + jnp.maximum(jnp.abs(t), jnp.abs(t_new)) / jnp.maximum(jnp.abs(sdt), eps))
    methods = tuple(cb.rootfind for _, cb in cbs for _ in range(cb.length or 1))   # each callback's own root finder
    crossing = first_crossing(lambda th: g_of(th, su, sdt, sk, sp), thetas, values, jnp.asarray(dirs), tol,
                              methods)
    hit = accept & ~ev.pending & crossing.found
    maxed = hit & (ev.n_logged >= plan.max_events)
    found = hit & ~maxed

    def implicit_theta():
        theta0 = sg(crossing.theta)
        g_j = lambda th: g_of(th, u, dt, stages, p)[crossing.component]
        value, slope = jax.jvp(g_j, (theta0,), (jnp.ones_like(theta0),))
        slope = sg(slope)
        return theta0 - (value - sg(value)) / jnp.where(slope == 0, 1.0, slope)

    theta = lax.cond(found, implicit_theta, lambda: jnp.ones_like(dt))
    ev = ev._replace(pending=ev.pending | found, pending_t=jnp.where(found, t + theta * dt, ev.pending_t),
                     pending_comp=jnp.where(found, crossing.component, ev.pending_comp),
                     pending_up=jnp.where(found, crossing.upward, ev.pending_up))
    return found, maxed, g_end, ev


def _restart_side(ev, values, g):
    """The condition values at the start of the step, with a component that just fired and restarts on
    its surface (|g| tiny next to its values along the step) given the sign it moves away with (the sign
    of dg/dθ at θ = 0): the zero at the restart point is not a new crossing, a later one is."""
    g0 = values[0]
    on_surface = ev.disarmed & (jnp.abs(g0) <= _DISARM * jnp.max(jnp.abs(values), axis=0))

    def away():
        zero = jnp.zeros((), values.dtype)
        slope = jax.jvp(g, (zero,), (jnp.ones_like(zero),))[1]
        size = jnp.maximum(jnp.abs(g0), jnp.finfo(values.dtype).tiny)
        return jnp.where(on_surface & (slope != 0), jnp.sign(slope) * size, g0)

    return lax.cond(jnp.any(on_surface), away, lambda: g0)


class StepEnd(NamedTuple):
    u: jnp.ndarray
    jumped: jnp.ndarray      # the state or p changed: restart the method
    save_post: jnp.ndarray   # add the post-event state as a saved point ("steps" mode)
    terminate: jnp.ndarray
    ev: EventState


def after_step(plan, data, alg, f, ev, t, u, dt, stages, t_new, u_new, g_end, accept, t0, direction):
    """Apply every affect due at the end of the step [t, t_new] (if accepted) and fill SavingCallback
    values from the step's interpolant. ``u_new``: the state after the step (before any affect)."""
    p, cur, terminate = ev.p, u_new, jnp.asarray(False)
    counts, save_post = ev.counts, jnp.asarray(False)

    def run(i, cb, fire, fn):
        nonlocal cur, p, terminate, counts, jumped, save_post
        new_u, new_p, stop = _apply(plan, fn, cur, p, t_new)
        cur, p = select(fire, new_u, cur), select(fire, new_p, p)
        terminate = terminate | (fire & stop)
        counts = counts.at[i].add(fire.astype(jnp.int32))
        jumped = jumped | fire
        save_post = save_post | (fire & cb.save_positions[1])

    fired_c = accept & ev.pending & (t_new == ev.pending_t)
    offset = 0
    log = dict(log_t=ev.log_t, log_index=ev.log_index, log_component=ev.log_component, n_logged=ev.n_logged)
    for i, cb in plan.of_kind("continuous"):
        m = cb.length or 1
        local = ev.pending_comp - offset
        mine = fired_c & (local >= 0) & (local < m)
        extra = () if cb.length is None else (local,)
        for fn, up in ((cb.affect, True), (cb.affect_neg, False)):
            if fn is not None:
                fire = mine & (ev.pending_up == up)
                new_u, new_p, stop = _apply(plan, fn, cur, p, t_new, *extra)
                cur, p = select(fire, new_u, cur), select(fire, new_p, p)
                terminate = terminate | (fire & stop)
        counts = counts.at[i].add(mine.astype(jnp.int32))
        save_post = save_post | (mine & cb.save_positions[1])
        at = jnp.minimum(ev.n_logged, plan.max_events - 1)
        for name, value in (("log_t", t_new), ("log_index", i), ("log_component", local)):
            log[name] = log[name].at[at].set(jnp.where(mine, value, log[name][at]))
        offset += m
    jumped = fired_c
    log["n_logged"] = ev.n_logged + fired_c.astype(jnp.int32)

    moved = accept & (t_new != t)      # a zero-length landing (a traced stop at the current time) fires nothing
    for i, cb in plan.of_kind("preset"):
        run(i, cb, moved & jnp.any(data[i].astype(t_new.dtype) == t_new), cb.affect)
    periodic_k = ev.periodic_k
    for k, (i, cb) in enumerate(plan.of_kind("periodic")):
        fire = accept & (t_new == t0 + direction * periodic_k[k] * data[i].astype(t_new.dtype))
        periodic_k = periodic_k.at[k].add(fire.astype(jnp.int32))
        run(i, cb, fire, cb.affect)
    for i, cb in plan.of_kind("discrete"):
        run(i, cb, moved & jnp.asarray(cb.condition(plan.spec.unravel(cur), p, t_new), bool), cb.affect)
    n_evals = ev.n_evals
    for i, _ in plan.of_kind("steady"):
        abstol, reltol = (x.astype(cur.dtype) for x in data[i])
        steady = accept & jnp.all(jnp.abs(f(cur, p, t_new)) <= abstol + reltol * jnp.abs(cur))
        terminate = terminate | steady
        counts = counts.at[i].add(steady.astype(jnp.int32))
        n_evals = n_evals + accept.astype(jnp.int32)

    saved, saved_index = list(ev.saved), list(ev.saved_index)
    for k, (i, cb) in enumerate(plan.of_kind("saving")):
        saved_index[k], saved[k] = _fill_saving(plan, alg, cb.save_func, data[i], saved_index[k], saved[k], ev.p,
                                                t, u, dt, stages, t_new, u_new, accept, direction)

    g = ev.g
    if plan.of_kind("continuous"):
        g_now = lax.cond(jumped, lambda: conditions(plan, cur, p, t_new), lambda: g_end)
        g = jnp.where(accept, g_now, ev.g)
    comp = jnp.arange(ev.disarmed.shape[0]) == ev.pending_comp
    disarmed = jnp.where(accept, fired_c & comp, ev.disarmed)
    ev = ev._replace(p=p, g=g, disarmed=disarmed, pending=ev.pending & ~fired_c, periodic_k=periodic_k,
                     counts=counts, saved=tuple(saved), saved_index=tuple(saved_index), n_evals=n_evals, **log)
    return StepEnd(cur, jumped, save_post, terminate, ev)


def initial_jumps(plan, data, u0, p, t0):
    """u0 after the preset affects at t0 that `init` applies (the parameters left as they are)."""
    for i, cb in plan.of_kind("preset"):
        new_u, _, _ = _apply(plan, cb.affect, u0, p, t0)
        u0 = jnp.where(jnp.any(data[i].astype(u0.dtype) == t0), new_u, u0)
    return u0


def step_end_jumps(plan, data, u_new, p, t, t_new, t0, direction):
    """The state after the preset, periodic and discrete affects that `after_step` applies at the end of the
    accepted step [t, t_new] (in its order, on its firing rules; ``u_new``: the state after the step), for a
    replay of the accepted steps (DiscreteAdjoint). A periodic time is recognised as t0 + n·period, n ≥ 1,
    which is where the loop's count of periodic times lands. The parameters are left as they are: the
    replay serves affects that change only the state."""
    cur = u_new
    moved = t_new != t

    def run(fire, fn):
        nonlocal cur
        new_u, _, _ = _apply(plan, fn, cur, p, t_new)
        cur = jnp.where(fire, new_u, cur)

    for i, cb in plan.of_kind("preset"):
        run(moved & jnp.any(data[i].astype(t_new.dtype) == t_new), cb.affect)
    for i, cb in plan.of_kind("periodic"):
        period = data[i].astype(t_new.dtype)
        n = jnp.round(direction * (t_new - t0) / period)
        run(moved & (n >= 1) & (t_new == t0 + direction * n * period), cb.affect)
    for i, cb in plan.of_kind("discrete"):
        run(moved & jnp.asarray(cb.condition(plan.spec.unravel(cur), p, t_new), bool), cb.affect)
    return cur


def _fill_saving(plan, alg, save_func, times, index, buf, p, t, u, dt, stages, t_new, u_new, accept, direction):
    """Values of ``save_func`` at every requested time in (t, t_new] of an accepted step."""
    value = lambda state, time: jnp.ravel(save_func(plan.spec.unravel(state), p, time)).astype(buf.dtype)
    return fill_step_times(alg.interpolant, times.astype(t_new.dtype), index, buf, accept, t, dt, t_new, u, u_new,
                           stages, direction, value)
