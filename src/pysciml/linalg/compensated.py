"""Error-free transformations and a residual of W = d·M − J in about twice the working precision.

A Rosenbrock stage solves W U = r with W = M/(γh) − J. Along a left null vector c of J (a linear invariant,
cᵀf ≡ 0, e.g. a conservation law) the exact solution has cᵀU = γh·cᵀr: that direction is not damped, so the
solve's rounding, of order eps·|W||U| in r's units, reaches the invariant multiplied by γh. On E5 of the
stiff test set (|W||U| ~ 1e-7 at h ~ 1e4) that is ~1e-20 per step while the end state needs the invariant
to ~5e-23, and the same rounding blurs every slow direction of a stiff problem. One step of iterative
refinement whose residual r − W x is computed in double-double arithmetic (plain float64 refinement does not
help: its residual carries the same eps·|W||x|) makes the solve accurate to eps relative to U itself.

Sources: T. J. Dekker, "A floating-point technique for extending the available precision", Numer. Math. 18
(1971) 224–242 (splitting and exact product); D. E. Knuth, TAOCP vol. 2, §4.2.2 (exact sum); T. Ogita,
S. M. Rump and S. Oishi, "Accurate sum and dot product", SIAM J. Sci. Comput. 26 (2005) 1955–1988 (Dot2,
of which `compensated_row_sums` is the pairwise variant).
"""
import jax.numpy as jnp

# Dekker's splitting constant 2^ceil(p/2) + 1 for the float64 significand (p = 53).
_SPLIT = 134217729.0


def two_sum(a, b):
    """(s, e) with s = fl(a + b) and a + b = s + e exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _split(a):
    scaled = _SPLIT * a
    high = scaled - (scaled - a)
    return high, a - high


def two_product(a, b):
    """(p, e) with p = fl(a·b) and a·b = p + e exactly (Dekker; no fused multiply–add needed)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def compensated_row_sums(values, errors):
    """Σ_k (values[i, k] + errors[i, k]) per row i, about as accurate as if computed in twice the working
    precision: the values are added pairwise by exact sums, their rounding errors collected with
    ``errors`` in a plain correction term (small, so its own rounding is second order)."""
    correction = jnp.sum(errors, axis=-1)
    while values.shape[-1] > 1:
        if values.shape[-1] % 2:
            values = jnp.concatenate([values, jnp.zeros_like(values[..., :1])], axis=-1)
        values, err = two_sum(values[..., 0::2], values[..., 1::2])
        correction = correction + jnp.sum(err, axis=-1)
    return values[..., 0] + correction


def w_residual(rhs, x, jac, scale, mass=None):
    """rhs − (scale·M − J) x (M = I when ``mass`` is None) in double-double arithmetic, rounded once.

    ``jac``: the matrix J, whose product J x is then formed exactly, or a callable x ↦ J x (a Jacobian–vector
    product of f), whose result enters as given (rounded once, as f's own evaluation is)."""
    if callable(jac):
        jx = jac(x)[:, None]
        jx_err = jnp.zeros_like(jx)
    else:
        jx, jx_err = two_product(jac, x[None, :])
    mx, mx_err = (x, jnp.zeros_like(x)) if mass is None else two_product(mass, x[None, :])
    # scale·(mx + mx_err): a double-double times a float, its small cross term in plain arithmetic.
    dm, dm_err = two_product(mx, scale)
    dm_err = dm_err + mx_err * scale
    if mass is None:
        dm, dm_err = dm[:, None], dm_err[:, None]
    values = jnp.concatenate([rhs[:, None], -dm, jx], axis=1)
    errors = jnp.concatenate([jnp.zeros_like(rhs)[:, None], -dm_err, jx_err], axis=1)
    return compensated_row_sums(values, errors)
