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

Saving is two loops (see _SMALL_BUFFER_BYTES): the step loop writes into small chunks (the last few steps;
for ``"saveat"`` a window of the next requested times, at most _SAVES_PER_STEP filled per step by a few
vector operations) and stops when a chunk is full; an outer loop copies the chunk into the big buffers and
starts the step loop again. The step loop then touches only small buffers, which XLA:CPU runs as a plain
sequence of kernels, and never loops over requested times within a step.

As a lane of an ensemble's named batch (``cfg.lanes``, see `lanes`), the loop's condition is reduced over the
batch and the body keeps finished lanes unchanged itself; "saveat" then writes into the whole buffer, a
scattered row per step (the chunks serve the sequential CPU schedule of one trajectory, not a batch).

Callbacks (``cfg.events``) add three hooks, each a small function below the loop (see `events`): the next
landing target (pending events, periodic times), the search for an event in a trial step, and the affects
at the end of an accepted step with the method's restart. Without callbacks none of them is traced.

The loop knows no problem type: it binds the right-hand side to the solve's traced data (`problems.Terms`:
the mass matrix; a right-hand side that ``reads_history`` is also bound to the accepted steps before
every step, as delay equations need) and hands each step ``terms.control(t, dt, p)``: dt for ODEs,
(dt, ΔW) for terms with noise.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from .._core.retcode import ReturnCode
from ..controllers import initial_step, step_end, step_floor
from ..interpolation import StepHistory, fill_step_times, fill_window, full_stages
from ..problems.terms import as_terms
from . import events as ev_hooks
from . import fixed_grid

_RUNNING = -1

# XLA:CPU runs a loop body's kernels one after another only when every buffer they touch has at most this
# many bytes (or the body has at most 8 kernels); otherwise it schedules them as a dataflow graph, which
# costs about 0.7 µs per iteration, as much as a whole Tsit5 step of a small ODE (`ThunkExecutor::Options`,
# ``execute_sequential_buffer_threshold``; not configurable). So the per-step loop writes saves into small
# chunks that stay under it, and an outer loop copies each full chunk into the big buffers.
_SMALL_BUFFER_BYTES = 512
_MAX_CHUNK_ROWS = 32
# "saveat": requested times interpolated per step without leaving the step loop; a step passing more of
# them hands the rest to the outer loop (a few vector operations each step instead of a loop per step).
_SAVES_PER_STEP = 2
_LARGE_STATE_WINDOW = 8     # saveat window for states too large for the small-buffer size
# Lanes of a named batch (see `lanes`) write their saves by a scatter, whose cost grows with the rows: one per
# step, and a loop for more (steps passing several requested times are the exception with ~1 save per step).
_LANE_SAVES_PER_STEP = 1


class LoopConfig(NamedTuple):
    """Static (trace-time) options of the loop: ``adaptive`` (error-controlled steps), ``save`` ("ends",
    "saveat" or "steps"), ``dense`` (with "steps": also store the stages for sol(t)), ``max_steps``,
    ``has_tstops``, ``given_dt`` (the first step is the user's dt, else Hairer's estimate), ``accumulate``
    (an accumulator run on every attempted step, or None), ``events`` (the callbacks' `EventPlan`, or None)
    ``fixed_steps`` (the number of fixed steps when known before tracing: the solve may run as one scan) and
    ``lanes`` (see `lanes`; set by `solve` where the batch axis is bound)."""
    adaptive: bool
    save: str            # "ends" | "saveat" | "steps"
    dense: bool          # with save == "steps": also store the stages for sol(t)
    max_steps: int
    has_tstops: bool
    given_dt: bool       # the first step is the user's dt (else Hairer's estimate)
    accumulate: object = None   # optional acc(acc, accept, t, dt, u, stages, p, solver_state) -> acc, run on
                                # every attempted step (it keeps its value itself when accept is False)
    events: object = None       # callbacks.EventPlan (None: no callbacks, and the loop carries nothing for them)
    fixed_steps: int | None = None   # fixed steps on the grid t0 + k·dt, known before tracing (concrete span and
                                     # dt, no dtmax below dt): the solve may run as one scan (`fixed_grid`)
    lanes: str | None = None    # the named batch axis the loop runs as a lane of (`lanes.bound_axis`), or None


