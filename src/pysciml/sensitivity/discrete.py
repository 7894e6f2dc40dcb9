"""DiscreteAdjoint: reverse-mode differentiation of the solver's own arithmetic, with checkpoints.

The forward solve records the time and size of every accepted step (two scalars per step) and the state
at every K-th accepted step (``checkpoints`` states in all). The reverse pass walks the segments between
checkpoints from the last to the first: it re-runs the K steps of a segment from its checkpoint, then
pulls the cotangent back through them one step at a time with `jax.vjp` of the method's step (and of the
interpolant at the save points that step produced). Memory is O(checkpoints + K) states instead of
O(steps), and the work is about one extra forward solve plus one vector–Jacobian product per step.

The gradient is the exact derivative of the discrete solution on the accepted step sequence: step sizes
are held at their forward values (the controller's choice is not differentiated, as in every adjoint
method), except that the first and last steps follow the span's ends, so gradients with respect to
t0 and t1 are exact too. Every step is re-evaluated from its start state (an FSAL stage is recomputed),
which makes the derivative of each step self-contained.

Callbacks whose affects act at step ends found again from the recorded steps — preset and periodic times,
and discrete conditions (their outcome on the replayed state; like the step sizes, not differentiated) —
are part of each step's map u_k ↦ A(step(u_k)), so the affect's own derivative (in u, p and t) is pulled
back with the step's; the value saved at the step's end is the one before the affect, as the forward loop
saves it. Continuous events (located inside steps), SavingCallbacks and affects that change p are refused
(`check_callbacks`).

Methods whose steps are linear algebra only (explicit Runge–Kutta, Rosenbrock, and switching between
the two) are supported; methods with Newton iterations (ESDIRK, Radau, BDF) are refused by
`check_sensealg`.
"""
import math
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from .._core.retcode import ReturnCode
from ..callbacks import Effect
from ..integrate.events import initial_jumps, step_end_jumps
from ..interpolation import full_stages, stage_weights
from ..linalg import DenseLU
from ..problems.terms import as_terms
from ..solvers.base import NON_ITERATIVE, NewtonImplicit
from ..solvers.sde import StochasticRungeKutta
from ..solvers.composite import AutoSwitch
from .inputs import InputSplit, zero_cotangent

def supports(alg) -> bool:
    """Whether ``alg``'s steps can be replayed and differentiated: no Newton iterations, and linear
    solves by dense LU (the iterative ones loop until converged, which reverse mode cannot follow)."""
    if isinstance(alg, AutoSwitch):
        return supports(alg.nonstiff) and supports(alg.stiff)
    linsolve = alg.linear_solver
    # Explicit SDE steps are a fixed sequence of evaluations given the Brownian path, which the replay
    # queries again at the same times (pathwise gradients on the same path).
    explicit_sde = isinstance(alg, StochasticRungeKutta) and not isinstance(alg, NewtonImplicit)
    return (isinstance(alg, NON_ITERATIVE) or explicit_sde) and (linsolve is None or isinstance(linsolve, DenseLU))


def segment_length(max_steps: int, checkpoints) -> int:
    """Steps per checkpointed segment: ``checkpoints`` states cover ``max_steps`` steps (default: √max_steps
    of them, the classic square-root trade of memory for one re-computation)."""
    count = math.ceil(math.sqrt(max_steps)) if checkpoints is None else min(int(checkpoints), max_steps)
    return math.ceil(max_steps / count)


