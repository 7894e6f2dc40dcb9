"""The one integration loop: step → error → accept/reject → save, inside a single `lax.while_loop`.

Solvers, controllers and saving are separate pieces; the loop only threads their pure state. Work that
does not depend on the step (validation, tableau set-up, buffer sizing) happens before the loop, and the
loop pays for saving and dense output only in the mode asked for:

- ``"ends"``: keep the start and the final state only (no per-step work at all);
- ``"saveat"``: fill the requested times with the method's interpolant as steps pass them;
- ``"steps"``: store every accepted step (and, with ``dense``, its stages, so the solution can be
  evaluated anywhere afterwards with the method's own interpolant).

The controller turns each step's error into accept/reject and the next step size, unless the method
returns its own ``dt_factor`` (see `StepResult`): then the step is accepted iff error ≤ 1 and the next
proposal is dt·dt_factor, with the same dtmax bound, tstop landing and dtmin failure test.

Buffers have static sizes (``max_steps`` + 1 for ``"steps"``) so the loop works under jit and vmap.

Callbacks (``cfg.events``) add three hooks, each a small function below the loop (see `events`): the next
landing target (pending events, periodic times), the search for an event in a trial step, and the affects
at the end of an accepted step with the method's restart. Without callbacks none of them is traced.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from .._core.norms import scaled_error_norm
from .._core.retcode import ReturnCode
from ..controllers import initial_step, step_floor
from ..interpolation import fill_step_times, full_stages
from . import events as ev_hooks

_RUNNING = -1


class LoopConfig(NamedTuple):
    """Static (trace-time) options of the loop."""
    adaptive: bool
    save: str            # "ends" | "saveat" | "steps"
    dense: bool          # with save == "steps": also store the stages for sol(t)
    max_steps: int
    has_tstops: bool
    given_dt: bool       # the first step is the user's dt (else Hairer's estimate)
    accumulate: object = None   # optional acc(acc, accept, t, dt, u, stages, p, solver_state) -> acc, run on
                                # every attempted step (it keeps its value itself when accept is False)
    events: object = None       # callbacks.EventPlan (None: no callbacks, and the loop carries nothing for them)
    history: bool = False       # with save == "steps" and dense: each step runs f.with_history(StepHistory),
    #                             a RHS reading the solution's own accepted steps (delay equations)


class LoopInputs(NamedTuple):
    """Dynamic (traced) inputs of the loop."""
    u0: jnp.ndarray
    t0: jnp.ndarray
    t1: jnp.ndarray
    p: object
    rtol: jnp.ndarray
    atol: jnp.ndarray
    dt: jnp.ndarray
    dtmin: jnp.ndarray
    dtmax: jnp.ndarray
    saveat: jnp.ndarray | None
    tstops: jnp.ndarray | None
    mass: jnp.ndarray | None = None    # mass matrix (implicit methods only)
    accumulated: object = None         # initial value of the accumulator (with cfg.accumulate)
    callback_data: object = None       # the callbacks' arrays (with cfg.events)


class LoopOutput(NamedTuple):
    ts: jnp.ndarray          # saved times
    us: jnp.ndarray          # saved states, (len(ts), n)
    stages: jnp.ndarray | None   # (max_steps, s, n) stages of each step in "steps" mode with dense
    n_saved: jnp.ndarray     # number of valid entries of ts/us
    retcode: jnp.ndarray
    t_final: jnp.ndarray
    stats: dict
    accumulated: object = None   # the accumulator after the last step (with cfg.accumulate)
    event_t: jnp.ndarray | None = None   # (max_events,) continuous event times (with cfg.events)
    event_info: object = None    # (index, component, n_logged, counts) of the events (with cfg.events)
    saved: tuple | None = None   # SavingCallback values (with cfg.events)


class StepHistory(NamedTuple):
    """Read-only view of the accepted steps so far ("steps" mode with dense): step i spans
    [ts[i], ts[i+1]] from us[i] with stages[i], for i < n_steps; entries past n_steps are unused."""
    ts: jnp.ndarray
    us: jnp.ndarray
    stages: jnp.ndarray
    n_steps: jnp.ndarray


class _Scalars(NamedTuple):
    """Scalar loop state. It travels as one packed vector (see `_ScalarPacker`), so its bookkeeping
    costs one fused kernel per step instead of one per variable."""
    t: jnp.ndarray
    dt: jnp.ndarray                    # signed proposal for the next step
    controller_state: object
    n_steps: jnp.ndarray               # attempted steps
    n_accepted: jnp.ndarray
    retcode: jnp.ndarray
    stop_index: jnp.ndarray | None     # index of the next tstop (has_tstops only)
    save_index: jnp.ndarray | None     # next free slot of the save buffers
    n_interpolations: jnp.ndarray | None  # steps whose extra dense stages were evaluated ("saveat")


class _Arrays(NamedTuple):
    u: jnp.ndarray
    solver_state: object
    ts: jnp.ndarray | None
    us: jnp.ndarray | None
    stages: jnp.ndarray | None
    accumulated: object
    events: object = None      # integrate.events.EventState (with cfg.events)


class _View(NamedTuple):
    """Scalars and arrays of the loop state side by side, read-only, for the loop body."""
    scalars: _Scalars
    arrays: _Arrays

    def __getattr__(self, name):
        part = self.scalars if name in _Scalars._fields else self.arrays
        return getattr(part, name)


class _ScalarPacker:
    """Packs a pytree of scalars (floats, ints, bools) into one vector of ``dtype`` and back.

    Integers stay exact while below 2^53 (float64) or 2^24 (float32), far above any step count.
    """

    def __init__(self, template, dtype):
        leaves, self.treedef = jax.tree_util.tree_flatten(template)
        self.kinds = [jnp.asarray(leaf).dtype for leaf in leaves]
        self.dtype = dtype

    def pack(self, tree):
        return jnp.stack([jnp.asarray(leaf).astype(self.dtype) for leaf in jax.tree_util.tree_leaves(tree)])

    def unpack(self, vector):
        leaves = [vector[i].astype(kind) for i, kind in enumerate(self.kinds)]
        return jax.tree_util.tree_unflatten(self.treedef, leaves)


def integrate(f, alg, controller, cfg: LoopConfig, x: LoopInputs) -> LoopOutput:
    """Run the loop for ``f(u, p, t)`` on flat states; see the module docstring."""
    dtype = x.u0.dtype
    t0, t1 = x.t0, x.t1
    direction = jnp.where(t1 >= t0, 1.0, -1.0).astype(dtype)
    plan, ev = cfg.events, None
    if plan is not None:
        u0, p0, ev = ev_hooks.init(plan, x.callback_data, x.u0, x.p, t0, direction)
        x = x._replace(u0=u0, p=p0)
    rtol, atol = alg.step_tolerances(x.rtol, x.atol)      # tolerance proportionality (order-2 methods)
    error_norm = lambda err, u, u_new: scaled_error_norm(err, u, u_new, rtol, atol)
    if cfg.history and not (cfg.save == "steps" and cfg.dense):
        raise ValueError("LoopConfig: history=True needs save='steps' with dense=True")
    step_rhs = (lambda ts, us, stages, index: f.with_history(StepHistory(ts, us, stages, index - 1))
                ) if cfg.history else (lambda *buffers: f)
    f_start = step_rhs(t0[None], x.u0[None], jnp.zeros((1, alg.n_stages) + x.u0.shape, dtype), 1)

    solver_state = alg.init(f_start, t0, x.u0, x.p)
    if plan is not None:
        ev = ev._replace(counted={k: jnp.zeros_like(v) for k, v in _counters(alg, solver_state).items()})
    n_init_evals = alg.initial_evals
    if cfg.given_dt:
        dt = direction * jnp.minimum(jnp.abs(x.dt), x.dtmax)
    else:
        f0 = alg.initial_derivative(f_start, t0, x.u0, x.p, solver_state)
        n_init_evals += (0 if alg.initial_evals else 1) + 1
        dt = initial_step(f_start, t0, x.u0, f0, x.p, alg.controller_order, direction, rtol, atol, x.dtmax)
        dt = lax.stop_gradient(dt)

    stops = None
    if cfg.has_tstops:
        stops = jnp.concatenate([x.tstops.astype(dtype), t1[None]])

    n = x.u0.shape[0]
    save_index = ts_buf = us_buf = stage_buf = n_interp = None
    if cfg.save == "saveat":
        ts_buf = x.saveat
        at_start = direction * (ts_buf - t0) <= 0
        us_buf = jnp.where(at_start[:, None], x.u0[None, :], jnp.zeros((ts_buf.shape[0], n), dtype))
        save_index = jnp.sum(at_start).astype(jnp.int32)
        n_interp = jnp.zeros((), jnp.int32)
    elif cfg.save == "steps":
        size = cfg.max_steps + 1 + (0 if plan is None else plan.max_events)   # room for post-event points
        ts_buf = jnp.full((size,), t0, dtype)
        us_buf = jnp.zeros((size, n), dtype).at[0].set(x.u0)
        save_index = jnp.ones((), jnp.int32)
        if cfg.dense:
            stage_buf = jnp.zeros((cfg.max_steps, alg.n_stages, n), dtype)

    scalars = _Scalars(
        t=t0, dt=dt, controller_state=controller.init(dtype),
        n_steps=jnp.zeros((), jnp.int32), n_accepted=jnp.zeros((), jnp.int32),
        retcode=jnp.asarray(_RUNNING, jnp.int32),
        stop_index=jnp.zeros((), jnp.int32) if cfg.has_tstops else None,
        save_index=save_index, n_interpolations=n_interp)
    arrays = _Arrays(u=x.u0, solver_state=solver_state, ts=ts_buf, us=us_buf, stages=stage_buf,
                     accumulated=x.accumulated, events=ev)
    packer = _ScalarPacker(scalars, dtype)

    def body(state):
        c = _View(packer.unpack(state[0]), state[1])
        next_stop = t1 if stops is None else stops[c.stop_index]
        p = x.p if plan is None else c.events.p
        target = next_stop if plan is None else ev_hooks.target(plan, x.callback_data, c.events, next_stop, t0, direction)
        remaining = target - c.t
        # Land exactly on the next stop when the proposal reaches it (or would leave a sliver).
        lands = direction * (remaining - c.dt) <= 1e-8 * jnp.abs(c.dt)
        dt = jnp.where(lands, remaining, c.dt)
        result = alg.step(step_rhs(c.ts, c.us, c.stages, c.save_index), c.t, c.u, dt, p, c.solver_state,
                          error_norm, x.mass)
        if stops is not None or plan is not None:
            result = _skip_if_empty(result, dt == 0, c.u, c.solver_state)
        t_new = jnp.where(lands, target, c.t + dt)

        if cfg.adaptive:
            if result.dt_factor is None:
                decision = controller.decide(result.error, c.controller_state, alg.controller_order)
                accept, controller_state, factor = decision.accept, decision.state, decision.factor
            else:
                # The method chooses its own step (and order); the controller is bypassed.
                accept = jnp.isfinite(result.error) & (result.error <= 1.0)
                controller_state, factor = c.controller_state, result.dt_factor
            # After landing on a stop, keep the unclipped proposal rather than the clipped step.
            dt_next = dt * factor
            dt_next = jnp.where(accept & lands, direction * jnp.maximum(jnp.abs(dt_next), jnp.abs(c.dt)), dt_next)
            # Step sizes are chosen, not differentiated: derivatives through a solve are those of the
            # discrete solution on its accepted steps (the controller's reaction to a parameter change is
            # piecewise and, where f jumps in t, wildly wrong); only landings on stops follow the stops.
            dt_next = lax.stop_gradient(direction * jnp.minimum(jnp.abs(dt_next), x.dtmax))
            too_small = ~accept & (jnp.abs(dt_next) < step_floor(c.t, x.dtmin))
            # A NaN/Inf step is rejected and retried smaller; it is a failure only once dt underflows.
            unstable = too_small & ~jnp.isfinite(result.error)
        else:
            unstable = ~jnp.all(jnp.isfinite(result.u))
            accept, controller_state = ~unstable, c.controller_state
            dt_next, too_small = c.dt, jnp.asarray(False)
        if plan is not None:
            events, stages, g_end, accept, controller_state, dt_next, events_maxed = _hold_for_event(
                plan, alg, f, p, c, dt, t_new, result, accept, controller_state, dt_next)

        t = jnp.where(accept, t_new, c.t)
        u = jnp.where(accept, result.u, c.u)
        kept_on_reject = c.solver_state if result.rejected_state is None else result.rejected_state
        solver_state = jax.tree_util.tree_map(lambda new, old: jnp.where(accept, new, old),
                                              result.state, kept_on_reject)
        passed_stop = accept & lands
        if plan is not None:     # the landing may have been on an event or periodic time instead
            passed_stop = passed_stop & (target == next_stop)
        stop_index = None
        finished = passed_stop
        if stops is not None:
            stop_index = c.stop_index + passed_stop.astype(jnp.int32)
            finished = passed_stop & (stop_index == stops.shape[0])
        n_steps = c.n_steps + 1
        n_accepted = c.n_accepted + accept.astype(jnp.int32)

        underflow = jnp.where(unstable, ReturnCode.Unstable, ReturnCode.DtLessThanMin)
        if result.newton_failed is not None:
            underflow = jnp.where(result.newton_failed, ReturnCode.ConvergenceFailure, underflow)
        retcode = jnp.where(
            finished, ReturnCode.Success,
            jnp.where(too_small, underflow,
                      jnp.where(unstable, ReturnCode.Unstable,
                                jnp.where(n_steps >= cfg.max_steps, ReturnCode.MaxIters, _RUNNING)))).astype(jnp.int32)

        save_index, ts_buf, us_buf, stage_buf, n_interp = c.save_index, c.ts, c.us, c.stages, c.n_interpolations
        if cfg.save == "saveat":
            save_index, us_buf, n_interp = _fill_saveat(
                alg, f, p, direction, c, dt, t_new, result, accept, n_interp)
        elif cfg.save == "steps":
            # Write unconditionally at the next slot; only an accepted step advances the index. The time
            # written depends on the step's outcome (t, not t_new), so the write follows every read of the
            # buffer in the step (delay equations read it): XLA then updates it in place instead of copying
            # the whole max_steps-sized buffer on every step.
            ts_buf = ts_buf.at[save_index].set(t)
            us_buf = us_buf.at[save_index].set(result.u)
            if stage_buf is not None:
                stage_buf = stage_buf.at[save_index - 1].set(result.stages)
            save_index = save_index + accept.astype(jnp.int32)

        accumulated = c.accumulated
        if cfg.accumulate is not None:
            # A quantity gathered along the solution (a quadrature over each step's interpolant, a record
            # of the steps): the accumulator sees every attempt, so it can write buffers in place.
            accumulated = cfg.accumulate(accumulated, accept, c.t, dt, c.u, result.stages, p, c.solver_state)

        if plan is not None:
            end = ev_hooks.after_step(plan, x.callback_data, alg, f, events, c.t, c.u, dt, stages, t, u, g_end,
                                      accept, t0, direction)
            u, events = end.u, end.ev
            end, solver_state, controller_state, retcode = _restart_after_jump(
                alg, f, controller, end, t, solver_state, controller_state, retcode, events_maxed)
            events = end.ev
            if cfg.save == "steps":
                ts_buf, us_buf, stage_buf, save_index, retcode = _save_post_event(
                    end, t, ts_buf, us_buf, stage_buf, save_index, retcode, cfg.dense)

        new_scalars = _Scalars(t, dt_next, controller_state, n_steps, n_accepted, retcode, stop_index,
                               save_index, n_interp)
        return packer.pack(new_scalars), _Arrays(u, solver_state, ts_buf, us_buf, stage_buf, accumulated,
                                                 None if plan is None else events)

    packed, arrays = lax.while_loop(lambda state: packer.unpack(state[0]).retcode == _RUNNING, body,
                                    (packer.pack(scalars), arrays))
    out = _View(packer.unpack(packed), arrays)

    counted = alg.state_stats(out.solver_state)
    if plan is not None:   # counters of the method states discarded at restarts after events
        counted.update({k: counted[k] + v for k, v in out.events.counted.items()})
    # Methods with a variable cost per step (Newton iterations, switching) count their own evaluations.
    nf = n_init_evals + counted.pop("nf_steps", out.n_steps * alg.evals_per_step)
    if out.n_interpolations is not None:
        nf = nf + out.n_interpolations * len(alg.interpolant.c_extra)
    event_fields = {}
    if plan is not None:
        e = out.events
        nf = nf + e.n_evals
        event_fields = dict(event_t=e.log_t, event_info=(e.log_index, e.log_component, e.n_logged, e.counts),
                            saved=e.saved)
    stats = {"nf": nf, "nsteps": out.n_steps, "naccept": out.n_accepted,
             "nreject": out.n_steps - out.n_accepted, **alg.extra_stats(out.n_steps, out.n_accepted), **counted}

    if cfg.save == "ends":
        ts = jnp.stack([t0, out.t])
        us = jnp.stack([x.u0, out.u])
        n_saved = jnp.asarray(2, jnp.int32)
    elif cfg.save == "saveat":
        ts, us, n_saved = out.ts, out.us, out.save_index
    else:
        # Pad past the last accepted step with the final time and state (valid for plotting and lookup).
        valid = jnp.arange(out.ts.shape[0]) < out.save_index
        ts = jnp.where(valid, out.ts, out.t)
        us = jnp.where(valid[:, None], out.us, out.u[None, :])
        n_saved = out.save_index
    return LoopOutput(ts, us, out.stages, n_saved, out.retcode, out.t, stats, out.accumulated, **event_fields)


# --- callbacks: each hook runs only when the solve has callbacks (cfg.events) --------------------------

def _hold_for_event(plan, alg, f, p, c, dt, t_new, result, accept, controller_state, dt_next):
    """Look for an event in the trial step; when one is found the step is discarded (not a rejection: the
    controller state and dt stay) and the next step lands on the event time."""
    stages = result.stages
    events = c.events
    if ev_hooks.needs_stages(plan) and alg.interpolant.c_extra:
        stages = full_stages(alg.interpolant, f, p, c.t, dt, c.u, result.stages)
        events = events._replace(n_evals=events.n_evals + len(alg.interpolant.c_extra))
    found, maxed, g_end, events = ev_hooks.hold_for_event(plan, alg, events, c.t, c.u, dt, stages, t_new,
                                                          result.u, accept)
    held = found | maxed
    controller_state = jax.tree_util.tree_map(lambda old, new: jnp.where(held, old, new),
                                              c.controller_state, controller_state)
    return events, stages, g_end, accept & ~held, controller_state, jnp.where(held, dt, dt_next), maxed


def _restart_after_jump(alg, f, controller, end, t, solver_state, controller_state, retcode, maxed):
    """After an affect changed u or p: the method's state (FSAL stage, Jacobian) and the controller's
    error history start afresh from the new state; a terminating affect or a full event log ends the loop."""
    p = end.ev.p
    counted = {k: v + jnp.where(end.jumped, _counters(alg, solver_state)[k], 0).astype(v.dtype)
               for k, v in end.ev.counted.items()}
    end = end._replace(ev=end.ev._replace(counted=counted))
    solver_state = lax.cond(end.jumped, lambda: alg.init(f, t, end.u, p), lambda: solver_state)
    fresh = controller.init(t.dtype)
    controller_state = jax.tree_util.tree_map(lambda new, old: jnp.where(end.jumped, new, old),
                                              fresh, controller_state)
    failed = (retcode != _RUNNING) & (retcode != ReturnCode.Success)
    retcode = jnp.where(end.terminate & ~failed, ReturnCode.Terminated, retcode)
    retcode = jnp.where(maxed, ReturnCode.MaxEvents, retcode).astype(jnp.int32)
    return end, solver_state, controller_state, retcode


def _counters(alg, solver_state):
    """The method's additive counters kept in its state (names starting with n: nf_steps, njacs, …)."""
    return {k: v for k, v in alg.state_stats(solver_state).items() if k.startswith("n")}


