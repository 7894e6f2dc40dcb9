"""Non-intrusive least-squares adjoint shadowing (Ni & Talnikar 2019, "Adjoint sensitivity analysis on
chaotic dynamical systems by Non-Intrusive Least Squares Adjoint Shadowing (NILSAS)", J. Comput. Phys.
395), on the saved grid split into K segments of S intervals, with the solve's flow maps φ_i.

The discrete adjoint of the loss, λ_i = Φ_iᵀ λ_{i+1} + ū_i, gives d L/dp = Σ_i λ_{i+1}ᵀ ∂φ_i/∂p but grows
backwards along the unstable directions. The shadowing adjoint is λ + W̄ a_k on segment k, with M
homogeneous adjoints W̄ (W̄_i = Φ_iᵀ W̄_{i+1}) orthogonal to f. Its component along f is not free: for the
derivative to be invariant under time dilation (the dual of LSS's η), λ_i·f_i = q_i, where q follows the
adjoint's own recursion q_i = q_{i+1} + ū_i·f_i (Φ_i f_i = f_{i+1}) with the constant fixed by
Σ_{i≥1} q_i = 0 (a parameter that only rescales time, ∂φ_i/∂p = h f_{i+1}, must not move the average).
Each segment's terminal value is set with that f-component; at a segment start the adjoints are projected
off f, P⊥W̄ = Q̄R̄, giving a_{k−1} = R̄_k a_k + Q̄ᵀP⊥λ, and the a_k minimise Σ_k Σ_i h |P⊥(λ_i + W̄_i a_k)|²
(`segments`, with the segments in reverse order). Then d⟨g⟩/dp = Σ_i (λ_{i+1} + W̄_{i+1} a)ᵀ ∂φ_i/∂p,
one VJP per interval: the cost does not grow with the number of parameters.
"""
import jax
import jax.numpy as jnp
from jax import lax

from .segments import project_off, segment_least_squares


def gradient(sensealg, flow, traj):
    K, S, M = sensealg.nseg, sensealg.nstep, sensealg.M
    phis, _ = flow.jacobians(traj, params=False)            # (m, n, n)
    n, dtype = phis.shape[-1], phis.dtype
    s = jnp.sum(traj.ct * traj.fs, axis=1)                    # ū_i·f_i
    tail = jnp.cumsum(s[::-1])[::-1]                          # Σ_{j≥i} s_j
    q = tail - jnp.mean(tail[1:])                              # λ_i·f_i, with Σ_{i≥1} q_i = 0
    points = jnp.arange(K)[:, None] * S + jnp.arange(S + 1)
    fs, ct, qs, ss = traj.fs[points], traj.ct[points], q[points], s[points]

    def segment(carry, data):
        z, wbar = carry                                        # terminal values before the source, ⊥ f
        phi_k, f_k, ct_k, q_k, s_k = data
        f_end = f_k[-1]
        lam_end = z + f_end * (q_k[-1] - s_k[-1]) / jnp.sum(f_end * f_end) + ct_k[-1]
        x_end = jnp.concatenate([wbar, lam_end[:, None]], axis=1)      # (n, M + 1)

        def step(x, blocks):
            phi, c = blocks
            x = phi.T @ x + jnp.concatenate([jnp.zeros((n, M), dtype), c[:, None]], axis=1)
            return x, x

        # points S−1 … 1 of the segment, then the pull-back to its start (no source there: it belongs
        # to the previous segment).
        _, xs = lax.scan(step, x_end, (phi_k[1:], ct_k[1:-1]), reverse=True)
        xs = jnp.concatenate([xs, x_end[None]])                # points 1 … S, (S, n, M + 1)
        x_start = phi_k[0].T @ xs[0]
        xp = jax.vmap(project_off)(f_k[1:], xs)
        gram = traj.h * jnp.einsum("sni,snj->ij", xp[:, :, :M], xp)
        qq, rr = jnp.linalg.qr(project_off(f_k[0], x_start[:, :M]))
        pl = project_off(f_k[0], x_start[:, M])
        beta = qq.T @ pl
        return (pl - qq @ beta, qq), (gram[:, :M], gram[:, M:], rr, beta[:, None], xs)

    key = jax.random.PRNGKey(sensealg.seed)
    wbar_end = jnp.linalg.qr(project_off(traj.fs[-1], jax.random.normal(key, (n, M), dtype)))[0]
    carry0 = (jnp.zeros((n,), dtype), wbar_end)
    data = (phis.reshape(K, S, n, n), fs, ct, qs, ss)
    _, (C, d, R, beta, xs) = lax.scan(segment, carry0, data, reverse=True)
    # a_{k−1} = R̄_k a_k + β_k: in reverse segment order the constraints run forwards.
    a = segment_least_squares(C[::-1], d[::-1], R[1:][::-1], beta[1:][::-1])[::-1]   # (K, M, 1)
    lam = xs[..., M] + jnp.einsum("ksnm,km->ksn", xs[..., :M], a[..., 0])          # (K, S, n): points 1 … m
    return flow.parameter_vjp(traj, lam.reshape(K * S, n))
