"""The small least-squares problem that ties the segments of NILSS and NILSAS together:

    minimise  Σ_k ½ a_kᵀ C_k a_k + d_kᵀ a_k   subject to   a_{k+1} = R_k a_k + β_k   (k = 0 … K−2)

with r unknowns per segment (r = number of homogeneous solutions, a handful). The KKT system
[[C, Eᵀ], [E, 0]] of size (2K − 1)·r is assembled densely and solved by LU: eliminating the constraints
instead would multiply the R_k together, whose product grows like the unstable directions do.
"""
import jax.numpy as jnp


def segment_least_squares(C, d, R, beta):
    """C (K, r, r), d (K, r, P), R (K − 1, r, r), beta (K − 1, r, P) → a (K, r, P)."""
    K, r = C.shape[0], C.shape[1]
    P = d.shape[-1]
    dtype = C.dtype
    if r == 0:                       # no homogeneous solutions (nus = 0 / M = 0): nothing to combine
        return jnp.zeros((K, 0, P), dtype)
    block_diag = jnp.einsum("kl,kij->kilj", jnp.eye(K, dtype=dtype), C).reshape(K * r, K * r)
    # Constraint k: +I on a_{k+1}, −R_k on a_k.
    E = (jnp.einsum("kl,ij->kilj", jnp.eye(K - 1, K, 1, dtype=dtype), jnp.eye(r, dtype=dtype))
         - jnp.einsum("kl,kij->kilj", jnp.eye(K - 1, K, dtype=dtype), R)).reshape((K - 1) * r, K * r)
    kkt = jnp.block([[block_diag, E.T], [E, jnp.zeros(((K - 1) * r, (K - 1) * r), dtype)]])
    rhs = jnp.concatenate([-d.reshape(K * r, P), beta.reshape((K - 1) * r, P)])
    return jnp.linalg.solve(kkt, rhs)[:K * r].reshape(K, r, P)


def project_off(f, x):
    """x with its component along f removed (columns of x, or a vector): (I − f fᵀ/|f|²) x."""
    # (guarded so that a state at rest, f = 0, is left as it is rather than turned into NaN)
    fhat = f / jnp.maximum(jnp.sum(f * f), jnp.finfo(f.dtype).tiny)
    return x - jnp.outer(f, fhat @ x) if x.ndim == 2 else x - f * (fhat @ x)
