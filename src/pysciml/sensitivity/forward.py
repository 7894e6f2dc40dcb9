"""Forward sensitivities: the full Jacobian of the solve's outputs with respect to (u0, t0, t1, p).

Both methods are `jax.custom_jvp` rules that compute the whole sensitivity matrix S from the primal
inputs and return the tangent S·v. Because S·v is linear in v, JAX can transpose it, so the same rule
serves `jax.jvp`/`jax.jacfwd` and `jax.grad`/`jax.vjp` (reverse mode costs one forward-sensitivity
solve: the right choice for few states and parameters). Under `jax.jacfwd` S is computed once, not once
per direction, since it does not depend on the tangents.

- `ForwardDiffSensitivity`: the exact derivative of the discrete solution on its accepted steps (step
  sizes are not differentiated, see the loop). For explicit Runge–Kutta methods saving at given times or
  the ends: the sensitivity equations solved by the method itself on the solve's own steps (error control
  on u only; an explicit RK step of [u, S] is exactly the derivative of the step of u), about 3x cheaper
  than AD through the loop, which carries tangents through the controller and the bookkeeping too.
  Otherwise: forward-mode AD through the loop, all directions batched in one solve. (A replay of the
  recorded accepted steps with `jax.jvp` was tried for Rosenbrock methods: no faster, since recording the
  steps costs as much per step as the tangents saved.) The two routes differ only in how the interior step
  times follow t0 (held, or shifted with it), by O(tolerance).
- `ForwardSensitivity`: S from the continuous forward sensitivity equations S' = J S + ∂f/∂p, solved
  with u as one augmented system with Jacobian–vector products.
"""
import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from .._core.trees import ravel
from ..integrate import LoopConfig
from ..integrate.loop import LoopOutput
from ..solvers.base import ExplicitRungeKutta
from .inputs import InputSplit, _is_float, controlled_tolerance, leaf_shapes, unflatten, zero_cotangent
from .stages import stage_tangents

FLOAT_FIELDS = ("ts", "us", "stages", "t_final", "event_t", "saved", "p_final")


def forward_solve(sensealg, ctx, inputs):
    split = InputSplit.of(inputs.p)

    @jax.custom_jvp
    def run(diff, rest):
        return ctx.make_loop(ctx.rhs, ctx.alg, ctx.cfg)(split.merge(diff, rest))

    @run.defjvp
    def run_jvp(primals, tangents):
        diff, rest = primals
        v = ravel_pytree(tangents[0])[0]
        out, jac = _jacobian(sensealg, ctx, split, diff, rest)
        if ctx.cfg.save == "saveat":
            # The saved times are the requested ones, whatever the inputs: their tangent is a plain zero. A
            # zero computed as S·v would depend on v, so under jax.vmap (EnsembleVmap, members differing in
            # u0 or p) it would be batched while the primal times are not, and JAX's linearization of the
            # batched rule then fails (broadcast_in_dim of a batched primal).
            jac = {k: s for k, s in jac.items() if k != "ts"}
        tangent = jax.tree_util.tree_map(zero_cotangent, out)
        # (p_final may hold integer leaves, e.g. an SDE's noise key: their tangent stays float0)
        tangent = tangent._replace(**{k: jax.tree_util.tree_map(
            lambda s, o: jnp.tensordot(s, v.astype(s.dtype), axes=1).astype(o.dtype) if _is_float(o)
            else zero_cotangent(o), s, getattr(out, k))
            for k, s in jac.items()})
        return out, tangent

    return run(*split.split(inputs))


@partial(jax.jit, static_argnums=(0, 1, 2))
def _jacobian(sensealg, ctx, split, diff, rest):
    """The outputs and the Jacobian of their float fields (trailing axis: the flat inputs)."""
    return sensealg.jacobian(ctx, split, diff, rest)


def sensitivity_equations_jacobian(ctx, split, diff, rest):
    """ForwardSensitivity: the continuous sensitivity equations beside the plain solve's outputs."""
    loop = ctx.make_loop(ctx.rhs, ctx.alg, ctx.cfg)
    return _sensitivity_equations(ctx, split, diff, rest, loop(split.merge(diff, rest)))


def ad_jacobian(ctx, split, diff, rest):
    """ForwardDiffSensitivity: the derivative of the discrete solve (see the module's notes)."""
    if _internal_differentiation(ctx):
        return _sensitivity_equations(ctx, split, diff, rest, None)
    loop = ctx.make_loop(ctx.rhs, ctx.alg, ctx.cfg)
    flat, unravel = ravel_pytree(diff)

    def outputs(x):
        out = loop(split.merge(unravel(x), rest))
        return {k: getattr(out, k) for k in FLOAT_FIELDS if getattr(out, k) is not None}, out

    # Forward-mode AD through the loop, all directions batched in one solve.
    basis = jnp.eye(flat.shape[0], dtype=flat.dtype)
    _, jac, out = jax.vmap(lambda d: jax.jvp(outputs, (flat,), (d,), has_aux=True),
                           out_axes=(None, -1, None))(basis)
    return out, jac


def _internal_differentiation(ctx):
    """Whether ForwardDiffSensitivity is served by the sensitivity equations solved with the method itself
    on the solve's own steps: explicit Runge–Kutta methods (whose step of the augmented system is exactly
    the derivative of their step), saving at given times or the ends, no callbacks. One loop carries the
    state and its tangents, with nothing but the method's stages differentiated."""
    cfg = ctx.cfg
    return (isinstance(ctx.alg, ExplicitRungeKutta) and cfg.adaptive and cfg.save in ("ends", "saveat")
            and cfg.events is None and not getattr(ctx.rhs, "reads_history", False) and cfg.accumulate is None)


