"""ForwardDiffSensitivity by a sweep over the accepted steps: the same derivative as forward-mode AD through
the loop, at a fraction of its cost.

Forward mode through the whole loop carries tangents through every attempted step, the controller, the
error norm and the save bookkeeping. Here the solve runs once without tangents, recording the start and
size of each accepted step (two scalars per step, `discrete.StepRecord`), and a second loop replays only
the accepted steps with `jax.jvp` of the method's step, all input directions batched: S_{k+1} =
∂step/∂u S_k + ∂step/∂(p, t0, t1). Requested save points are filled from the step's interpolant applied to
the state and its tangents together (the interpolant is linear in the state and the stages). Step sizes
are held at their forward values except that the first step starts at t0 and the last ends at t1, which
gives the exact derivative with respect to the span's ends, including the motion of the interpolation
fraction θ = (T − t)/h of a save point T inside those two steps.

It serves methods whose steps the discrete adjoint can replay (explicit Runge–Kutta, Rosenbrock and
switches between them) in the "ends" and "saveat" modes without callbacks; every other solve is
differentiated by forward mode through the loop (see `forward`).
"""
import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

from .._core.norms import scaled_error_norm
from ..integrate.loop import LoopOutput
from ..interpolation import fill_step_times, full_stages, stage_weights
from . import discrete


def applies(ctx) -> bool:
    cfg = ctx.cfg
    return (discrete.supports(ctx.alg) and cfg.save in ("ends", "saveat") and cfg.events is None
            and not cfg.history and cfg.accumulate is None)


