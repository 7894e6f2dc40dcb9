"""Continuous adjoints: reverse-mode gradients from the adjoint ODE solved backwards in time.

For a loss on the states saved at times T_0 < … < T_K (or on the final state), the adjoint λ obeys
λ' = −(∂f/∂u)ᵀλ between save points and jumps by the loss's cotangent at each T_k; the parameter
gradient is ∫ λᵀ ∂f/∂p dt. Products with (∂f/∂u)ᵀ and (∂f/∂p)ᵀ are vector–Jacobian products by reverse-mode
AD (one `jax.vjp` per evaluation; the Jacobian is never formed). The backward solve uses the forward
solve's method and tolerances, segment by segment between save points (a `lax.scan` over segments, each
one run of the integration loop). See `algorithms` for what each method stores and how it integrates the
parameter gradient. A failed backward solve makes the gradient NaN (never a silently wrong number).
"""
import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._core.retcode import ReturnCode
from .._core.trees import ravel
from ..integrate import LoopConfig
from ..integrate.loop import LoopOutput
from ..interpolation import DenseOutput, evaluate_dense, evaluate_step, full_stages, interpolate_dense
from ..linalg import SparsityPattern
from .inputs import InputSplit, controlled_tolerance, leaf_shapes, unflatten, zero_cotangent
from .stages import pull_stage_cotangents


def adjoint_solve(sensealg, ctx, inputs):
    split = InputSplit.of(inputs.p)

    @jax.custom_vjp
    def run(diff, rest):
        return ctx.make_loop(ctx.rhs, ctx.alg, ctx.cfg)(split.merge(diff, rest))

    def forward(diff, rest):
        out, trajectory = _forward_pass(sensealg, ctx, split, diff, rest)
        return out, (diff, rest, out, trajectory)

    def backward(residuals, ct):
        diff, rest, out, trajectory = residuals
        grads = _reverse_pass(sensealg, ctx, split, diff, rest, out, trajectory, ct.us, ct.ts, ct.t_final,
                              ct.stages)
        return grads, jax.tree_util.tree_map(zero_cotangent, rest)

    run.defvjp(forward, backward)
    return run(*split.split(inputs))


def _forward_pass(sensealg, ctx, split, diff, rest):
    """The solve's outputs, and the dense trajectory when the method integrates along it. The loops are
    the cached compiled ones (shared with plain solves and between methods)."""
    x = split.merge(diff, rest)
    if not sensealg.keeps_trajectory:
        return ctx.make_loop(ctx.rhs, ctx.alg, ctx.cfg)(x), None
    dense = ctx.make_loop(ctx.rhs, ctx.alg, ctx.cfg._replace(save="steps", dense=True))(x)
    return _outputs_from_dense(ctx, x, dense)


@partial(jax.jit, static_argnums=(0, 1, 2))
def _reverse_pass(sensealg, ctx, split, diff, rest, out, trajectory, ct_us, ct_ts, ct_t_final, ct_stages):
    return _Backward(sensealg, ctx, split, diff, rest, out, trajectory).gradients(ct_us, ct_ts, ct_t_final,
                                                                                   ct_stages)


@partial(jax.jit, static_argnums=0)
def _outputs_from_dense(ctx, x, dense):
    """The outputs of the requested save mode read from a dense forward solve, and the trajectory."""
    trajectory = DenseOutput(dense.ts, dense.us, dense.stages, dense.n_saved - 1)
    if ctx.cfg.save == "steps":     # the requested output is this solve itself (stages only if dense)
        return dense._replace(stages=dense.stages if ctx.cfg.dense else None), trajectory
    if ctx.cfg.save == "ends":
        ts, us = jnp.stack([x.t0, dense.t_final]), jnp.stack([x.u0, dense.us[-1]])
        n_saved = jnp.asarray(2, jnp.int32)
    else:
        direction = jnp.where(x.t1 >= x.t0, 1.0, -1.0)
        ts, us = x.saveat, interpolate_dense(ctx.alg, ctx.rhs, x.p, trajectory, x.saveat)
        n_saved = jnp.sum(direction * (x.saveat - dense.t_final) <= 0).astype(jnp.int32)
    return LoopOutput(ts, us, None, n_saved, dense.retcode, dense.t_final, dense.stats), trajectory