class LoopInputs(NamedTuple):
    """Dynamic (traced) inputs of the loop: the flat initial state ``u0``, the span ``t0``, ``t1``, the
    parameters ``p``, the tolerances ``rtol``, ``atol``, the step options ``dt``, ``dtmin``, ``dtmax``, the
    ``saveat`` and ``tstops`` times (None when not given), the mass matrix ``mass`` (implicit methods only),
    the accumulator's initial value ``accumulated`` and the callbacks' arrays ``callback_data``."""
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
    p_final: object = None       # the parameters after the last affect (with cfg.events)


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
    save_index: jnp.ndarray | None     # next free slot of the save buffers (of the chunk, when chunked)
    n_interpolations: jnp.ndarray | None  # steps whose extra dense stages were evaluated ("saveat")
    grid_t: jnp.ndarray | None = None     # fixed steps: the last stop landed on (t0 at first) ...
    grid_n: jnp.ndarray | None = None     # ... and the steps since; the next step ends at grid_t + (grid_n+1) dt


class _Arrays(NamedTuple):
    u: jnp.ndarray
    solver_state: object
    ts: jnp.ndarray | None
    us: jnp.ndarray | None
    stages: jnp.ndarray | None
    accumulated: object
    events: object = None      # integrate.events.EventState (with cfg.events)
    save_base: jnp.ndarray | None = None   # chunked saving: slot of the big buffers where the chunk starts
    last_step: jnp.ndarray | None = None   # chunked "saveat": (t, dt, u, u_new, stages) of the step just taken, flat,
    #                                        for the requested times past the window (see _fill_saveat)


class _View(NamedTuple):
    """Scalars and arrays of the loop state side by side, read-only, for the loop body."""
    scalars: _Scalars
    arrays: _Arrays

    def __getattr__(self, name):
        part = self.scalars if name in _Scalars._fields else self.arrays
        return getattr(part, name)


class _ScalarPacker:
    """Packs a pytree of scalars (floats, ints, bools) into vectors of ``dtype`` and back.

    Integers stay exact while below 2^53 (float64) or 2^24 (float32), far above any step count. The
    vectors hold at most 8 scalars each: XLA:CPU fuses the computation of a concatenation's operands
    into it only up to 8 operands; beyond that every scalar becomes a kernel of its own, on every step.
    A single scalar left over travels as itself (packing it alone would only add conversions).
    """
    WIDTH = 8

    def __init__(self, template, dtype):
        leaves, self.treedef = jax.tree_util.tree_flatten(template)
        self.kinds = [jnp.asarray(leaf).dtype for leaf in leaves]
        self.dtype = dtype
        self.groups = [(i, min(i + self.WIDTH, len(leaves))) for i in range(0, len(leaves), self.WIDTH)]

    def pack(self, tree):
        leaves = jax.tree_util.tree_leaves(tree)
        return tuple(jnp.asarray(leaves[a], self.kinds[a]) if b - a == 1 else
                     jnp.stack([jnp.asarray(leaf).astype(self.dtype) for leaf in leaves[a:b]])
                     for a, b in self.groups)

    def unpack(self, packed):
        leaves = []
        for (a, b), part in zip(self.groups, packed):
            leaves += [part] if b - a == 1 else [part[i].astype(kind) for i, kind in enumerate(self.kinds[a:b])]
        return jax.tree_util.tree_unflatten(self.treedef, leaves)


