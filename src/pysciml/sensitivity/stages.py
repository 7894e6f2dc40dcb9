"""Derivatives of the stage vectors stored for dense output, for the continuous sensitivity methods.

With dense output, `sol(t)` inside step i is u_i + h Σ_j b_j(θ) k_j: a function of the saved state u_i
and of the step's stored stages k_j. JAX pulls the cotangent of such a value back onto u_i and onto the
stages (and, for interpolants with lazily evaluated extra stages, through their f evaluations). The
continuous methods carry the cotangent of u_i themselves; this module turns the cotangent of the stored
stages of step i into cotangents of (u_i, p) by re-running the step from u_i with its forward size h_i
and differentiating it: by `jax.vjp` for methods whose step is linear algebra only (explicit Runge–Kutta,
Rosenbrock, switching between them), and by forward mode (one batched `jax.jvp` with n + m tangents)
through the Newton iterations of implicit methods. The step size is held fixed (steps are chosen by the
controller, never differentiated), as are the step times.

How exact: the derivative of the interpolated value with respect to the state at the start of its step
(and to p within the step) is the exact derivative of the interpolant the solver computed; the rest of the
chain, from u_i back to u0 and p, is the continuous adjoint (or forward sensitivity) of the method
calling this, with an error of the order of the solve's tolerance — as for the saved states themselves.
"""
import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

from ..problems.terms import as_terms
from ..solvers.composite import AutoSwitch
from . import discrete


def _mode(alg, stored):
    """Which half of a switching method took the step, read off its stored stages (the inactive half's
    slots are zero); False for single methods."""
    if not isinstance(alg, AutoSwitch):
        return jnp.asarray(False)
    n_exp = alg.nonstiff.n_stages
    return ~jnp.any(stored[:n_exp] != 0) & jnp.any(stored[n_exp:] != 0)


def step_stages(ctx, split, others, p_rest, t, h, u, p_diff, stored):
    """The stages of the step of size h from (t, u), recomputed as the forward solve computed them."""
    p = split.merge_p(p_diff, p_rest)
    state = discrete._replay_state(ctx.alg, ctx.rhs, t, u, p, _mode(ctx.alg, stored))
    error_norm = ctx.alg.error_norm(others.rtol, others.atol)   # the forward loop's step control
    terms = as_terms(ctx.rhs, others.mass)
    return ctx.alg.step(terms, t, u, terms.control(t, h, p), p, state, error_norm).stages


def pull_stage_cotangents(ctx, split, others, p_rest, p_diff, out, ct_stages):
    """(ū, p̄): the cotangents of the stored stages of every step pulled back to the step's start state
    (one row per saved state, like out.us) and summed over steps for the flat float parameters. Steps
    without a stage cotangent cost nothing."""
    dtype = out.us.dtype
    flat_p, unravel_p = ravel_pytree(p_diff)
    n_steps = out.n_saved - 1
    reverse = discrete.supports(ctx.alg)

    def stages_of(i, u, pf):
        t, h = out.ts[i], out.ts[i + 1] - out.ts[i]
        return step_stages(ctx, split, others, p_rest, t, h, u, unravel_p(pf), out.stages[i])

    def pull(i):
        u, bar = out.us[i], ct_stages[i].astype(dtype)
        if reverse:
            _, vjp = jax.vjp(lambda u_, pf: stages_of(i, u_, pf), u, flat_p)
            return vjp(bar)
        # Forward mode through the Newton iterations: the Jacobian of the stages, one tangent per input.
        n, m = u.shape[0], flat_p.shape[0]
        basis = jnp.eye(n + m, dtype=dtype)
        tangents = jax.vmap(lambda d: jax.jvp(lambda u_, pf: stages_of(i, u_, pf), (u, flat_p),
                                              (d[:n], d[n:]))[1])(basis)
        g = jnp.tensordot(tangents, bar, axes=bar.ndim)
        return g[:n], g[n:]

    def body(i, carry):
        d_u, d_p = carry
        needed = jnp.any(ct_stages[i] != 0)
        g_u, g_p = lax.cond(needed, lambda: pull(i),
                            lambda: (jnp.zeros_like(out.us[i]), jnp.zeros_like(flat_p)))
        return d_u.at[i].add(g_u), d_p + g_p

    return lax.fori_loop(0, n_steps, body, (jnp.zeros_like(out.us), jnp.zeros_like(flat_p)))


def stage_tangents(ctx, split, others, p_rest, p_diff, out, sens_us):
    """The Jacobian of every stored stage with respect to the flat inputs (u0, t0, t1, p), from the
    Jacobian ``sens_us`` (rows, n, n + 2 + m) of the saved states: the step's own derivative applied to
    the sensitivity of its start state (forward mode, so Newton-based methods are served too)."""
    dtype = out.us.dtype
    flat_p, unravel_p = ravel_pytree(p_diff)
    n, m = out.us.shape[1], flat_p.shape[0]
    k = sens_us.shape[2]

    def stages_of(i, u, pf):
        t, h = out.ts[i], out.ts[i + 1] - out.ts[i]
        return step_stages(ctx, split, others, p_rest, t, h, u, unravel_p(pf), out.stages[i])

    # Columns of the parameter tangents: p's own columns are the last m of the flat inputs.
    p_cols = jnp.zeros((m, k), dtype).at[:, k - m:].set(jnp.eye(m, dtype=dtype))

    def body(i, jac):
        dirs_u = sens_us[i]                       # (n, k)
        col = jax.vmap(lambda du, dp: jax.jvp(lambda u_, pf: stages_of(i, u_, pf), (out.us[i], flat_p),
                                              (du, dp))[1], in_axes=(1, 1), out_axes=-1)(dirs_u, p_cols)
        return jac.at[i].set(col)

    jac0 = jnp.zeros(out.stages.shape + (k,), dtype)
    return lax.fori_loop(0, out.n_saved - 1, body, jac0)