def _pullback(rhs, split, u, p_diff, p_rest, t, lam):
    """f(u) and the vector–Jacobian products λᵀ∂f/∂u, λᵀ∂f/∂p (flat) in one reverse pass."""
    fu, pull = jax.vjp(lambda u_, pd: rhs(u_, split.merge_p(pd, p_rest), t), u, p_diff)
    gu, gp = pull(lam)
    return fu, gu, ravel(gp, u.dtype)


@dataclass(frozen=True)
class _AdjointRHS:
    """Right-hand side of a backward solve. ``layout`` names the blocks of the state:
    "lm" = [λ, μ] along the stored forward trajectory; "l" = [λ] only; "ulm" = [u, λ, μ] with the state
    re-integrated backwards. Hashable, so compiled backward loops are reused."""
    rhs: object
    alg: object
    split: InputSplit
    n: int
    layout: str
    jac = None

    @property
    def sparsity(self):
        """For "l": λ' = −Jᵀλ has the transposed pattern of the forward Jacobian (sparse linear solvers)."""
        pattern = getattr(self.rhs, "sparsity", None)
        if pattern is None or self.layout != "l":
            return None
        return pattern.cached("adjoint", lambda: SparsityPattern(pattern.to_scipy().T))

    def __call__(self, a, q, t):
        p_diff, p_rest, trajectory = q
        n = self.n
        if self.layout == "ulm":
            u, lam = a[:n], a[n:2 * n]
        else:
            lam = a[:n]
            u = evaluate_dense(self.alg, self.rhs, self.split.merge_p(p_diff, p_rest), trajectory, t)
        fu, gu, gp = _pullback(self.rhs, self.split, u, p_diff, p_rest, t, lam)
        if self.layout == "l":
            return -gu
        blocks = [fu] if self.layout == "ulm" else []
        return jnp.concatenate(blocks + [-gu, -gp])


@dataclass(frozen=True)
class _ParameterQuadrature:
    """μ ← μ − ∫ over one step of λ's interpolant of λᵀ∂f/∂p, by Gauss–Legendre with ``nodes`` on [0, 1].
    Used as the loop's per-step accumulator (GaussAdjoint) and after the solve (QuadratureAdjoint)."""
    adjoint: _AdjointRHS
    nodes: tuple
    weights: tuple

    def __call__(self, mu, accept, t, dt, lam0, stages, q, solver_state=None):
        p_diff, p_rest, trajectory = q
        adj = self.adjoint
        p = adj.split.merge_p(p_diff, p_rest)
        stages = full_stages(adj.alg.interpolant, adj, q, t, dt, lam0, stages)

        def integrand(theta):
            s = t + theta * dt
            lam = evaluate_step(adj.alg.interpolant, lam0, dt, stages, theta)
            u = evaluate_dense(adj.alg, adj.rhs, p, trajectory, s)
            return _pullback(adj.rhs, adj.split, u, p_diff, p_rest, s, lam)[2]

        values = jax.vmap(integrand)(jnp.asarray(self.nodes, lam0.dtype))
        return jnp.where(accept, mu - dt * (jnp.asarray(self.weights, lam0.dtype) @ values), mu)


def _gauss_legendre(order):
    """Nodes and weights on [0, 1] exact for polynomials of degree ≥ ``order``."""
    x, w = np.polynomial.legendre.leggauss(max(1, math.ceil((order + 1) / 2)))
    return tuple((x + 1) / 2), tuple(w / 2)


