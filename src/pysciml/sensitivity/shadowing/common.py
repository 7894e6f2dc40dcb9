"""What every shadowing method shares: the custom VJP around the solve, the linearised flow maps between
saved points, and the time-dilation weights read from the loss's cotangent.

The loss is a time average L = c·(1/N) Σ_i g(u_i) over the N = m + 1 saved points, so its cotangent is
ū_i = (c/N) ∇g(u_i). A VJP must be linear in ū, so the methods never evaluate g itself: where the time
dilation needs the fluctuation g(u_i) − ḡ they read it from the cotangent along the trajectory,
(c/N)(g(u_i) − g(u_0)) = ∫ ū·f dt (the chain rule, d g/dt = ∇g·f), by the trapezoidal rule on the saved
grid; its error telescopes to O(Δt² |g̈|) for the whole span.
"""
import warnings
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..._core.retcode import ReturnCode
from ..._core.trees import is_concrete
from ..algorithms import ForwardDiffSensitivity
from ..forward import forward_solve
from ..._core.trees import ravel
from ..inputs import InputSplit, leaf_shapes, unflatten, zero_cotangent
from . import unstable

TIME_AVERAGE_RTOL = 1e-6     # how far the cotangent may be from (c/N)∇g(u_i) when g is given


class Trajectory(NamedTuple):
    """The saved trajectory and the loss's cotangent on it, as the methods see them."""
    ts: jnp.ndarray       # (m + 1,) evenly spaced save times
    us: jnp.ndarray       # (m + 1, n)
    fs: jnp.ndarray       # (m + 1, n) f(u_i, p, t_i)
    ct: jnp.ndarray       # (m + 1, n) cotangent of the loss on us
    h: jnp.ndarray        # spacing of the save times
    pvec: jnp.ndarray     # (P,) the differentiable parameters, flat
    dilation: jnp.ndarray  # (m + 1,) Q_i − Q̄: ∫ ū·f dt from t_0 to t_i minus its time average


def check_grid(sensealg, saveat):
    """Refuse, at trace time, save grids the methods cannot average over."""
    name = type(sensealg).__name__
    if saveat is None:
        raise ValueError(f"sensealg={name}(...) differentiates a time average over the saved points: pass saveat= "
                         "an evenly spaced grid of times (e.g. jnp.linspace(t0, t1, m + 1))")
    n = int(np.shape(saveat)[0])
    if n < 3:
        raise ValueError(f"sensealg={name}(...): saveat must hold at least 3 times; got {n}")
    nseg, nstep = getattr(sensealg, "nseg", None), getattr(sensealg, "nstep", None)
    if nseg is not None and n - 1 != nseg * nstep:
        raise ValueError(f"sensealg={name}(nseg={nseg}, nstep={nstep}) needs len(saveat) = nseg·nstep + 1 = "
                         f"{nseg * nstep + 1} save times; got {n}")
    if is_concrete(saveat):
        gaps = np.diff(np.asarray(saveat, np.float64))
        if not np.allclose(gaps, gaps[0], rtol=1e-8, atol=0):
            raise ValueError(f"sensealg={name}(...): saveat must be evenly spaced (a time average gives every "
                             f"saved point the same weight); got spacings from {gaps.min():g} to {gaps.max():g}")