def jacobian(ctx, split, diff, rest):
    """The loop's outputs for ``ctx.cfg`` and the Jacobian of their float fields (trailing axis: the flat
    inputs (u0, t0, t1, p's float leaves)), like `forward._jacobian`."""
    u0, t0, t1, p_diff = diff
    others, p_rest = rest
    alg, f, cfg = ctx.alg, ctx.rhs, ctx.cfg
    flat, unravel = ravel_pytree(diff)
    n, k_in = u0.shape[0], flat.shape[0]
    dtype = u0.dtype

    # 1. The solve, recording its accepted steps (one checkpoint: the replay starts from u0).
    record = discrete.StepRecord(cfg.max_steps)
    x = split.merge(diff, rest)._replace(saveat=None, accumulated=record.initial(u0, cfg.max_steps))
    run = ctx.make_loop(f, alg, cfg._replace(save="ends", accumulate=record))(x)
    n_steps, starts, sizes, modes, _ = run.accumulated
    last = n_steps - 1
    direction = jnp.where(t1 >= t0, 1.0, -1.0).astype(dtype)
    error_norm = lambda err, a, b: scaled_error_norm(err, a, b, others.rtol, others.atol)
    tab = alg.interpolant
    n_extra = len(tab.c_extra)

    def span(k, t0_, t1_):
        t = jnp.where(k == 0, t0_, starts[k])
        end = jnp.where(k == last, t1_, starts[jnp.minimum(k + 1, starts.shape[0] - 1)])
        return t, end - t

    def advance(k, u, xs, with_extras):
        """One replayed step as a function of its start state and the flat inputs: (u_new, stages)."""
        _, t0_, t1_, pd = unravel(xs)
        p = split.merge_p(pd, p_rest)
        t, h = span(k, t0_, t1_)
        state = discrete._replay_state(alg, f, t, u, p, modes[k])
        result = alg.step(f, t, u, h, p, state, error_norm, others.mass)
        stages = result.stages
        if n_extra:    # the interpolant's extra stages cost f evaluations: only where a save point lies
            stages = lax.cond(with_extras, lambda: full_stages(tab, f, p, t, h, u, result.stages),
                              lambda: jnp.concatenate([result.stages, jnp.zeros((n_extra, n), dtype)]))
        empty = h == 0     # a zero-length landing on a stop changes nothing
        return jnp.where(empty, u, result.u), jnp.where(empty, 0.0, stages)

    eye = jnp.eye(k_in, dtype=dtype)

    def tangent_step(k, u, s, with_extras):
        """(u_new, S_new, stages, stage tangents) with the directions S (k_in, n) batched."""
        return jax.vmap(lambda du, dx: jax.jvp(lambda a, b: advance(k, a, b, with_extras), (u, flat), (du, dx)),
                        out_axes=((None, None), (0, 0)))(s, eye)

    s0 = eye[:, :n]                                   # ∂u0/∂(flat inputs), one row per input
    col_t0, col_t1 = eye[n], eye[n + 1]

    if cfg.save == "ends":
        def body(k, carry):
            u, s = carry
            (u_new, _), (s_new, _) = tangent_step(k, u, s, False)
            return u_new, s_new

        u_end, s_end = lax.fori_loop(0, n_steps, body, (u0, s0))
        us = jnp.stack([u0, u_end])
        jac_us = jnp.stack([s0, s_end]).transpose(0, 2, 1)
        jac_ts = jnp.stack([col_t0, col_t1])
        out = LoopOutput(jnp.stack([t0, run.t_final]), us, None, run.n_saved, run.retcode, run.t_final, run.stats)
    else:
        times = others.saveat
        n_save = times.shape[0]
        at_start = direction * (times - t0) <= 0
        width = n * (1 + k_in)
        start_row = jnp.concatenate([u0, s0.ravel()])
        buffer = jnp.where(at_start[:, None], start_row[None, :], jnp.zeros((n_save, width), dtype))
        index = jnp.sum(at_start).astype(jnp.int32)

        def body(k, carry):
            u, s, index, buffer, n_interp = carry
            t, h = span(k, t0, t1)
            t_new = t + h
            following = times[jnp.minimum(index, n_save - 1)]
            inside = (index < n_save) & (direction * (following - t_new) < 0)
            (u_new, stages), (s_new, stage_tangents) = tangent_step(k, u, s, inside)
            # The interpolation fraction θ = (T − t)/h moves with t and h on the first and last steps:
            # d[h b(θ)] = b(θ) dh − b'(θ) (dt + θ dh), applied to the stages (zero on the other steps).
            d_t = jnp.where(k == 0, col_t0, 0.0)
            d_h = jnp.where(k == last, col_t1, 0.0) - d_t
            moves = (k == 0) | (k == last)

            def value(row, time):
                theta = (time - t) / h
                b, db = jax.jvp(lambda th: stage_weights(tab, th, dtype), (theta,), (jnp.ones_like(theta),))
                coef = b[None, :] * d_h[:, None] - db[None, :] * (d_t + theta * d_h)[:, None]   # (k_in, stages)
                correction = jnp.where(moves & (time != t_new), coef @ stages, 0.0)
                return row.at[n:].add(correction.ravel())

            aug_u = jnp.concatenate([u, s.ravel()])
            aug_new = jnp.concatenate([u_new, s_new.ravel()])
            aug_stages = jnp.concatenate([stages, stage_tangents.transpose(1, 0, 2).reshape(stages.shape[0], -1)],
                                         axis=1)
            index, buffer = fill_step_times(tab, times, index, buffer, jnp.asarray(True), t, h, t_new, aug_u,
                                            aug_new, aug_stages, direction, value)
            return u_new, s_new, index, buffer, n_interp + inside.astype(jnp.int32)

        zero = jnp.zeros((), jnp.int32)
        _, _, index, buffer, n_interp = lax.fori_loop(0, n_steps, body, (u0, s0, index, buffer, zero))
        us = buffer[:, :n]
        jac_us = buffer[:, n:].reshape(n_save, k_in, n).transpose(0, 2, 1)
        jac_ts = jnp.zeros((n_save, k_in), dtype)
        stats = dict(run.stats, nf=run.stats["nf"] + n_interp * n_extra)
        out = LoopOutput(times, us, None, index, run.retcode, run.t_final, stats)

    return out, {"us": jac_us, "ts": jac_ts, "t_final": col_t1}
