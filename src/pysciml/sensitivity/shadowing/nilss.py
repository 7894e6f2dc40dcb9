"""Non-intrusive least-squares shadowing (Ni & Wang 2017, "Sensitivity analysis on chaotic dynamical
systems by Non-Intrusive Least Squares Shadowing (NILSS)", J. Comput. Phys. 347), on the saved grid split
into K segments of S intervals, with the solve's flow maps φ_i between save times.

On segment k, r = nus homogeneous tangents W (W_{i+1} = Φ_i W_i) and one inhomogeneous tangent per
parameter v (v_{i+1} = Φ_i v_i + ∂φ_i/∂p) start orthogonal to f. The shadowing tangent is v + W a_k. At a
segment end the tangents are projected off f and W re-orthonormalised, P⊥W_end = Q R, so continuity of the
projected shadowing tangent reads a_{k+1} = R_k a_k + Qᵀ P⊥ v_end; the a_k minimise Σ_k ∫ |P⊥(v + W a_k)|² dt
(`segments`). Removing the component ξ_k f at an interface is an impulsive time dilation −ξ_k, whose effect
on the average is −ξ_k (g(t_k) − ḡ)/T; with the loss's cotangent this is −(ξ_k/h)·(Q_k − Q̄) (`common`). So

    d⟨g⟩/dp = Σ_i ū_i·(v_i + W_i a_{k(i)}) − Σ_{k=1}^{K} (ξ_k / h) (Q_{t_k} − Q̄),

the last segment's end counted as an interface (invariance under a reparametrisation of time).
"""
import jax
import jax.numpy as jnp
from jax import lax

from .segments import project_off, segment_least_squares


def gradient(sensealg, flow, traj):
    K, S, r = sensealg.nseg, sensealg.nstep, sensealg.nus
    phis, dphi = flow.jacobians(traj)                       # (m, n, n), (m, n, P)
    n, P = dphi.shape[1], dphi.shape[2]
    dtype = phis.dtype
    points = jnp.arange(K)[:, None] * S + jnp.arange(S + 1)  # (K, S + 1) point indices of each segment
    fs, ct = traj.fs[points], traj.ct[points]
    trapezoid = traj.h * jnp.concatenate([jnp.array([0.5]), jnp.ones(S - 1), jnp.array([0.5])]).astype(dtype)
    # An interface point's cotangent is shared half and half by the end of one segment and the (projected)
    # start of the next, as the trapezoidal rule would weigh the two one-sided tangents of ∫ ∇g·v dt.
    owned = jnp.ones((K, S + 1), dtype).at[:, 0].set(0.5).at[:, -1].set(0.5).at[0, 0].set(1.0).at[-1, -1].set(1.0)

    def segment(carry, data):
        w0, v0 = carry
        phi_k, b_k, f_k, ct_k, own = data

        def step(x, blocks):
            phi, b = blocks
            x = phi @ x + jnp.concatenate([jnp.zeros((n, r), dtype), b], axis=1)
            return x, x

        x0 = jnp.concatenate([w0, v0], axis=1)
        _, xs = lax.scan(step, x0, (phi_k, b_k))
        xs = jnp.concatenate([x0[None], xs])                  # (S + 1, n, r + P)
        xp = jax.vmap(project_off)(f_k, xs)
        gram = jnp.einsum("s,sni,snj->ij", trapezoid, xp[:, :, :r], xp)
        along = jnp.einsum("s,sn,sni->i", own, ct_k, xs)      # Σ ū·W (r), Σ ū·v (P)
        w_end, v_end, f_end = xs[-1, :, :r], xs[-1, :, r:], f_k[-1]
        xi = (f_end / jnp.sum(f_end * f_end)) @ xs[-1]        # ξ's coefficients: on a (r) and on v (P)
        q, rr = jnp.linalg.qr(project_off(f_end, w_end))
        pv = project_off(f_end, v_end)
        beta = q.T @ pv
        return (q, pv - q @ beta), (gram[:, :r], gram[:, r:], along, xi, rr, beta)

    key = jax.random.PRNGKey(sensealg.seed)
    w_start = jnp.linalg.qr(project_off(traj.fs[0], jax.random.normal(key, (n, r), dtype)))[0]
    carry0 = (w_start, jnp.zeros((n, P), dtype))
    data = (phis.reshape(K, S, n, n), dphi.reshape(K, S, n, P), fs, ct, owned)
    _, (C, d, along, xi, R, beta) = lax.scan(segment, carry0, data)
    a = segment_least_squares(C, d, R[:-1], beta[:-1])          # (K, r, P)
    grad = jnp.sum(along[:, r:], axis=0) + jnp.einsum("kr,krp->p", along[:, :r], a)
    xi_total = xi[:, r:] + jnp.einsum("kr,krp->kp", xi[:, :r], a)  # (K, P)
    # The final point counts as an interface too: the shadowing tangent is defined up to a multiple of f
    # there, and dropping it keeps the result invariant under a reparametrisation of time.
    interfaces = traj.dilation[(jnp.arange(1, K + 1) * S)]
    return grad - (interfaces @ xi_total) / traj.h
