"""Least-squares shadowing (Wang 2014, "Convergence of the least squares shadowing method for computing
derivative of ergodic averages"; Wang, Hu & Blonigan 2014, J. Comput. Phys. 267), discretised on the saved
grid t_0 < … < t_m (spacing h) with the solve's own flow maps φ_i between save times:

    minimise  Σ_i |v_i|² + α² Σ_i η_i²   subject to   v_{i+1} = Φ_i v_i + ∂φ_i/∂p + η_i h f(u_{i+1})

(η_i: time dilation of interval i; without it, `CosWindowing`/`Cos2Windowing`, η = 0 and the average is
windowed). With z = (v, η), W = diag(I, α²) and the constraints written B z = b, the minimiser is
z = W⁻¹Bᵀλ where S λ = b, S = B W⁻¹ Bᵀ: symmetric positive definite and block tridiagonal,

    S_ii = I + Φ_iΦ_iᵀ + (h/α)² f_{i+1}f_{i+1}ᵀ,   S_{i+1,i} = −Φ_{i+1}.

The derivative of the average is Σ_i w_i ū_i·v_i + Σ_i θ_i η_i (θ_i: the loss's fluctuation on interval i,
see `common`). The forward form solves S once per parameter column; the adjoint form solves
S μ = B W⁻¹ (w ū, θ) once and returns Σ_i μ_iᵀ ∂φ_i/∂p (one VJP per interval): the same number.
"""
import jax.numpy as jnp

from .regularizers import TimeDilation
from .blocktridiag import solve_spd_block_tridiagonal


def _schur(regularizer, phis, fs, h):
    n = phis.shape[-1]
    diag = jnp.eye(n, dtype=phis.dtype) + phis @ jnp.swapaxes(phis, 1, 2)
    if isinstance(regularizer, TimeDilation):
        diag = diag + (h / regularizer.alpha) ** 2 * jnp.einsum("ij,ik->ijk", fs[1:], fs[1:])
    return diag, -phis[1:]


def _weights(regularizer, traj):
    """Per-point weights of the average (a window of mean 1, or 1) and per-interval fluctuations θ_i."""
    m = traj.us.shape[0] - 1
    if isinstance(regularizer, TimeDilation):
        return jnp.ones((m + 1,), traj.us.dtype), 0.5 * (traj.dilation[1:] + traj.dilation[:-1])
    w = regularizer.window(jnp.arange(m + 1, dtype=traj.us.dtype) / m)
    return w / jnp.mean(w), None


def forward_gradient(sensealg, flow, traj):
    reg = sensealg.regularizer
    phis, dphi_dp = flow.jacobians(traj)                      # (m, n, n), (m, n, P)
    diag, lower = _schur(reg, phis, traj.fs, traj.h)
    lam = solve_spd_block_tridiagonal(diag, lower, dphi_dp)     # (m, n, P)
    zero = jnp.zeros_like(lam[:1])
    # v = Bᵀλ restricted to the states: v_i = λ_{i−1} − Φ_iᵀ λ_i (with λ_{−1} = λ_m = 0).
    v = jnp.concatenate([zero, lam]) - jnp.concatenate([jnp.swapaxes(phis, 1, 2) @ lam, zero])
    w, theta = _weights(reg, traj)
    grad = jnp.einsum("i,in,inp->p", w, traj.ct, v)
    if theta is not None:
        eta = -(traj.h / reg.alpha ** 2) * jnp.einsum("in,inp->ip", traj.fs[1:], lam)
        grad = grad + theta @ eta
    return grad


def adjoint_gradient(sensealg, flow, traj):
    reg = sensealg.regularizer
    phis, _ = flow.jacobians(traj, params=False)
    diag, lower = _schur(reg, phis, traj.fs, traj.h)
    w, theta = _weights(reg, traj)
    c = w[:, None] * traj.ct
    rhs = c[1:] - jnp.einsum("ijk,ik->ij", phis, c[:-1])
    if theta is not None:
        rhs = rhs - (traj.h / reg.alpha ** 2) * theta[:, None] * traj.fs[1:]
    mu = solve_spd_block_tridiagonal(diag, lower, rhs[..., None])[..., 0]
    return flow.parameter_vjp(traj, mu)