def integrate(f, alg, controller, cfg: LoopConfig, x: LoopInputs) -> LoopOutput:
    """Run the loop for ``f(u, p, t)`` on flat states; see the module docstring. ``alg``: the solver method;
    ``controller``: the step-size controller; ``cfg``: the static `LoopConfig`; ``x``: the traced `LoopInputs`.
    Returns the `LoopOutput` (saved times and states, stages for dense output, return code and statistics)."""
    if fixed_grid.applies(cfg, f, x.u0.shape[0], x.u0.dtype.itemsize, alg.n_stages):
        return fixed_grid.integrate_fixed_grid(f, alg, cfg, x, LoopOutput)
    dtype = x.u0.dtype
    t0, t1 = x.t0, x.t1
    direction = jnp.where(t1 >= t0, 1.0, -1.0).astype(dtype)
    plan, ev = cfg.events, None
    if plan is not None:
        u0, p0, ev = ev_hooks.init(plan, x.callback_data, x.u0, x.p, t0, direction)
        x = x._replace(u0=u0, p=p0)
    rtol, atol = alg.step_tolerances(x.rtol, x.atol)      # tolerance proportionality (order-2 methods)
    error_norm = alg.error_norm(x.rtol, x.atol)
    # The right-hand side bound to the solve's traced data (`Terms`); one that reads the solution's own
    # past (delay equations) is bound to the accepted steps before every step, so it needs them all stored.
    reads_history = getattr(f, "reads_history", False)
    if reads_history and not (cfg.save == "steps" and cfg.dense):
        raise ValueError(f"integrate: {f!r} reads the solution's history; it needs save='steps' with dense=True")
    # One lane of a batch with a named axis (see `lanes`): the loop masks finished lanes itself.
    axis = cfg.lanes if cfg.save in ("ends", "saveat") and plan is None else None
    terms = as_terms(f, x.mass)
    step_rhs = (lambda ts, us, stages, index: as_terms(f.with_history(StepHistory(ts, us, stages, index - 1)), x.mass)
                ) if reads_history else (lambda *buffers: terms)
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
        # counted only for interpolants with extra stages (a scalar less to carry otherwise)
        n_interp = jnp.zeros((), jnp.int32) if alg.interpolant.c_extra else None
    elif cfg.save == "steps":
        size = cfg.max_steps + 1 + (0 if plan is None else plan.max_events)   # room for post-event points
        ts_buf = jnp.full((size,), t0, dtype)
        us_buf = jnp.zeros((size, n), dtype).at[0].set(x.u0)
        save_index = jnp.ones((), jnp.int32)
        if cfg.dense:
            stage_buf = jnp.zeros((cfg.max_steps, alg.n_stages, n), dtype)

    # Chunked saving (see _SMALL_BUFFER_BYTES): the step loop writes into chunks of `rows` slots (for
    # "saveat" a window of the next requested times and their states), the big buffers wait outside it.
    rows = 0 if axis is not None else _chunk_rows(cfg, n, dtype, None if x.saveat is None else x.saveat.shape[0],
                                                  reads_history)
    save_base = big = window_times = last_step = None
    if axis is not None and cfg.save == "saveat":
        # Lanes write straight into the whole buffer, a few rows per step, by a scatter that drops rows past
        # its end; the times (padded so that a window of _LANE_SAVES_PER_STEP always fits) stay outside the
        # carry (they are the same for all lanes).
        ends = direction.astype(ts_buf.dtype) * jnp.full((_LANE_SAVES_PER_STEP,), jnp.inf, ts_buf.dtype)
        window_times, ts_buf = jnp.concatenate([ts_buf, ends]), None
    if rows:
        save_base, save_index = save_index, jnp.zeros((), jnp.int32)
        if cfg.save == "saveat":
            big = (None, us_buf, None)
            # the window's times and _SAVES_PER_STEP more (the slots a step may look at); past the end ±inf
            ends = direction.astype(ts_buf.dtype) * jnp.full((rows + _SAVES_PER_STEP,), jnp.inf, ts_buf.dtype)
            window_times = jnp.concatenate([ts_buf, ends])
            ts_buf = lax.dynamic_slice_in_dim(window_times, save_base, rows + _SAVES_PER_STEP)
            us_buf = jnp.zeros((rows + _SAVES_PER_STEP - 1, n), dtype)
            n_all = alg.n_stages + len(alg.interpolant.c_extra)
            last_step = jnp.zeros((2 + (2 + n_all) * n,), dtype)
        else:
            big = (ts_buf, us_buf, stage_buf)
            ts_buf = jnp.full((rows,), t0, dtype)
            us_buf = jnp.zeros((rows, n), dtype)
            # one (rows, n) array per stage, so that each stays under the small-buffer size
            stage_buf = None if stage_buf is None else tuple(jnp.zeros((rows, n), dtype) for _ in range(alg.n_stages))
    stage_shift = 0 if rows else 1     # stage row of the step ending at save slot i: i - stage_shift

    scalars = _Scalars(
        t=t0, dt=dt, controller_state=controller.init(dtype),
        n_steps=jnp.zeros((), jnp.int32), n_accepted=jnp.zeros((), jnp.int32),
        retcode=jnp.asarray(_RUNNING, jnp.int32),
        stop_index=jnp.zeros((), jnp.int32) if cfg.has_tstops else None,
        save_index=save_index, n_interpolations=n_interp,
        grid_t=None if cfg.adaptive else t0, grid_n=None if cfg.adaptive else jnp.zeros((), jnp.int32))
    arrays = _Arrays(u=x.u0, solver_state=solver_state, ts=ts_buf, us=us_buf, stages=stage_buf,
                     accumulated=x.accumulated, events=ev, save_base=save_base, last_step=last_step)
    packer = _ScalarPacker(scalars, dtype)

    def body(state):
        c = _View(packer.unpack(state[0]), state[1])
        next_stop = t1 if stops is None else stops[c.stop_index]
        p = x.p if plan is None else c.events.p
        target = next_stop if plan is None else ev_hooks.target(plan, x.callback_data, c.events, next_stop, t0, direction)
        # Land exactly on the next stop when the proposal reaches it (or would leave a sliver); fixed steps
        # run on the grid grid_t + n dt and take the time advanced (see `step_end`).
        grid = None if cfg.adaptive else (c.grid_t, c.grid_n)
        t_new, dt, lands = step_end(c.t, c.dt, target, direction, grid)
        step_terms = step_rhs(c.ts, c.us, c.stages, c.save_index)
        result = alg.step(step_terms, c.t, c.u, step_terms.control(c.t, dt, p), p, c.solver_state, error_norm)
        if stops is not None or plan is not None:
            result = _skip_if_empty(result, dt == 0, c.u, c.solver_state)

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
                plan, alg, terms, p, c, dt, t_new, result, accept, controller_state, dt_next)
        if axis is not None:   # a finished lane takes no step (its state is kept below, its saves masked)
            live = c.retcode == _RUNNING
            accept = accept & live

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
                      jnp.where(unstable, underflow,      # fixed steps: a failed Newton solve's NaN too
                                jnp.where(n_steps >= cfg.max_steps, ReturnCode.MaxIters, _RUNNING)))).astype(jnp.int32)

        save_index, ts_buf, us_buf, stage_buf, n_interp = c.save_index, c.ts, c.us, c.stages, c.n_interpolations
        last_step = c.last_step
        if cfg.save == "saveat" and axis is not None:
            save_index, us_buf, n_interp = _fill_saveat_lanes(
                alg, terms, p, direction, c, dt, t_new, result, accept, n_interp, window_times, axis)
        elif cfg.save == "saveat":
            save_index, us_buf, n_interp, last_step = _fill_saveat(
                alg, terms, p, direction, c, dt, t_new, result, accept, n_interp, window=rows)
        elif cfg.save == "steps":
            # Write unconditionally at the next slot; only an accepted step advances the index. The time
            # written depends on the step's outcome (t, not t_new), so the write follows every read of the
            # buffer in the step (delay equations read it): XLA then updates it in place instead of copying
            # the whole max_steps-sized buffer on every step.
            ts_buf = _set_row(ts_buf, save_index, t)
            us_buf = _set_row(us_buf, save_index, result.u)
            if stage_buf is not None:
                stage_buf = _set_stages(stage_buf, save_index - stage_shift, result.stages)
            save_index = save_index + accept.astype(jnp.int32)

        accumulated = c.accumulated
        if cfg.accumulate is not None:
            # A quantity gathered along the solution (a quadrature over each step's interpolant, a record
            # of the steps): the accumulator sees every attempt, so it can write buffers in place.
            accumulated = cfg.accumulate(accumulated, accept, c.t, dt, c.u, result.stages, p, c.solver_state)

        if plan is not None:
            end = ev_hooks.after_step(plan, x.callback_data, alg, terms, events, c.t, c.u, dt, stages, t, u, g_end,
                                      accept, t0, direction)
            u, events = end.u, end.ev
            end, solver_state, controller_state, retcode = _restart_after_jump(
                alg, terms, controller, end, t, solver_state, controller_state, retcode, events_maxed)
            events = end.ev
            if cfg.save == "steps":
                capacity = ts_buf.shape[0] if big is None else big[0].shape[0]
                ts_buf, us_buf, stage_buf, save_index, retcode = _save_post_event(
                    end, t, ts_buf, us_buf, stage_buf, save_index, retcode, cfg.dense, stage_shift,
                    capacity - (0 if c.save_base is None else c.save_base))

        grid_t = grid_n = None
        if not cfg.adaptive:   # the fixed-step grid restarts at every landing (a stop, an event)
            grid_t = jnp.where(accept & lands, t, c.grid_t)
            grid_n = jnp.where(accept & lands, 0, c.grid_n + accept.astype(jnp.int32))
        new_scalars = _Scalars(t, dt_next, controller_state, n_steps, n_accepted, retcode, stop_index,
                               save_index, n_interp, grid_t, grid_n)
        packed = packer.pack(new_scalars)
        if axis is not None:   # u and the saves follow `accept`; the rest is kept here
            keep = lambda new, old: jnp.where(live, new, old)
            packed = jax.tree_util.tree_map(keep, packed, state[0])
            if result.rejected_state is not None:   # (otherwise a step not accepted keeps it already)
                solver_state = jax.tree_util.tree_map(keep, solver_state, c.solver_state)
            # (an accumulator sees every attempt: a finished lane's would write its next slot)
            accumulated = jax.tree_util.tree_map(keep, accumulated, c.accumulated)
        return packed, _Arrays(u, solver_state, ts_buf, us_buf, stage_buf, accumulated,
                               None if plan is None else events, c.save_base, last_step)

    running = lambda state: packer.unpack(state[0]).retcode == _RUNNING
    if axis is not None:
        # one flag for the whole batch: JAX then selects nothing after each step (the body masks)
        packed, arrays = lax.while_loop(lambda state: lax.pmax(running(state), axis), body,
                                        (packer.pack(scalars), arrays))
        out = _View(packer.unpack(packed), arrays)
    elif not rows:
        packed, arrays = lax.while_loop(running, body, (packer.pack(scalars), arrays))
        out = _View(packer.unpack(packed), arrays)
    else:
        per_step = 2 if (cfg.save == "steps" and plan is not None) else 1   # a post-event point is a second

        def room(state):
            sc = packer.unpack(state[0])
            more = (sc.retcode == _RUNNING) & (sc.save_index + per_step <= rows)
            if cfg.save == "saveat":   # and no requested time passed unfilled (more than a step's slots)
                more = more & (direction * (state[1].ts[sc.save_index] - sc.t) > 0)
            return more

        def chunk(state):
            packed, arrays, (big_ts, big_us, big_stages) = state
            packed, arrays = lax.while_loop(room, body, (packed, arrays))
            sc = packer.unpack(packed)
            base, count = arrays.save_base, sc.save_index
            big_us = _put_rows(big_us, arrays.us[:rows], base, count)
            if cfg.save == "steps":
                big_ts = _put_rows(big_ts, arrays.ts, base, count)
                if big_stages is not None:
                    big_stages = _put_rows(big_stages, jnp.stack(arrays.stages, axis=1), base - 1, count)
            base = base + count
            if cfg.save == "saveat":
                # Requested times the last step passed without a slot for them (the inner loop stops at
                # once then): its record fills them.
                passed = direction * (arrays.ts[count] - sc.t) <= 0
                # The step's own end state, not arrays.u: an event's affect may have changed the state at
                # the step's end since, and a requested time there reports the state before the affect.
                t_s, dt_s, u_s, u_end, stages_s = _unflatten_step(arrays.last_step, n, sc.t.dtype)
                base, big_us = fill_step_times(alg.interpolant, x.saveat, base, big_us, passed, t_s, dt_s, sc.t,
                                               u_s, u_end, stages_s, direction)
                arrays = arrays._replace(ts=lax.dynamic_slice_in_dim(window_times, base, rows + _SAVES_PER_STEP))
            sc = sc._replace(save_index=jnp.zeros_like(count))
            return packer.pack(sc), arrays._replace(save_base=base), (big_ts, big_us, big_stages)

        packed, arrays, (big_ts, big_us, big_stages) = lax.while_loop(
            running, chunk, (packer.pack(scalars), arrays, big))
        sc = packer.unpack(packed)
        out = _View(sc._replace(save_index=arrays.save_base),
                    arrays._replace(ts=x.saveat if cfg.save == "saveat" else big_ts, us=big_us, stages=big_stages))

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
                            saved=e.saved, p_final=e.p)
    stats = {"nf": nf, "nsteps": out.n_steps, "naccept": out.n_accepted,
             "nreject": out.n_steps - out.n_accepted, **alg.extra_stats(out.n_steps, out.n_accepted), **counted}

    if cfg.save == "ends":
        ts = jnp.stack([t0, out.t])
        us = jnp.stack([x.u0, out.u])
        n_saved = jnp.asarray(2, jnp.int32)
    elif cfg.save == "saveat":
        ts, us, n_saved = x.saveat, out.us, out.save_index
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