class _Backward:
    """One reverse pass: the gradients with respect to (u0, t0, t1, p's float leaves)."""

    def __init__(self, sensealg, ctx, split, diff, rest, out, trajectory):
        self.sensealg, self.ctx, self.split = sensealg, ctx, split
        self.u0, self.t0, self.t1, self.p_diff = diff
        self.others, self.p_rest = rest
        self.out, self.trajectory = out, trajectory
        self.n = self.u0.shape[0]
        self.m = sum(int(np.prod(jnp.shape(x))) for x in self.p_diff)
        self.dtype = self.u0.dtype

    # --- the pieces of the backward solve ----------------------------------------------------------
    def _cfg(self, save="ends", accumulate=None):
        c = self.ctx.cfg
        return LoopConfig(adaptive=c.adaptive, save=save, dense=save == "steps", max_steps=c.max_steps,
                          has_tstops=False, given_dt=c.given_dt, accumulate=accumulate)

    def _inputs(self, a0, t_from, t_to, q, controlled, accumulated=None):
        """Loop inputs of one backward segment; ``controlled`` = how many leading components are under
        error control (the others, the parameter integral with seminorm, are not)."""
        x = self.others
        size = a0.shape[0]
        rtol = controlled_tolerance(x.rtol, self.n, size, controlled, 0.0)
        atol = controlled_tolerance(x.atol, self.n, size, controlled, jnp.inf)
        return x._replace(u0=a0, t0=t_from, t1=t_to, p=q, rtol=rtol, atol=atol, saveat=None, tstops=None,
                          mass=None, accumulated=accumulated)

    def _segment(self, layout, a0, t_from, t_to, trajectory, accumulator=None, acc0=None, save="ends"):
        adj = _AdjointRHS(self.ctx.rhs, self.ctx.alg, self.split, self.n, layout)
        seminorm = getattr(self.sensealg, "seminorm", False)
        controlled = a0.shape[0] - (self.m if seminorm and layout != "l" else 0)
        cfg = self._cfg(save, accumulator)
        q = (self.p_diff, self.p_rest, trajectory)
        return self.ctx.make_loop(adj, self.ctx.alg, cfg)(self._inputs(a0, t_from, t_to, q, controlled, acc0)), adj

    def _quadrature(self, adj):
        return _ParameterQuadrature(adj, *_gauss_legendre(self.ctx.alg.order))

    # --- the sweep over save points ------------------------------------------------------------------
    def gradients(self, ct_us, ct_ts, ct_t_final, ct_stages=None):
        """The adjoint λ jumps by the cotangent of each saved state at its time and is carried back to the
        previous save point by one backward solve; in save-every-step mode the save points are the
        forward solve's own accepted steps (held in the residuals), and the cotangents of the stored
        stages (dense output, `sol(t)`) enter at the start of their step (see `stages`)."""
        n, m, dtype = self.n, self.m, self.dtype
        out, cfg = self.out, self.ctx.cfg
        rows = jnp.arange(out.us.shape[0])
        ct_us = ct_us.astype(dtype)
        mu0 = jnp.zeros((m,), dtype)
        if cfg.save == "ends":
            times, count = jnp.stack([self.t0, out.t_final]), jnp.asarray(2, jnp.int32)
        elif cfg.save == "saveat":
            times, count = self.others.saveat, out.n_saved
        else:
            times, count = out.ts, out.n_saved
        last = count - 1
        jumps = jnp.where((rows < count)[:, None], ct_us, 0.0)
        if cfg.save == "steps":
            # Rows past the last step repeat the final state: their cotangents are the final state's.
            jumps = jumps.at[last].add(jnp.sum(jnp.where((rows > last)[:, None], ct_us, 0.0), axis=0))
            if ct_stages is not None and out.stages is not None:
                d_u, mu0 = pull_stage_cotangents(self.ctx, self.split, self.others, self.p_rest, self.p_diff,
                                                 out, ct_stages)
                jumps = jumps + d_u.astype(dtype)
        starts = jnp.concatenate([self.t0[None], times[:-1]])
        checkpoints = jnp.concatenate([self.u0[None], out.us[:-1]])

        def step(j, carry):
            lam, mu, ok = carry
            k = last - j
            t_hi, t_lo = times[k], starts[k]
            lam = lam + jumps[k]

            def solve_segment():
                return self._solve_segment(lam, mu, t_hi, t_lo, out.us[k], checkpoints[k])

            def skip():
                return lam, mu, jnp.asarray(True)

            lam_new, mu_new, seg_ok = lax.cond(t_hi == t_lo, skip, solve_segment)
            return lam_new, mu_new, ok & seg_ok

        carry0 = (jnp.zeros((n,), dtype), mu0, jnp.asarray(True))
        lam, mu, ok = lax.fori_loop(0, count, step, carry0)

        p = self.split.merge_p(self.p_diff, self.p_rest)
        f0 = self.ctx.rhs(self.u0, p, self.t0)
        # us[0] = u0 itself (ends, steps) does not move with t0; later states move by −Φ f(u0) dt0.
        lam_t0 = lam - jumps[0] if cfg.save in ("ends", "steps") else lam
        d_t0 = -jnp.dot(lam_t0, f0)
        d_t1 = ct_t_final.astype(dtype)
        if cfg.save in ("ends", "steps"):
            # The first time is t0 itself, the last (and the padding after it) t1 with the final state.
            t_rows = jnp.arange(ct_ts.shape[0])
            d_t0 = d_t0 + ct_ts[0]
            d_t1 = d_t1 + jnp.sum(jnp.where(t_rows >= last, ct_ts, 0.0))
            u_end = out.us[last]
            ct_end = ct_us[1] if cfg.save == "ends" else jnp.sum(jnp.where((rows >= last)[:, None], ct_us, 0.0), 0)
            d_t1 = d_t1 + jnp.dot(ct_end, self.ctx.rhs(u_end, p, out.t_final))
        nan = jnp.asarray(jnp.nan, dtype)
        ok = ok & (out.retcode == ReturnCode.Success)
        d_u0 = jnp.where(ok, lam, nan)
        d_p = [jnp.where(ok, g, nan) for g in unflatten(mu, leaf_shapes(self.p_diff))]
        d_t0 = jnp.where(ok, d_t0, nan).astype(self.t0.dtype)
        d_t1 = jnp.where(ok, d_t1, nan).astype(self.t1.dtype)
        return (d_u0, d_t0, d_t1, d_p)

    def _solve_segment(self, lam, mu, t_hi, t_lo, u_hi, u_lo):
        """Carry (λ, μ) from t_hi back to t_lo; u_hi, u_lo are the forward states there."""
        return self.sensealg.segment(self, lam, mu, t_hi, t_lo, u_hi, u_lo)