def _save_post_event(end, t, ts_buf, us_buf, stage_buf, save_index, retcode, dense):
    """Save-every-step mode: the state just after a jump is an extra point at the same time (a zero-length
    dense segment), so sol(t) is right-continuous across events. A full buffer stops with MaxIters."""
    add = end.jumped & (end.save_post | dense)
    # The slot at save_index is free (written unconditionally); the stages slot before it is not.
    ts_buf = ts_buf.at[save_index].set(t)
    us_buf = us_buf.at[save_index].set(end.u)
    if stage_buf is not None:
        last = save_index - 1
        stage_buf = stage_buf.at[last].set(jnp.where(add, 0.0, stage_buf[last]))
    save_index = save_index + add.astype(jnp.int32)
    full = (save_index >= ts_buf.shape[0] - 1) & (retcode == _RUNNING)
    retcode = jnp.where(full, ReturnCode.MaxIters, retcode).astype(jnp.int32)
    return ts_buf, us_buf, stage_buf, save_index, retcode


def _skip_if_empty(result, empty, u, solver_state):
    """A zero-length step (a traced stop at the current time) changes nothing: implicit methods would
    divide by dt = 0, so their result is replaced by the unchanged state."""
    keep = lambda new, old: jnp.where(empty, old, new)
    changes = dict(u=keep(result.u, u), error=jnp.where(empty, 0.0, result.error).astype(result.error.dtype),
                   state=jax.tree_util.tree_map(keep, result.state, solver_state),
                   stages=jnp.where(empty, 0.0, result.stages).astype(result.stages.dtype))
    if result.dt_factor is not None:
        changes["dt_factor"] = jnp.where(empty, 1.0, result.dt_factor).astype(jnp.result_type(result.dt_factor))
    if result.newton_failed is not None:
        changes["newton_failed"] = result.newton_failed & ~empty
    return result._replace(**changes)


def _fill_saveat(alg, f, p, direction, c, dt, t_new, result, accept, n_interp):
    """Write the interpolated state at every requested time in (t, t_new] of an accepted step."""
    ts_buf, us_buf, index = c.ts, c.us, c.save_index
    n_save = ts_buf.shape[0]
    tab = alg.interpolant
    next_time = ts_buf[jnp.minimum(index, n_save - 1)]
    inside = accept & (index < n_save) & (direction * (next_time - t_new) < 0)
    if tab.c_extra:
        # Extra stages cost f evaluations: only when a requested time lies strictly inside the step.
        extras = lax.cond(inside,
                          lambda: full_stages(tab, f, p, c.t, dt, c.u, result.stages)[alg.n_stages:],
                          lambda: jnp.zeros((len(tab.c_extra),) + result.u.shape, result.u.dtype))
        stages = jnp.concatenate([result.stages, extras])
        n_interp = n_interp + inside.astype(jnp.int32)
    else:
        stages = result.stages

    index, us_buf = fill_step_times(tab, ts_buf, index, us_buf, accept, c.t, dt, t_new, c.u, result.u, stages,
                                    direction)
    return index, us_buf, n_interp