def _save_post_event(end, t, ts_buf, us_buf, stage_buf, save_index, retcode, dense, stage_shift, capacity):
    """Save-every-step mode: the state just after a jump is an extra point at the same time (a zero-length
    dense segment), so sol(t) is right-continuous across events. A full buffer (``capacity`` slots from
    the start of ``ts_buf``) stops with MaxIters."""
    add = end.jumped & (end.save_post | dense)
    # The slot at save_index is free (written unconditionally); the stages slot of the point it follows
    # (written by the step) is the zero-length segment's when the point is added.
    ts_buf = _set_row(ts_buf, save_index, t)
    us_buf = _set_row(us_buf, save_index, end.u)
    if stage_buf is not None:
        stage_buf = _set_stages(stage_buf, save_index - stage_shift, 0.0, keep=~add)
    save_index = save_index + add.astype(jnp.int32)
    full = (save_index >= capacity - 1) & (retcode == _RUNNING)
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


def _chunk_rows(cfg, n, dtype, n_saveat, reads_history):
    """Slots of the small save chunks (see _SMALL_BUFFER_BYTES; for "saveat" the window, always used), or 0
    to save straight into the big buffers: with no saving, for delay equations (whose steps read the saved
    solution), and, saving every step, for states too large for two rows to fit the small-buffer size
    (their loop is scheduled as a graph anyway)."""
    if cfg.save == "ends" or reads_history:
        return 0
    rows = _SMALL_BUFFER_BYTES // (max(n, 1) * jnp.dtype(dtype).itemsize)
    if cfg.save == "saveat":
        # Large states: the window still beats a loop over the requested times in every step.
        rows = min(max(rows - (_SAVES_PER_STEP - 1), _LARGE_STATE_WINDOW), n_saveat)
        return rows
    rows = min(rows, _MAX_CHUNK_ROWS, cfg.max_steps)
    return rows if rows >= 2 else 0