# --- how each continuous adjoint carries one segment back (called by its class's `segment`) ----------------
def _success(out):
    return out.retcode == ReturnCode.Success


def backsolve_segment(bw, lam, mu, t_hi, t_lo, u_hi):
    """BacksolveAdjoint: [u, λ, μ] integrated backwards together from the forward state at t_hi."""
    n = bw.n
    res, _ = bw._segment("ulm", jnp.concatenate([u_hi, lam, mu]), t_hi, t_lo, None)
    a = res.us[-1]
    return a[n:2 * n], a[2 * n:], _success(res)


def interpolating_segment(bw, lam, mu, t_hi, t_lo, u_lo, checkpointing):
    """InterpolatingAdjoint: [λ, μ] along the stored dense trajectory, or along a dense re-solve of the
    segment from its checkpoint u_lo (``checkpointing``)."""
    n = bw.n
    trajectory, ok = bw.trajectory, jnp.asarray(True)
    if checkpointing:
        cfg = bw._cfg("steps")
        x = bw.others._replace(u0=u_lo, t0=t_lo, t1=t_hi, p=bw.split.merge_p(bw.p_diff, bw.p_rest),
                               saveat=None, tstops=None)
        local = bw.ctx.make_loop(bw.ctx.rhs, bw.ctx.alg, cfg)(x)
        trajectory = DenseOutput(local.ts, local.us, local.stages, local.n_saved - 1)
        ok = _success(local)
    res, _ = bw._segment("lm", jnp.concatenate([lam, mu]), t_hi, t_lo, trajectory)
    a = res.us[-1]
    return a[:n], a[n:], ok & _success(res)


def gauss_segment(bw, lam, mu, t_hi, t_lo):
    """GaussAdjoint: λ alone, the parameter integral accumulated by the loop on each accepted step."""
    adj = _AdjointRHS(bw.ctx.rhs, bw.ctx.alg, bw.split, bw.n, "l")
    res, _ = bw._segment("l", lam, t_hi, t_lo, bw.trajectory, bw._quadrature(adj), mu)
    return res.us[-1], res.accumulated, _success(res)


def quadrature_segment(bw, lam, mu, t_hi, t_lo):
    """QuadratureAdjoint: λ with dense output, then the parameter integral over its steps."""
    res, adj = bw._segment("l", lam, t_hi, t_lo, bw.trajectory, save="steps")
    quadrature = bw._quadrature(adj)
    q = (bw.p_diff, bw.p_rest, bw.trajectory)

    def add_step(i, acc):
        h = res.ts[i + 1] - res.ts[i]
        return quadrature(acc, True, res.ts[i], h, res.us[i], res.stages[i], q)

    mu = lax.fori_loop(0, res.n_saved - 1, add_step, mu)
    return res.us[res.n_saved - 1], mu, _success(res)
