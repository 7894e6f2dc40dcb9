"""BacksolveAdjoint for Stratonovich SDEs: the adjoint SDE solved backwards on the same Brownian path.

For du = f(u, θ, t) dt + g(u, θ, t) ∘ dW and a loss on the states saved at T_0 < … < T_K, the adjoint
a(t) = ∂L/∂u(t) and the parameter adjoint a_θ solve, backwards from the last save point (Li, Wong, Chen &
Duvenaud, "Scalable gradients for stochastic differential equations", AISTATS 2020, §3–4; Kidger et al.
2021 for the Stratonovich form):

    du   =  f dt + g ∘ dW,
    da   = −aᵀ ∂f/∂u dt − aᵀ ∂(g·dW)/∂u,           a jumps by the loss's cotangent at each T_k,
    da_θ = −aᵀ ∂f/∂θ dt − aᵀ ∂(g·dW)/∂θ,          a_θ(T_K) = 0,

with u re-integrated backwards alongside (O(1) memory) and reset to the forward value at every save point
(as the ODE BacksolveAdjoint does, to limit the drift of the backward state). The Stratonovich integral is
time-symmetric, so the backward solve steps with dt < 0 on the increments W(t + dt) − W(t) of the same
path: the virtual Brownian tree (or a NoiseGrid) evaluates any interval, in either direction. One step
of the augmented system is Euler–Heun (the Stratonovich predictor–corrector), and each evaluation of its
"f dt + g·ΔW" is one vector–Jacobian product: the pullback of (f, g·ΔW) at the cotangent (a·dt, a) gives
both adjoint increments at once, for u and for θ (no Jacobian is formed).

The backward steps are uniform within each interval between save points, of about the forward solve's
mean accepted step ((t1 − t0)/naccept). The gradient converges to the pathwise derivative of the exact
solution as the steps shrink (strong order 1 for commutative noise, 1/2 otherwise), not to the derivative
of the discrete forward solve (DiscreteAdjoint or ForwardDiffSensitivity give that). The span ends are
not differentiated (a Brownian path has no time derivative): their cotangents are NaN. A failed forward
solve makes the gradient NaN.
"""
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

from .._core.retcode import ReturnCode
from .inputs import InputSplit, zero_cotangent


def sde_backsolve(sensealg, ctx, inputs):
    split = InputSplit.of(inputs.p)

    @jax.custom_vjp
    def run(diff, rest):
        return ctx.make_loop(ctx.rhs, ctx.alg, ctx.cfg)(split.merge(diff, rest))

    def forward(diff, rest):
        out = ctx.make_loop(ctx.rhs, ctx.alg, ctx.cfg)(split.merge(diff, rest))
        return out, (diff, rest, out)

    def backward(residuals, ct):
        diff, rest, out = residuals
        return _reverse_pass(ctx, split, diff, rest, out, ct.us), jax.tree_util.tree_map(zero_cotangent, rest)

    run.defvjp(forward, backward)
    return run(*split.split(inputs))


@partial(jax.jit, static_argnums=(0, 1))
def _reverse_pass(ctx, split, diff, rest, out, ct_us):
    u0, t0, t1, p_diff = diff
    others, p_rest = rest
    terms = ctx.rhs.bind()
    dtype = u0.dtype
    theta, unravel = ravel_pytree(p_diff)
    theta = theta.astype(dtype)
    params = lambda th: split.merge_p(unravel(th), p_rest)
    q = params(theta)
    # Save points: (times, forward states, cotangents), the valid ones first.
    ts, us, ct_us = out.ts.astype(dtype), out.us, ct_us.astype(dtype)
    last = out.n_saved - 1
    h = jnp.abs(out.t_final - t0) / jnp.maximum(out.stats["naccept"], 1).astype(dtype)

    def increments(u, a, t, dt, dW):
        """The augmented system's f dt + g·ΔW at (u, a): (Δu, Δa, Δa_θ), one pullback."""
        def drift_noise(u_, th):
            q_ = params(th)
            return terms(u_, q_, t) * dt, terms.noise(terms.g(u_, q_, t), dW)
        (fu, nu), pull = jax.vjp(drift_noise, u, theta)
        gu, gth = pull((a, a))
        return fu + nu, -gu, -gth

    def heun(i, carry, hi, step):
        u, a, ath = carry
        t = hi + i * step
        dW = terms.control(t, step, q)[1].W        # W(t + step) − W(t), step < 0
        k1 = increments(u, a, t, step, dW)
        bar = (u + k1[0], a + k1[1])
        k2 = increments(*bar, t + step, step, dW)
        return u + (k1[0] + k2[0]) / 2, a + (k1[1] + k2[1]) / 2, ath + (k1[2] + k2[2]) / 2

    def segment(j, carry):
        """From save point k = last − j back to the previous one (or t0): reset u, add the cotangent."""
        a, ath = carry
        k = last - j
        hi = ts[k]
        lo = jnp.where(k > 0, ts[jnp.maximum(k - 1, 0)], t0)
        a = a + ct_us[k]
        n = jnp.where(hi > lo, jnp.maximum(jnp.ceil((hi - lo) / h - 1e-9), 1.0), 0.0).astype(jnp.int32)
        step = (lo - hi) / jnp.maximum(n, 1).astype(dtype)
        _, a, ath = lax.fori_loop(0, n, lambda i, c: heun(i, c, hi, step), (us[k], a, ath))
        return a, ath

    a, ath = lax.fori_loop(0, last + 1, segment, (jnp.zeros_like(u0), jnp.zeros_like(theta)))
    ok = out.retcode == ReturnCode.Success
    nan = jnp.asarray(jnp.nan, dtype)
    guard = lambda g: jnp.where(ok, g, nan)
    d_p = [x.astype(jnp.result_type(y)) for x, y in zip(unravel(guard(ath)), p_diff)]
    return guard(a), nan.astype(t0.dtype), nan.astype(t1.dtype), d_p