def _set_row(buf, row, value):
    """buf[row] = value for a row known to be in range (no bounds check, which costs kernels per step)."""
    return lax.dynamic_update_index_in_dim(buf, jnp.asarray(value, buf.dtype), row, 0)


def _set_stages(buf, row, stages, keep=None):
    """buf[row] = stages (kept as is where ``keep``); ``buf`` is (steps, s, n) or a chunk: s arrays (rows, n)."""
    if isinstance(buf, tuple):
        new = [jnp.broadcast_to(jnp.asarray(stages, b.dtype), (len(buf),) + b.shape[1:])[k] for k, b in enumerate(buf)]
        return tuple(_set_row(b, row, v if keep is None else jnp.where(keep, b[row], v)) for b, v in zip(buf, new))
    value = jnp.broadcast_to(jnp.asarray(stages, buf.dtype), buf.shape[1:])
    return _set_row(buf, row, value if keep is None else jnp.where(keep, buf[row], value))


def _put_rows(big, rows, start, count):
    """big[start:start+count] = rows[:count] as one write of all the chunk's rows. A write running past the
    end of ``big`` is moved back by XLA, so the rows are shifted to where it lands and only the slots in
    [start, start+count) change."""
    k = rows.shape[0]
    at = jnp.clip(start, 0, big.shape[0] - k)
    source = jnp.arange(k) + (at - start)
    new = (source >= 0) & (source < count)
    shape = (k,) + (1,) * (rows.ndim - 1)
    block = jnp.where(new.reshape(shape), rows[jnp.clip(source, 0, k - 1)], lax.dynamic_slice_in_dim(big, at, k))
    return lax.dynamic_update_slice_in_dim(big, block, at, 0)


