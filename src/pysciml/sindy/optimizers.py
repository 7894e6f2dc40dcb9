"""Sparse regression Ẋ ≈ Θ Ξᵀ: sequentially thresholded least squares (`STLSQ`) and sparse relaxed
regularized regression (`SR3`, L0 or L1), pure JAX and solved for all equations at once.

Both work on a `Regression`: Θ and Ẋ with the Gram matrix of the column-scaled library (unit columns,
so the small solves are well conditioned) formed once. Every inner solve is then a masked
n_terms × n_terms system, so an iteration costs microseconds and a λ sweep is one `vmap`. Optimizers are
pytrees whose numbers (threshold, alpha, nu) are traced and whose options are static, so changing λ never
recompiles.
"""
import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._checks import check_nonnegative


class Regression(NamedTuple):
    """Θ (N, p) and Ẋ (N, n) with the scaled normal equations: scale = 1/‖θ_j‖ (0 for a zero column),
    gram = DΘᵀΘD and rhs = (DΘᵀẊ)ᵀ (n, p) for D = diag(scale)."""
    theta: jax.Array
    y: jax.Array
    scale: jax.Array
    gram: jax.Array
    rhs: jax.Array

    @property
    def usable(self):
        """Columns that are not identically zero on the data (the others never enter a model)."""
        return self.scale > 0


def prepare(theta, y) -> Regression:
    """The `Regression` of Ẋ = y (N, n) on Θ = theta (N, p)."""
    p = theta.shape[1]
    products = theta.T @ jnp.concatenate([theta, y], axis=1)       # one pass over the data: [ΘᵀΘ, ΘᵀẊ]
    norms = jnp.sqrt(jnp.diag(products[:, :p]))
    scale = jnp.where(norms > 0, 1.0 / jnp.where(norms > 0, norms, 1.0), 0.0)
    return Regression(theta, y, scale, products[:, :p] * scale[:, None] * scale, (products[:, p:] * scale[:, None]).T)


def spd_solve(A, b):
    """Solve A x = b for symmetric positive definite A (..., p, p) and b (..., p) by Cholesky (cheaper to
    compile than an LU solve; a singular A gives NaN, which `fit` reports)."""
    L = jax.lax.linalg.cholesky(A)
    y = jax.lax.linalg.triangular_solve(L, b[..., None], left_side=True, lower=True)
    return jax.lax.linalg.triangular_solve(L, y, left_side=True, lower=True, transpose_a=True)[..., 0]


def masked_lstsq(reg: Regression, mask, ridge=0.0, rhs=None):
    """For every equation i, min ‖ẏ_i − Θ c‖² + Σ_j ridge_j (c_j/scale_j)² over c supported on mask[i];
    returns the coefficients (n, p), zero off the mask. ``rhs`` replaces the scaled DΘᵀẏ (refinement)."""
    p = reg.gram.shape[0]
    eye = jnp.eye(p, dtype=reg.gram.dtype)
    both = mask[:, :, None] & mask[:, None, :]
    A = jnp.where(both, reg.gram + ridge * eye, eye)          # inactive terms: identity rows, zero right side
    b = jnp.where(mask, reg.rhs if rhs is None else rhs, 0.0)
    return jnp.where(mask, spd_solve(A, b), 0.0) * reg.scale


def unbiased_lstsq(reg: Regression, mask):
    """Plain least squares on each equation's support, with one step of iterative refinement against Θ
    itself (the normal equations alone lose digits to cond(Θ)²)."""
    coef = masked_lstsq(reg, mask)
    residual = reg.y - reg.theta @ coef.T
    return coef + masked_lstsq(reg, mask, rhs=(residual.T @ reg.theta) * reg.scale)