def shadowing_solve(sensealg, ctx, inputs, gradient):
    """The solve, with its VJP replaced by ``gradient(sensealg, flow, trajectory) -> (P,)``, the shadowing
    derivative of the time average with respect to the flat differentiable parameters."""
    check_grid(sensealg, inputs.saveat)
    split = InputSplit.of(inputs.p)

    @jax.custom_vjp
    def run(diff, rest):
        return ctx.make_loop(ctx.rhs, ctx.alg, ctx.cfg)(split.merge(diff, rest))

    def forward(diff, rest):
        out = ctx.make_loop(ctx.rhs, ctx.alg, ctx.cfg)(split.merge(diff, rest))
        return out, (diff, rest, out)

    def backward(residuals, ct):
        diff, rest, out = residuals
        u0, t0, t1, p_diff = diff
        alg = sensealg
        if is_concrete(out.us, diff, ct.us):
            # Outside jit the loss can be checked before anything else compiles: a clear error. (Traced, the
            # same check turns the gradient into NaN with a warning, in _backward.)
            averaged, residual = _check_time_average(sensealg, ctx, split, diff, rest, out.us, ct.us)
            if not bool(averaged):
                raise ValueError(_not_averaged(type(sensealg).__name__, residual))
        if unstable.needs_estimate(sensealg):
            # Counted here, from the flow maps of this very trajectory, while the residuals are still
            # numbers; cached per compiled problem so later gradients skip it. (The flow maps are not handed
            # on to _backward: that would compile it twice, with and without them, for a run-time saving
            # on the first gradient only.)
            alg = unstable.resolve(sensealg, (ctx, split, out.us.shape), is_concrete(out.us, diff),
                                   lambda: _state_jacobians(ctx, split, diff, rest, out))
        flat = _backward(alg, ctx, split, gradient, diff, rest, out, ct.us)
        p_ct = unflatten(flat, leaf_shapes(p_diff))
        # An ergodic average depends on neither the initial state nor (in the limit) the span.
        return (jnp.zeros_like(u0), jnp.zeros_like(t0), jnp.zeros_like(t1), p_ct), \
            jax.tree_util.tree_map(zero_cotangent, rest)

    run.defvjp(forward, backward)
    return run(*split.split(inputs))


def _trajectory(ctx, split, diff, rest, out, ct_us):
    x = split.merge(diff, rest)
    p_diff, p_rest = diff[3], rest[1]
    us, ts = out.us, out.ts
    dtype = us.dtype
    pvec = ravel(p_diff, dtype)
    m = us.shape[0] - 1
    h = (ts[-1] - ts[0]) / m
    fs = jax.vmap(lambda u, t: ctx.rhs(u, x.p, t))(us, ts)
    ct = ct_us.astype(dtype)
    traj = Trajectory(ts, us, fs, ct, h, pvec, _dilation(ct, fs, h))
    return x, traj


@partial(jax.jit, static_argnums=(0, 1))
def _state_jacobians(ctx, split, diff, rest, out):
    """The flow maps Φ_i (m, n, n), f on the grid, its spacing and whether the solve reached every save
    time: what `unstable` counts from."""
    x, traj = _trajectory(ctx, split, diff, rest, out, jnp.zeros_like(out.us))
    flow = FlowMaps(ctx, split, x, rest[1], leaf_shapes(diff[3]))
    solved = (out.retcode == ReturnCode.Success) & (out.n_saved == out.us.shape[0])
    return flow.jacobians(traj, params=False)[0], traj.fs, traj.h, solved


@partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _backward(sensealg, ctx, split, gradient, diff, rest, out, ct_us):
    x, traj = _trajectory(ctx, split, diff, rest, out, ct_us)
    us = out.us
    flow = FlowMaps(ctx, split, x, rest[1], leaf_shapes(diff[3]))
    grad = gradient(sensealg, flow, traj)
    solved = (out.retcode == ReturnCode.Success) & (out.n_saved == us.shape[0])
    averaged, residual = _is_time_average(sensealg, ctx, x.p, us, traj.ct)
    jax.debug.callback(partial(_warn, name=type(sensealg).__name__), solved, averaged, residual)
    return jnp.where(solved & averaged, grad, jnp.nan)


def _dilation(ct, fs, h):
    """Q_i − Q̄ with Q_i = ∫_{t_0}^{t_i} ū·f dt (trapezoidal) and Q̄ its trapezoidal time average:
    (c/N)(g(u_i) − ḡ) for a loss c·mean g(u_i)."""
    s = jnp.sum(ct * fs, axis=1)
    q = jnp.concatenate([jnp.zeros((1,), s.dtype), jnp.cumsum(0.5 * h * (s[1:] + s[:-1]))])
    return q - jnp.mean(0.5 * (q[1:] + q[:-1]))


@partial(jax.jit, static_argnums=(0, 1, 2))
def _check_time_average(sensealg, ctx, split, diff, rest, us, ct_us):
    return _is_time_average(sensealg, ctx, split.merge(diff, rest).p, us, ct_us.astype(us.dtype))