def _fill_saveat(alg, f, p, direction, c, dt, t_new, result, accept, n_interp, window):
    """Write the interpolated state at the requested times in (t, t_new] of an accepted step: c.ts/c.us are
    the window of the next ``window`` requested times (see _chunk_rows), of which at most the next
    _SAVES_PER_STEP are filled here; the outer loop fills any others the step passed."""
    ts_buf, us_buf, index = c.ts, c.us, c.save_index
    n_save = ts_buf.shape[0]
    tab = alg.interpolant
    next_time = ts_buf[jnp.minimum(index, n_save - 1)]
    inside = accept & (index < n_save) & (direction * (next_time - t_new) < 0)
    stages, n_interp = _interpolant_stages(alg, f, p, c, dt, result, inside, n_interp, inside)

    us_buf, index = fill_window(tab, ts_buf, us_buf, index, window, _SAVES_PER_STEP, accept, c.t, dt, t_new, c.u,
                                result.u, stages, direction)
    # Every step leaves its record, unconditionally (a select would cost more): when the step passed more
    # requested times than it had slots for, the step loop stops and the outer loop fills them from it.
    record = jnp.concatenate([jnp.stack([c.t, dt]).astype(us_buf.dtype), c.u, result.u, stages.ravel()])
    return index, us_buf, n_interp, record


