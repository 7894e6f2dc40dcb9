"""The 3-stage Radau IIA method (order 5) as validated data, in the form its Newton iteration needs.

Published facts (Hairer & Wanner, Solving ODEs II, 2nd ed.): the collocation nodes c = ((4 − √6)/10,
(4 + √6)/10, 1) and the matrix A of Table IV.5.6; the embedded error estimate of Section IV.8, eq. (8.20):

    err = (I − hγ₀J)⁻¹ [γ₀ h f(u0) + e₁z₁ + e₂z₂ + e₃z₃],   e = γ₀ (−13 − 7√6, −13 + 7√6, −1)/3,

γ₀ the real eigenvalue of A, an O(h⁴) estimate (the embedded method b̂ = b ± (γ₀, Aᵀe) has order 3).
The Newton iteration of IV.8 works on z transformed by T, the real eigen-decomposition of A⁻¹:

    T⁻¹ A⁻¹ T = [[γ, 0, 0], [0, α, −β], [0, β, α]],   γ = 1/γ₀ ≈ 3.6378, α ± iβ ≈ 2.6811 ± 3.0504i,

which splits the 3n×3n system into one real and one complex n×n system. T is computed here from A (its
columns scaled so that the last row of T is (1, 1, 0), so z₃ = w₁ + w₂) and checked.

Dense output is the collocation polynomial itself: u(t0 + θh) = u0 + h Σ_j B_j(θ) k_j with
B_j(θ) = ∫₀^θ ℓ_j, ℓ_j the Lagrange polynomials on c, and k_j = (A⁻¹z)_j / h its derivatives at the nodes.

Construction checks the order-5 conditions (and that order 6 fails), the eigen-structure, the order of
the embedded estimate, and the dense output (B_j(c_i) = a_ij, order 3 at θ = 0.3 and 0.7).
"""
import math
from dataclasses import dataclass

import numpy as np

from ..rk_conditions import order_defects

_TOL = 1e-10
_S6 = math.sqrt(6.0)

# Hairer & Wanner II, Table IV.5.6 (Radau IIA, s = 3).
_C = (0.4 - _S6 / 10.0, 0.4 + _S6 / 10.0, 1.0)
_A = ((88.0 - 7.0 * _S6) / 360.0, (296.0 - 169.0 * _S6) / 1800.0, (-2.0 + 3.0 * _S6) / 225.0), \
     ((296.0 + 169.0 * _S6) / 1800.0, (88.0 + 7.0 * _S6) / 360.0, (-2.0 - 3.0 * _S6) / 225.0), \
     ((16.0 - _S6) / 36.0, (16.0 + _S6) / 36.0, 1.0 / 9.0)
# Hairer & Wanner II, IV.8 (8.20): e / γ₀ for the stage increments z_i.
_ERROR_Z = (-(13.0 + 7.0 * _S6) / 3.0, (-13.0 + 7.0 * _S6) / 3.0, -1.0 / 3.0)


def _integrated_lagrange(c):
    """Rows j of θ¹..θˢ coefficients of B_j(θ) = ∫₀^θ ℓ_j(s) ds, ℓ_j the Lagrange polynomials on c."""
    rows = []
    for j, cj in enumerate(c):
        ell = np.polynomial.Polynomial([1.0])
        for m, cm in enumerate(c):
            if m != j:
                ell = ell * np.polynomial.Polynomial([-cm, 1.0]) / (cj - cm)
        rows.append(tuple(float(x) for x in ell.integ().coef[1:]))
    return tuple(rows)


def _eigen_transform(a):
    """(γ, α, β, T) with T⁻¹A⁻¹T = [[γ,0,0],[0,α,−β],[0,β,α]] and last row of T equal to (1, 1, 0)."""
    lam, vec = np.linalg.eig(np.linalg.inv(a))
    real = int(np.argmin(np.abs(lam.imag)))
    pair = int(np.argmin(lam.imag))                  # α − iβ: its eigenvector gives the block [[α,−β],[β,α]]
    v_real = vec[:, real].real / vec[-1, real].real
    v_pair = vec[:, pair] / vec[-1, pair]
    t = np.column_stack([v_real, v_pair.real, v_pair.imag])
    return float(lam[real].real), float(lam[pair].real), float(-lam[pair].imag), t