@dataclass(frozen=True)
class _SensitivityRHS:
    """d/dt [u, S] = [f, J S + ∂f/∂p E] on the flat augmented state; S is stored transposed, (n + m, n):
    its first n rows for u0 and the last m for the flat float parameters (E selects those)."""
    rhs: object
    split: InputSplit
    n: int
    shapes: tuple       # shapes and dtypes of p's float leaves
    jac = None

    def __call__(self, z, q, t):
        p_diff, p_rest = q
        n, m = self.n, sum(math.prod(shape) for shape, _ in self.shapes)
        u, s = z[:n], z[n:].reshape(n + m, n)     # one row per input direction: no transposes per step
        pf = ravel(p_diff, z.dtype)

        def f(u_, pf_):
            return self.rhs(u_, self.split.merge_p(unflatten(pf_, self.shapes), p_rest), t)

        directions = jnp.concatenate([jnp.zeros((n, m), z.dtype), jnp.eye(m, dtype=z.dtype)], axis=0)
        fu, ds = jax.vmap(lambda su, dp: jax.jvp(f, (u, pf), (su, dp)), out_axes=(None, 0))(s, directions)
        return jnp.concatenate([fu, ds.ravel()])


def _sensitivity_equations(ctx, split, diff, rest, out):
    """The Jacobian of us (and ts, t_final, stages) from the forward sensitivity equations. In
    save-every-step mode the augmented solve (which takes its own steps) is read at the forward solve's
    step times, and the stored stages' Jacobian follows from their step's (see `stages`)."""
    u0, t0, t1, p_diff = diff
    others, p_rest = rest
    n = u0.shape[0]
    shapes = leaf_shapes(p_diff)
    m = sum(int(jnp.size(x)) for x in p_diff)
    aug_rhs = _SensitivityRHS(ctx.rhs, split, n, shapes)
    s0 = jnp.concatenate([jnp.eye(n, dtype=u0.dtype), jnp.zeros((m, n), u0.dtype)], axis=0)
    size = n + n * (n + m)
    steps = ctx.cfg.save == "steps"
    if out is None:
        # Error control on u alone: the steps are the plain solve's, and an explicit Runge–Kutta step of
        # the augmented system is the derivative of the method's step (internal differentiation).
        rtol = controlled_tolerance(others.rtol, n, size, n, 0.0)
        atol = controlled_tolerance(others.atol, n, size, n, jnp.inf)
    else:
        rtol, atol = _widen(others.rtol, size), _widen(others.atol, size)
    cfg = LoopConfig(adaptive=ctx.cfg.adaptive, save="saveat" if steps else ctx.cfg.save, dense=False,
                     max_steps=ctx.cfg.max_steps, has_tstops=ctx.cfg.has_tstops, given_dt=ctx.cfg.given_dt)
    x = others._replace(u0=jnp.concatenate([u0, s0.ravel()]), t0=t0, t1=t1, p=(p_diff, p_rest),
                        rtol=rtol, atol=atol, saveat=out.ts if steps else others.saveat)
    aug = ctx.make_loop(aug_rhs, ctx.alg, cfg)(x)
    if out is None:
        out = LoopOutput(aug.ts, aug.us[:, :n], None, aug.n_saved, aug.retcode, aug.t_final, aug.stats)
    sens = aug.us[:, n:].reshape(aug.us.shape[0], n + m, n).transpose(0, 2, 1)
    p = split.merge_p(p_diff, p_rest)
    f0 = ctx.rhs(u0, p, t0)
    # Columns in the order of the flat inputs (u0, t0, t1, p).
    d_t0 = -sens[:, :, :n] @ f0
    d_t1 = jnp.zeros_like(d_t0)
    k = n + 2 + m
    jac_ts = jnp.zeros(out.ts.shape + (k,), out.ts.dtype)
    if ctx.cfg.save in ("ends", "steps"):
        # us[0] is u0 itself, whatever t0 is; the last row (and the padding after it) is the state at t1.
        at_end = jnp.arange(out.ts.shape[0]) >= out.n_saved - 1
        d_t0 = d_t0.at[0].set(0.0)
        d_t1 = jnp.where(at_end[:, None], ctx.rhs(out.us[-1], p, out.t_final)[None, :], 0.0)
        jac_ts = jac_ts.at[0, n].set(1.0).at[:, n + 1].set(at_end.astype(out.ts.dtype))
    jac_us = jnp.concatenate([sens[:, :, :n], d_t0[:, :, None], d_t1[:, :, None], sens[:, :, n:]], axis=2)
    jac_t_final = jnp.zeros((k,), out.ts.dtype).at[n + 1].set(1.0)
    ok = aug.retcode == out.retcode
    jac_us = jnp.where(ok, jac_us, jnp.nan)
    jac = {"us": jac_us, "ts": jac_ts, "t_final": jac_t_final}
    if out.stages is not None:
        jac["stages"] = stage_tangents(ctx, split, others, p_rest, p_diff, out, jac_us)
    return out, jac


def _widen(tol, size):
    """A tolerance for the augmented state: the state's own where shaped, its tightest elsewhere."""
    if jnp.ndim(tol) == 0:
        return tol
    return jnp.concatenate([tol, jnp.full((size - tol.shape[0],), jnp.min(tol), tol.dtype)])