def _mask_all(reg: Regression):
    return jnp.broadcast_to(reg.usable, (reg.y.shape[1], reg.theta.shape[1]))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class STLSQ:
    """Sequentially thresholded least squares (Brunton, Proctor & Kutz, PNAS 113, 3932, 2016), with an
    optional ridge term as in PySINDy: repeat {ridge regression of every equation on its active terms;
    drop the terms with |ξ| < threshold} until no term is dropped or ``max_iter`` rounds, then (``unbias``)
    refit the surviving terms by plain least squares. alpha: weight of α‖ξ‖² in each ridge solve."""
    threshold: float = 0.1
    alpha: float = 0.0
    max_iter: int = dataclasses.field(default=20, metadata=dict(static=True))
    unbias: bool = dataclasses.field(default=True, metadata=dict(static=True))

    def __post_init__(self):
        check_nonnegative("STLSQ", "threshold", self.threshold)
        check_nonnegative("STLSQ", "alpha", self.alpha)
        if not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise ValueError(f"STLSQ: max_iter must be a positive integer; got {self.max_iter!r}")

    def regress(self, reg: Regression):
        """Returns Ξ (n_states, n_terms) for the data in ``reg`` (the library matrix, derivatives and column scales)."""
        ridge = self.alpha * reg.scale ** 2

        def round_(state):
            k, mask, _, _ = state
            coef = masked_lstsq(reg, mask, ridge)
            kept = mask & (jnp.abs(coef) >= self.threshold)
            return k + 1, kept, jnp.any(kept != mask), jnp.where(kept, coef, 0.0)

        mask = _mask_all(reg)
        init = (0, mask, jnp.array(True), jnp.zeros(mask.shape, reg.gram.dtype))
        _, mask, _, coef = jax.lax.while_loop(lambda s: (s[0] < self.max_iter) & s[2], round_, init)
        return unbiased_lstsq(reg, mask) if self.unbias else coef


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SR3:
    """Sparse relaxed regularized regression (Zheng, Askham, Brunton, Kutz & Aravkin, IEEE Access 7, 2019;
    Champion et al., IEEE Access 8, 2020): min over ξ, w of ½‖ẏ − Θξ‖² + λR(w) + ‖ξ − w‖²/(2ν), solved by
    alternating the exact ξ step (one factorization of ΘᵀΘ + I/ν) and the proximal w step, from w = the
    least-squares coefficients (as PySINDy).

    threshold: the cut of the proximal step: regularizer "l0" hard-thresholds at it (λ = threshold²/(2ν)),
    "l1" soft-thresholds by it (λ = threshold/ν). Stops when w changes by less than ``tol`` (relative)
    or after ``max_iter`` steps. Returns the sparse w, refitted on its support when ``unbias``.

    nu: the relaxation ν > 0 (smaller: w and ξ held closer together).
    """
    threshold: float = 0.1
    nu: float = 1.0
    regularizer: str = dataclasses.field(default="l0", metadata=dict(static=True))
    max_iter: int = dataclasses.field(default=10_000, metadata=dict(static=True))
    tol: float = dataclasses.field(default=1e-12, metadata=dict(static=True))
    unbias: bool = dataclasses.field(default=True, metadata=dict(static=True))

    def __post_init__(self):
        check_nonnegative("SR3", "threshold", self.threshold)
        check_nonnegative("SR3", "nu", self.nu)
        if isinstance(self.nu, (int, float)) and self.nu == 0:
            raise ValueError("SR3: nu must be positive (it is the relaxation ‖ξ − w‖²/(2ν)); got 0")
        if self.regularizer not in ("l0", "l1"):
            raise ValueError(f"SR3: regularizer must be 'l0' or 'l1'; got {self.regularizer!r}")
        if not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise ValueError(f"SR3: max_iter must be a positive integer; got {self.max_iter!r}")

    def prox(self, z):
        """Returns the proximal step of the regularizer at ``z``: hard-thresholding at ``threshold`` ('l0') or
        soft-thresholding by it ('l1')."""
        if self.regularizer == "l0":
            return jnp.where(jnp.abs(z) >= self.threshold, z, 0.0)
        return jnp.sign(z) * jnp.maximum(jnp.abs(z) - self.threshold, 0.0)

    def regress(self, reg: Regression):
        """Returns Ξ (n_states, n_terms) for the data in ``reg`` (the library matrix, derivatives and column scales)."""
        # ξ = Dξ̃ with (DΘᵀΘD + D²/ν) ξ̃ = DΘᵀẏ + Dw/ν: the scaled form of (ΘᵀΘ + I/ν) ξ = Θᵀẏ + w/ν
        usable = reg.usable
        scale = jnp.where(usable, reg.scale, 1.0)
        H = jnp.where(usable[:, None] & usable[None, :], reg.gram, 0.0) + jnp.diag(scale ** 2 / self.nu)
        L = jax.lax.linalg.cholesky(H)

        def xi_step(w):
            b = (reg.rhs + scale * w / self.nu).T
            y = jax.lax.linalg.triangular_solve(L, b, left_side=True, lower=True)
            return scale * jax.lax.linalg.triangular_solve(L, y, left_side=True, lower=True, transpose_a=True).T

        def step(state):
            k, w, _ = state
            w_new = jnp.where(usable, self.prox(xi_step(w)), 0.0)
            change = jnp.max(jnp.abs(w_new - w)) / jnp.maximum(1.0, jnp.max(jnp.abs(w_new)))
            return k + 1, w_new, change

        state = step((0, masked_lstsq(reg, _mask_all(reg)), jnp.inf))     # start from least squares
        _, w, _ = jax.lax.while_loop(lambda s: (s[0] < self.max_iter) & (s[2] > self.tol), step, state)
        return unbiased_lstsq(reg, w != 0) if self.unbias else w
