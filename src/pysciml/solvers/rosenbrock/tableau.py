"""Rosenbrock (linearly implicit) methods as validated data, in the transformed form of Hairer & Wanner.

One step of an s-stage method with W = M/(γh) − J (J = ∂f/∂u at the step's start, M the mass matrix or I):

    W U_i = f(t + α_i h, u + Σ_{j<i} a_ij U_j) + M Σ_{j<i} (C_ij / h) U_j + γ_i h ∂f/∂t
    u1 = u + Σ_i m_i U_i,      error estimate  Σ_i m_error_i U_i   (m_error = m − m̂)

Dense output: u(t + θh) = u + Σ_i b_i(θ) U_i with b_i(θ) = Σ_{k=1..d} dense_weights[i][k-1] θ^k.

Construction converts to the original coefficients (α = a Γ, Γ = (diag(1/γ) − C)⁻¹, b = m Γ) and checks
the Rosenbrock order conditions: those of Runge–Kutta methods on rooted trees, where a vertex with a
single child carries β = α + Γ (the Jacobian enters linearly) and other vertices α (Hairer & Wanner,
Solving ODEs II, IV.7).
"""
from dataclasses import dataclass

import numpy as np

from ..rk_conditions import lower_triangular, rosenbrock_order_defects

_TOL = 1e-10


@dataclass(frozen=True, eq=False)
class RosenbrockTableau:
    name: str
    order: int
    embedded_order: int
    gamma: float                 # diagonal γ (the same for every stage)
    a: tuple                     # rows i = 0..s-1, a[i] has i entries (transformed a_ij)
    C: tuple                     # rows i = 0..s-1, C[i] has i entries (transformed C_ij)
    alpha: tuple                 # α_i: stage times t + α_i h
    gamma_i: tuple               # γ_i: coefficients of h ∂f/∂t
    m: tuple                     # solution weights
    m_error: tuple               # m − m̂
    dense_order: int
    dense_weights: tuple         # s rows of θ¹..θᵈ coefficients

    def __post_init__(self):
        self._validate()

    @property
    def stages(self) -> int:
        return len(self.m)

    # The dense output needs no extra stages (interface shared with ButcherTableau).
    c_extra = ()
    a_extra = ()

    def lower(self, rows):
        return lower_triangular(rows, self.stages)

    def original_form(self):
        """(α, Γ, b, b̂) of the untransformed method."""
        s, g = self.stages, self.gamma
        gamma_matrix = np.linalg.inv(np.eye(s) / g - self.lower(self.C))
        alpha = self.lower(self.a) @ gamma_matrix
        b = np.asarray(self.m) @ gamma_matrix
        b_hat = (np.asarray(self.m) - np.asarray(self.m_error)) @ gamma_matrix
        return alpha, gamma_matrix, b, b_hat

    def _validate(self):
        s = self.stages
        problems = []
        for label, rows in (("a", self.a), ("C", self.C)):
            if len(rows) != s or any(len(r) != i for i, r in enumerate(rows)):
                problems.append(f"{label} must have {s} strictly lower-triangular rows")
        if len(self.alpha) != s or len(self.gamma_i) != s or len(self.m_error) != s or len(self.dense_weights) != s:
            problems.append(f"alpha, gamma_i, m_error and dense_weights need {s} entries")
        if problems:
            raise ValueError(f"tableau {self.name}: " + "; ".join(problems))
        alpha, gamma_matrix, b, b_hat = self.original_form()
        if np.abs(alpha.sum(axis=1) - np.asarray(self.alpha)).max() > _TOL:
            problems.append("row sums of α differ from alpha")
        gamma_sums = gamma_matrix.sum(axis=1)
        if np.abs(gamma_sums - np.asarray(self.gamma_i)).max() > 1e-8:
            problems.append(f"row sums of Γ {np.round(gamma_sums, 10)} differ from gamma_i")
        defects = rosenbrock_order_defects(alpha, gamma_matrix, b, self.order)
        if max(defects) > _TOL:
            problems.append(f"order-{self.order} conditions fail: {['%.1e' % d for d in defects]}")
        defects = rosenbrock_order_defects(alpha, gamma_matrix, b_hat, self.embedded_order)
        if max(defects) > _TOL:
            problems.append(f"embedded order-{self.embedded_order} conditions fail: {['%.1e' % d for d in defects]}")
        w = np.asarray(self.dense_weights, float)
        if np.abs(w.sum(axis=1) - np.asarray(self.m)).max() > _TOL:
            problems.append("dense output at θ=1 does not reproduce the step's solution")
        if problems:
            raise ValueError(f"tableau {self.name}: " + "; ".join(problems))


# --- helpers for writing published methods as data (one file per method: rosenbrock23.py, rodas4.py, ...) ---
# Sign convention (checked against each source): the stage equations read
#
#     (M/(γh) − J) U_i = f(t + α_i h, u + Σ a_ij U_j) + M Σ (C_ij/h) U_j + γ_i h ∂f/∂t,
#
# i.e. a PLUS sign in front of the C-term. This is the convention of Hairer & Wanner's RODAS code and of
# the Rodas tableaus of OrdinaryDiffEq.jl (there W is written J − M/(γh) and the stage is −W⁻¹(rhs), the
# same thing). Every method file is also checked numerically (convergence order of the step, of the
# error estimate and of the dense output) outside the test suite.
#
# Stiffly accurate Rodas methods: the last stage is evaluated at the argument u + Σ_j a_sj U_j, and the new
# solution is that argument plus U_s, so m = (a_s1, …, a_s,s−1, 1); the embedded solution is the argument
# of the last stage, so m − m̂ = e_s (the error estimate is the last stage vector itself).
# 

def lower_rows(matrix):
    """Strictly lower-triangular rows (row i has i entries) of a square nested list."""
    return tuple(tuple(float(x) for x in row[:i]) for i, row in enumerate(matrix))


def rodas_dense_weights(m, H):
    """Expand the Rodas interpolant into polynomial weights b_j(θ) = Σ_k W[j][k−1] θ^k.

    The interpolant (Hairer & Wanner's RODAS and its descendants) is

        u(t + θh) = (1 − θ) u0 + θ (u1 + (1 − θ)(K_1 + θ K_2 + … + θ^(r−1) K_r)),   K_q = Σ_j H[q][j] U_j,

    and with u1 − u0 = Σ_j m_j U_j this is u0 + Σ_j b_j(θ) U_j with
    b_j(θ) = θ m_j + θ (1 − θ) Σ_q H[q][j] θ^(q−1), a polynomial of degree r + 1 without constant term.
    Polynomials are numpy coefficient arrays, lowest power first.
    """
    m, H = np.asarray(m, float), np.asarray(H, float)
    r, s = H.shape
    P = np.polynomial.polynomial
    theta_one_minus_theta = np.array([0.0, 1.0, -1.0])          # θ(1 − θ)
    weights = []
    for j in range(s):
        poly = np.zeros(r + 2)
        poly[1] = m[j]
        extra = P.polymul(theta_one_minus_theta, H[:, j])         # θ(1−θ) Σ_q H[q][j] θ^(q−1)
        poly[: len(extra)] += extra
        weights.append(tuple(float(x) for x in poly[1:]))
    return tuple(weights)


def stiffly_accurate_weights(a_last_row):
    """m = (a_s1, …, a_s,s−1, 1) and m − m̂ = e_s for a stiffly accurate Rodas method."""
    s = len(a_last_row) + 1
    m = tuple(float(x) for x in a_last_row) + (1.0,)
    m_error = (0.0,) * (s - 1) + (1.0,)
    return m, m_error