@dataclass(frozen=True, eq=False)
class RadauCoefficients:
    name: str
    order: int
    embedded_order: int
    dense_order: int
    c: tuple
    a: tuple                 # full s×s collocation matrix
    error_z: tuple           # e/γ₀ of the error estimate (weights of the stage increments z_i)

    # The dense output needs no extra stages (interface shared with ButcherTableau).
    c_extra = ()
    a_extra = ()

    def __post_init__(self):
        gamma, alpha, beta, t = _eigen_transform(np.asarray(self.a))
        object.__setattr__(self, "gamma", gamma)
        object.__setattr__(self, "alpha", alpha)
        object.__setattr__(self, "beta", beta)
        object.__setattr__(self, "T", tuple(map(tuple, t.tolist())))
        object.__setattr__(self, "T_inv", tuple(map(tuple, np.linalg.inv(t).tolist())))
        object.__setattr__(self, "a_inv", tuple(map(tuple, np.linalg.inv(np.asarray(self.a)).tolist())))
        object.__setattr__(self, "dense_weights", _integrated_lagrange(self.c))
        self._validate()

    @property
    def stages(self) -> int:
        return len(self.c)

    @property
    def b(self):
        return self.a[-1]

    @property
    def gamma0(self) -> float:
        return 1.0 / self.gamma

    def dense_b(self, theta):
        """B(θ) of the dense output."""
        w = np.asarray(self.dense_weights, float)
        return w @ (theta ** np.arange(1, w.shape[1] + 1))

    def embedded_weights(self):
        """(A, b̂, c) of the embedded method as an (s+1)-stage method with an explicit first stage f(u0)."""
        s = self.stages
        a, b = np.asarray(self.a), np.asarray(self.b)
        ext = np.zeros((s + 1, s + 1))
        ext[1:, 1:] = a
        e = self.gamma0 * np.asarray(self.error_z)
        b_hat = np.concatenate([[0.0], b]) - np.concatenate([[self.gamma0], a.T @ e])
        return ext, b_hat, np.concatenate([[0.0], self.c])

    def _validate(self):
        a, b, c = np.asarray(self.a), np.asarray(self.b), np.asarray(self.c)
        problems = []
        if np.abs(a.sum(axis=1) - c).max() > _TOL:
            problems.append("row sums of A differ from c")
        if max(order_defects(a, b, c, self.order)) > _TOL or order_defects(a, b, c, self.order + 1)[-1] < 1e-6:
            problems.append(f"the method is not of order exactly {self.order}")
        t, t_inv = np.asarray(self.T), np.asarray(self.T_inv)
        block = np.array([[self.gamma, 0, 0], [0, self.alpha, -self.beta], [0, self.beta, self.alpha]])
        if np.abs(t_inv @ np.linalg.inv(a) @ t - block).max() > 1e-9 or np.abs(t[-1] - [1, 1, 0]).max() > _TOL:
            problems.append("T does not transform A⁻¹ to [[γ,0,0],[0,α,−β],[0,β,α]]")
        ext, b_hat, c_ext = self.embedded_weights()
        defects = order_defects(ext, b_hat, c_ext, self.embedded_order + 1)
        if max(defects[:-1]) > _TOL or defects[-1] < 1e-6:
            problems.append(f"the error estimate is not of order {self.embedded_order}: {defects}")
        if np.abs(np.array([self.dense_b(ci) for ci in c]) - a).max() > _TOL:
            problems.append("dense output does not pass through the stages")
        for theta in (0.3, 0.7):
            if max(order_defects(a, self.dense_b(theta), c, self.dense_order, theta)) > _TOL:
                problems.append(f"dense output is not of order {self.dense_order} at θ={theta}")
        if problems:
            raise ValueError(f"coefficients {self.name}: " + "; ".join(problems))


RADAU_IIA5 = RadauCoefficients(name="RadauIIA5", order=5, embedded_order=3, dense_order=3, c=_C, a=_A,
                               error_z=_ERROR_Z)