def _not_averaged(name, residual):
    detail = ("its cotangent is zero at most saved points" if np.isnan(residual) else
              f"its cotangent differs from that of c·mean g(u_i) by {float(residual):.2e} (relative)")
    return (f"{name} differentiates a time average c·(1/N) Σ g(u_i) over the saved points, and the loss is not "
            f"one ({detail}). Average g over sol.u (jnp.mean(g(sol.u))), or use another sensealg for other "
            "losses")


def _is_time_average(sensealg, ctx, p, us, ct):
    """Whether the cotangent is that of a time average: with ``g`` given, ū_i = c ∇g(u_i) at the interior
    points (any overall scale c, any end weights); without, nonzero at most of the saved points."""
    if sensealg.g is None:
        nonzero = jnp.sum(jnp.any(ct != 0, axis=1))
        return 2 * nonzero >= us.shape[0], jnp.asarray(jnp.nan, us.dtype)
    spec = getattr(ctx.rhs, "spec", None)
    user = (lambda u: spec.unravel(u)) if spec is not None else (lambda u: u)
    grads = jax.vmap(lambda u: ravel(jax.grad(lambda v: sensealg.g(user(v), p))(u), u.dtype))(us)
    a, b = ct[1:-1], grads[1:-1]
    scale = jnp.sum(a * b) / jnp.maximum(jnp.sum(b * b), jnp.finfo(us.dtype).tiny)
    residual = jnp.linalg.norm(a - scale * b) / jnp.maximum(jnp.linalg.norm(a), jnp.finfo(us.dtype).tiny)
    return residual <= TIME_AVERAGE_RTOL, residual


def _warn(solved, averaged, residual, *, name):
    if not solved:
        warnings.warn(f"{name}: the forward solve did not reach every save time (see sol.retcode); the "
                      "gradient is NaN", RuntimeWarning, stacklevel=2)
    elif not averaged:
        warnings.warn(f"{_not_averaged(name, residual)}; the gradient is NaN", RuntimeWarning, stacklevel=2)


class FlowMaps:
    """The flow map φ_i of the solve between consecutive save times, u_i ↦ u(t_{i+1}), run by the solve's
    own method and tolerances, and its derivatives: Jacobians by forward sensitivities
    (ForwardDiffSensitivity on each interval, all intervals vmapped) and parameter VJPs."""

    def __init__(self, ctx, split, x, p_rest, p_shapes):
        cfg = ctx.cfg._replace(save="ends", dense=False, has_tstops=False, events=None)
        self._ctx, self._split, self._x = ctx._replace(cfg=cfg), split, x
        self._p_rest, self._p_shapes = p_rest, p_shapes

    def phi(self, u, t0, t1, pvec):
        p = self._split.merge_p(unflatten(pvec, self._p_shapes), self._p_rest)
        xi = self._x._replace(u0=u, t0=t0, t1=t1, p=p, saveat=None, tstops=None, callback_data=None)
        return forward_solve(ForwardDiffSensitivity(), self._ctx, xi).us[-1]

    def jacobians(self, traj, params=True):
        """Φ_i = ∂φ_i/∂u (m, n, n) and, with ``params``, ∂φ_i/∂p (m, n, P)."""
        argnums = (0, 3) if params else 0
        jac = jax.vmap(jax.jacfwd(self.phi, argnums=argnums), in_axes=(0, 0, 0, None))(
            traj.us[:-1], traj.ts[:-1], traj.ts[1:], traj.pvec)
        return jac if params else (jac, None)

    def parameter_vjp(self, traj, lam):
        """Σ_i λ_{i+1}ᵀ ∂φ_i/∂p for covectors λ_1..λ_m (m, n): the parameter gradient of an adjoint."""
        def one(u, t0, t1, l):
            return jax.vjp(lambda pv: self.phi(u, t0, t1, pv), traj.pvec)[1](l)[0]
        return jnp.sum(jax.vmap(one)(traj.us[:-1], traj.ts[:-1], traj.ts[1:], lam), axis=0)
