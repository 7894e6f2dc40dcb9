"""Where a DDE's solution is not smooth, so the solver can step onto those times (tstops).

The solution's derivative is in general discontinuous at t0 (the history's slope differs from f there).
Through a constant lag τ a discontinuity in derivative k at ξ becomes one in derivative k + 1 at ξ + τ
(Bellen & Zennaro, "Numerical Methods for Delay Differential Equations", 2003, sec. 3.1). A method of
order q loses accuracy on a step containing a discontinuity in derivatives up to q, so the breaking points
t0 + n₁τ₁ + … + n_mτ_m with n₁ + … + n_m ≤ q are tracked; beyond that the solution is smooth enough.
A state-dependent lag moves the discontinuity to the root of t − τ(u(t), t) = t0; only its first-order
estimate t0 + τ(u0, t0) is tracked (the step-size controller handles the rest).
"""
import itertools

import jax.numpy as jnp
import numpy as np


def lag_multiplicities(n_lags: int, max_order: int) -> np.ndarray:
    """All (n₁, …, n_m) ≥ 0 with 1 ≤ Σ nᵢ ≤ max_order, one row each (static, from the number of lags)."""
    rows = [combo for combo in itertools.product(range(max_order + 1), repeat=n_lags)
            if 1 <= sum(combo) <= max_order]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), n_lags)


def breaking_points(t0, constant_lags, dependent_lag_values, max_order: int):
    """The discontinuity times to step onto (unsorted; may lie beyond t1; traced values are fine):
    t0 + Σ nᵢτᵢ over the constant lags and t0 + τ for each state-dependent lag's value at the start."""
    dtype = jnp.result_type(t0)
    points = [t0 + jnp.asarray(dependent_lag_values, dtype).reshape(-1)]
    if constant_lags.shape[0]:
        multiples = jnp.asarray(lag_multiplicities(constant_lags.shape[0], max_order), dtype)
        points.append(t0 + multiples @ constant_lags.astype(dtype))
    return jnp.concatenate(points)