def _interpolant_stages(alg, f, p, c, dt, result, inside, n_interp, any_inside):
    """The step's stages with its interpolant's extra stages, which cost f evaluations: computed only when
    ``any_inside`` (a requested time lies strictly inside the step; for lanes, inside any lane's step), and
    counted where ``inside``."""
    tab = alg.interpolant
    if not tab.c_extra:
        return result.stages, n_interp
    extras = lax.cond(any_inside,
                      lambda: full_stages(tab, f, p, c.t, dt, c.u, result.stages)[alg.n_stages:],
                      lambda: jnp.zeros((len(tab.c_extra),) + result.u.shape, result.u.dtype))
    return jnp.concatenate([result.stages, extras]), n_interp + inside.astype(jnp.int32)


def _fill_saveat_lanes(alg, f, p, direction, c, dt, t_new, result, accept, n_interp, times, axis):
    """`_fill_saveat` for a lane of a named batch (see `lanes`): the requested times in (t, t_new] of an
    accepted step are written straight into the whole buffer c.us (``times``: the requested times padded
    with _LANE_SAVES_PER_STEP infinite ones), that many at once, and again while any lane's step passed
    more of them (rarely: a loop whose flag is reduced over the batch)."""
    n_save = c.us.shape[0]
    due = lambda index: accept & (index < n_save) & (direction * (times[index] - t_new) <= 0)
    inside = due(c.save_index) & (times[c.save_index] != t_new)
    stages, n_interp = _interpolant_stages(alg, f, p, c, dt, result, inside, n_interp, lax.pmax(inside, axis))
    fill = lambda us, index: fill_window(alg.interpolant, times, us, index, n_save, _LANE_SAVES_PER_STEP, accept,
                                         c.t, dt, t_new, c.u, result.u, stages, direction, drop=True)
    us, index = fill(c.us, c.save_index)
    index, us = lax.while_loop(lambda s: lax.pmax(due(s[0]), axis), lambda s: fill(s[1], s[0])[::-1], (index, us))
    return index, us, n_interp


def _unflatten_step(record, n, tdtype):
    """(t, dt, u at the start, u at the end (before any event's affect), stages) of a step recorded by
    _fill_saveat."""
    t, dt = record[0].real.astype(tdtype), record[1].real.astype(tdtype)
    return t, dt, record[2:2 + n], record[2 + n:2 + 2 * n], record[2 + 2 * n:].reshape(-1, n)