class StepRecord:
    """The loop accumulator of the forward pass: step starts, sizes and modes, and the checkpoints."""

    def __init__(self, every: int):
        self.every = every

    def __eq__(self, other):
        return isinstance(other, StepRecord) and other.every == self.every

    def __hash__(self):
        return hash((StepRecord, self.every))

    def initial(self, u0, max_steps):
        dtype = u0.dtype
        n_checkpoints = -(-max_steps // self.every)
        return (jnp.zeros((), jnp.int32), jnp.zeros((max_steps,), dtype), jnp.zeros((max_steps,), dtype),
                jnp.zeros((max_steps,), jnp.bool_), jnp.zeros((n_checkpoints, u0.shape[0]), dtype))

    def __call__(self, acc, accept, t, dt, u, stages, p, solver_state):
        # Written at the next free slot on every attempt; only an accepted step advances the count.
        k, starts, sizes, modes, states = acc
        slot = jnp.minimum(k, starts.shape[0] - 1)
        starts = starts.at[slot].set(t)
        sizes = sizes.at[slot].set(dt)
        modes = modes.at[slot].set(_mode(solver_state))
        first = (k % self.every) == 0
        index = jnp.minimum(k // self.every, states.shape[0] - 1)
        states = states.at[index].set(jnp.where(first, u, states[index]))
        return k + accept.astype(jnp.int32), starts, sizes, modes, states


def _mode(solver_state):
    """Which half of a switching method took the step (False for single methods)."""
    return jnp.asarray(getattr(solver_state, "stiff", False))


def _replay_state(alg, f, t, u, p, mode):
    """The method's state at the start of a step, recomputed from (t, u): an FSAL stage is f(u), and a
    switching method is set to the half that took the step."""
    state = alg.init(f, t, u, p)
    if isinstance(alg, AutoSwitch):
        state = state._replace(stiff=mode)
    return state


# Callbacks whose affects jump the state at step ends the replay can find again from the step times
# (preset, periodic) or from the replayed state (discrete: the condition's outcome is held, like the steps);
# a steady-state test only ends the solve.
_REPLAYED = ("preset", "periodic", "discrete")


def check_callbacks(plan, save_mode, inputs):
    """Refuse, before compiling, the callbacks the replay cannot follow: continuous events (their located
    times are not replayed), SavingCallbacks (their values are not differentiated), affects that change p
    (an `Effect` with p), and jumps in a solve that saves every step (the post-event rows shift the saved
    steps). ``plan``: the loop's EventPlan or None; ``save_mode``: the loop's; ``inputs``: the LoopInputs."""
    if plan is None:
        return
    use = "; use ForwardDiffSensitivity(), which differentiates the solver, its events and affects exactly"
    for kind, what in (("continuous", "continuous callbacks (event times located inside steps)"),
                       ("saving", "SavingCallback values")):
        if plan.of_kind(kind):
            raise ValueError(f"sensealg=DiscreteAdjoint() cannot differentiate {what}{use}")
    jumps = [cb for kind in _REPLAYED for _, cb in plan.of_kind(kind)]
    if jumps and save_mode == "steps":
        raise ValueError("sensealg=DiscreteAdjoint() with preset, periodic or discrete callbacks needs saveat=... or "
                         f"save_everystep=False (every-step saving adds the post-affect states as extra rows){use}")
    u = plan.spec.unravel(inputs.u0)
    for cb in jumps:
        out = jax.eval_shape(lambda uu, pp, tt: cb.affect(uu, pp, tt), u, inputs.p, inputs.t0)
        if isinstance(out, Effect) and out.p is not None:
            raise ValueError("sensealg=DiscreteAdjoint() cannot differentiate an affect that changes p (an "
                             f"Effect with p){use}")


def discrete_adjoint_solve(sensealg, ctx, inputs):
    check_callbacks(ctx.cfg.events, ctx.cfg.save, inputs)
    split = InputSplit.of(inputs.p)
    record = StepRecord(segment_length(ctx.cfg.max_steps, sensealg.checkpoints))
    cfg = ctx.cfg._replace(accumulate=record)

    @jax.custom_vjp
    def run(diff, rest):
        return ctx.make_loop(ctx.rhs, ctx.alg, ctx.cfg)(split.merge(diff, rest))

    def forward(diff, rest):
        x = split.merge(diff, rest)._replace(accumulated=record.initial(diff[0], ctx.cfg.max_steps))
        out = ctx.make_loop(ctx.rhs, ctx.alg, cfg)(x)
        return out._replace(accumulated=None), (diff, rest, out)

    def backward(residuals, ct):
        diff, rest, out = residuals
        grads = _reverse_pass(ctx, split, record.every, diff, rest, out, ct.us, ct.ts, ct.t_final, ct.stages)
        return grads, jax.tree_util.tree_map(zero_cotangent, rest)

    run.defvjp(forward, backward)
    return run(*split.split(inputs))


@partial(jax.jit, static_argnums=(0, 1, 2))
def _reverse_pass(ctx, split, every, diff, rest, out, ct_us, ct_ts, ct_t_final, ct_stages):
    u0, t0, t1, p_diff = diff
    others, p_rest = rest
    alg, f, cfg = ctx.alg, ctx.rhs, ctx.cfg
    n_steps, starts, sizes, modes, states = out.accumulated
    dtype = u0.dtype
    direction = jnp.where(t1 >= t0, 1.0, -1.0).astype(dtype)
    tab = alg.interpolant
    error_norm = alg.error_norm(others.rtol, others.atol)     # as the forward loop controlled the steps
    ct_us = ct_us.astype(dtype)
    plan, data = cfg.events, others.callback_data
    if plan is not None and not any(plan.of_kind(kind) for kind in _REPLAYED):
        plan = None                 # nothing jumps: the steps are replayed as they are

    # Cotangents that reach u0, t0, t1 directly, and those of values interpolated inside steps.
    save_times = save_ct = None
    if cfg.save == "steps":
        # Every accepted state is an output (the rows past the last step repeat the final one), and so are
        # the stages of every step with dense output; of the step times only the first and last move.
        after_last = jnp.arange(ct_us.shape[0]) > n_steps
        lam = ct_us[n_steps] + jnp.sum(jnp.where(after_last[:, None], ct_us, 0.0), axis=0)
        d_u0_direct = jnp.zeros_like(u0)
        d_t0 = ct_ts[0].astype(dtype)
        d_t1 = (ct_t_final + jnp.sum(jnp.where(jnp.arange(ct_ts.shape[0]) >= n_steps, ct_ts, 0.0))).astype(dtype)
    elif cfg.save == "ends":
        lam = ct_us[1]
        d_u0_direct = ct_us[0]
        d_t0 = ct_ts[0].astype(dtype)
        d_t1 = (ct_t_final + ct_ts[1]).astype(dtype)
    else:
        save_times = others.saveat
        valid = jnp.arange(save_times.shape[0]) < out.n_saved
        at_start = direction * (save_times - t0) <= 0
        d_u0_direct = jnp.sum(jnp.where((valid & at_start)[:, None], ct_us, 0.0), axis=0)
        save_ct = jnp.where((valid & ~at_start)[:, None], ct_us, 0.0)
        lam = jnp.zeros_like(u0)
        d_t0 = jnp.zeros((), dtype)
        d_t1 = ct_t_final.astype(dtype)

    last = n_steps - 1

    def step_span(k, t0_, t1_):
        """Start, end and size of accepted step k; the first and last follow the span's ends."""
        t = jnp.where(k == 0, t0_, starts[k])
        end = jnp.where(k == last, t1_, starts[jnp.minimum(k + 1, starts.shape[0] - 1)])
        dt = jnp.where((k == 0) | (k == last), end - t, sizes[k])
        return t, end, dt

    def advance(u, pd, t, dt, k):
        p = split.merge_p(pd, p_rest)
        state = _replay_state(alg, f, t, u, p, modes[k])
        terms = as_terms(f, others.mass)
        result = alg.step(terms, t, u, terms.control(t, dt, p), p, state, error_norm)
        return result.u, result.stages

    weights_at = jax.vmap(lambda theta: stage_weights(tab, theta, dtype))   # (points,) → (points, stages)

    if save_times is not None:
        # The step that produced each save point (the first whose end is at or past it), and whether the
        # point is that step's end (then its value is u_{k+1} itself, not the interpolant).
        ends = jnp.where(jnp.arange(starts.shape[0]) < last, jnp.roll(starts, -1), t1)
        ends = jnp.where(jnp.arange(starts.shape[0]) <= last, direction * ends, jnp.inf)
        save_step = jnp.searchsorted(ends, direction * save_times, side="left").astype(jnp.int32)
        save_step_c = jnp.clip(save_step, 0, starts.shape[0] - 1)
        save_end = save_times == direction * ends[save_step_c]

    def stage_cotangent(k, t0_, t1_):
        """Σ over the save points inside step k of h w(θ_i) ⊗ ḡ_i: the cotangent of the step's stages,
        as a function of the span's ends (used on the first and last steps, whose size follows them)."""
        t, _, dt = step_span(k, t0_, t1_)
        mine = (save_step == k) & ~save_end
        w = weights_at((save_times - t) / dt)                     # (points, stages)
        return dt * jnp.einsum("is,in->sn", jnp.where(mine[:, None], w, 0.0), save_ct)

    def jumped(u_new, pd, t, end, t0_):
        """The state after the affects due at the end of the step [t, end] (u_new itself without callbacks)."""
        if plan is None:
            return u_new
        return step_end_jumps(plan, data, u_new, split.merge_p(pd, p_rest), t, end, t0_, direction)

    def step_objective(u, pd, t0_, t1_, k, lam_next, at_end, stage_ct, has_points):
        """⟨λ_{k+1}, A(u_{k+1})⟩ + ⟨Ē, u_{k+1}⟩ + ⟨K̄, stages⟩, A the affects at the step's end: its gradient
        pulls the cotangents of the next state, of the step's end value saved before the affects (Ē) and of
        the values it interpolated back to its start. K̄ is given for inner steps and recomputed from the
        span's ends for the first and last steps."""
        t, end, dt = step_span(k, t0_, t1_)
        u_new, stages = advance(u, pd, t, dt, k)
        value = jnp.dot(lam_next, jumped(u_new, pd, t, end, t0_)) + jnp.dot(at_end, u_new)
        if cfg.save == "steps":
            return value if stage_ct is None else value + jnp.sum(stage_ct * stages)
        if save_times is None:
            return value
        ends_move = (k == 0) | (k == last)
        stage_ct = lax.cond(ends_move, lambda: stage_cotangent(k, t0_, t1_), lambda: stage_ct)
        if tab.c_extra:   # the interpolant's extra stages cost f evaluations: only where a point lies
            full = lambda: full_stages(tab, f, split.merge_p(pd, p_rest), t, dt, u, stages)
            padded = lambda: jnp.concatenate([stages, jnp.zeros((len(tab.c_extra),) + u.shape, dtype)])
            stages = lax.cond(has_points, full, padded)
        return value + jnp.sum(stage_ct * stages)

    gradient_of_step = jax.grad(step_objective, argnums=(0, 1, 2, 3))
    segment = states.shape[1:]
    n_dense = len(tab.dense_weights)

    def save_cotangents(first, stop):
        """Per step of the segment: the cotangents of the saved values that are its end state (E), its start
        state (D, the u in u + hΣwk) and its stages (K̄, at the step sizes of the forward solve)."""
        inside = (save_step >= first) & (save_step < stop)
        rows = jnp.clip(save_step - first, 0, every - 1)
        interp = (inside & ~save_end)[:, None]
        at_end = jnp.where((inside & save_end)[:, None], save_ct, 0.0)
        direct = jnp.where(interp, save_ct, 0.0)
        t = jnp.where(save_step_c == 0, t0, starts[save_step_c])
        h = sizes[save_step_c]
        w = weights_at((save_times - t) / h) * h[:, None]
        stage_ct = jnp.zeros((every, n_dense) + segment, dtype).at[rows].add(w[:, :, None] * direct[:, None, :])
        counts = jnp.zeros((every,), jnp.int32).at[rows].add(inside.astype(jnp.int32))
        return (jnp.zeros((every,) + segment, dtype).at[rows].add(at_end),
                jnp.zeros((every,) + segment, dtype).at[rows].add(direct), stage_ct, counts > 0)

    def backward_segment(j, carry):
        lam, d_p, d_t0, d_t1, buffer = carry
        first = j * every
        stop = jnp.minimum(first + every, n_steps)

        def replay(k, state):
            u, buf = state
            t, end, dt = step_span(k, t0, t1)
            return jumped(advance(u, p_diff, t, dt, k)[0], p_diff, t, end, t0), buf.at[k - first].set(u)

        _, buffer = lax.fori_loop(first, stop, replay, (states[j], buffer))
        if cfg.save == "steps":
            rows = first + jnp.arange(every)
            zeros = jnp.zeros((every,) + segment, dtype)
            direct = jnp.where((rows < stop)[:, None], ct_us[jnp.minimum(rows, ct_us.shape[0] - 1)], 0.0)
            stage_ct = None if ct_stages is None else ct_stages[jnp.minimum(rows, ct_stages.shape[0] - 1)]
            at_end, has_points = zeros, jnp.zeros((every,), jnp.bool_)
        elif save_times is None:
            zeros = jnp.zeros((every,) + segment, dtype)
            at_end, direct, stage_ct, has_points = zeros, zeros, jnp.zeros((every, n_dense) + segment, dtype), \
                jnp.zeros((every,), jnp.bool_)
        else:
            at_end, direct, stage_ct, has_points = save_cotangents(first, stop)

        def pull(i, c):
            lam, d_p, d_t0, d_t1 = c
            r = stop - 1 - i - first
            g_u, g_p, g_t0, g_t1 = gradient_of_step(buffer[r], p_diff, t0, t1, first + r, lam, at_end[r],
                                                    None if stage_ct is None else stage_ct[r], has_points[r])
            d_p = jax.tree_util.tree_map(jnp.add, d_p, g_p)
            return g_u + direct[r], d_p, d_t0 + g_t0, d_t1 + g_t1

        lam, d_p, d_t0, d_t1 = lax.fori_loop(0, stop - first, pull, (lam, d_p, d_t0, d_t1))
        return lam, d_p, d_t0, d_t1, buffer

    n_segments = (n_steps + every - 1) // every
    buffer = jnp.zeros((every,) + segment, dtype)
    d_p0 = jax.tree_util.tree_map(jnp.zeros_like, p_diff)

    def reversed_segment(i, carry):
        return backward_segment(n_segments - 1 - i, carry)

    lam, d_p, d_t0, d_t1, _ = lax.fori_loop(0, n_segments, reversed_segment, (lam, d_p0, d_t0, d_t1, buffer))
    lam = lam + d_u0_direct
    if plan is not None and plan.of_kind("preset"):   # the preset affects at t0 act on u0 before the first step
        _, pull_start = jax.vjp(lambda u, pd, t: initial_jumps(plan, data, u, split.merge_p(pd, p_rest), t),
                                u0, p_diff, t0)
        lam, g_p, g_t0 = pull_start(lam)
        d_p = jax.tree_util.tree_map(jnp.add, d_p, g_p)
        d_t0 = d_t0 + g_t0
    ok = out.retcode == ReturnCode.Success
    nan = jnp.asarray(jnp.nan, dtype)
    guard = lambda g: jnp.where(ok, g, nan).astype(jnp.result_type(g))
    d_u0 = guard(lam)
    d_p = [guard(g) for g in d_p]
    return d_u0, guard(d_t0).astype(t0.dtype), guard(d_t1).astype(t1.dtype), d_p
