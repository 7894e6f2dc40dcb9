"""Coefficients of the variable-order BDF/NDF family in Shampine & Reichelt's quasi-constant-step form.

For order k the corrector is (L. F. Shampine, M. W. Reichelt, "The MATLAB ODE Suite", SIAM J. Sci.
Comput. 18 (1997) 1–22, eqs. (3)–(5)):

    α_k (y_{n+1} − y⁽⁰⁾_{n+1}) + Σ_{j=1..k} γ_j ∇^j y_n⁽⁰⁾ = h f(y_{n+1}),
    γ_j = Σ_{m=1..j} 1/m,   α_k = (1 − κ_k) γ_k,

with local error ≈ (κ_k γ_k + 1/(k+1)) (y_{n+1} − y⁽⁰⁾_{n+1}). κ = 0 gives the BDFs; the NDF values of κ
(Table 1 of the paper) enlarge the step for the same accuracy by about 26 % at orders 1–2 while keeping
the stability angles close to the BDFs'; at order 5 κ = 0 (the BDF), as in ode15s.
"""
import numpy as np

MAX_ORDER = 5

# κ_k for k = 1..5 (Shampine & Reichelt 1997, Table 1); index 0 is unused.
NDF_KAPPA = (0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0)
BDF_KAPPA = (0.0,) * (MAX_ORDER + 1)


def corrector_constants(kappa):
    """(γ, α, error constants) as float64 arrays indexed by order 0..MAX_ORDER+2, the length of the
    largest history (the entries beyond MAX_ORDER + 1 are only read where masked out)."""
    kappa = np.concatenate([np.asarray(kappa, dtype=np.float64), [0.0, 0.0]])
    gamma = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, MAX_ORDER + 3))])
    alpha = (1.0 - kappa) * gamma
    error = kappa * gamma + 1.0 / np.arange(1, MAX_ORDER + 4)
    return gamma, alpha, error


def dense_weights(max_order):
    """Rows b_j(θ) (coefficients of θ¹..θ^max_order) with u(t0 + θh) = u0 + Σ_j b_j(θ) ∇^j y_1.

    The interpolant over a step is the polynomial through y_1, y_1 − h, ..., at spacing h, in Newton's
    backward form: y(t_1 + xh) = y_1 + Σ_j ∇^j y_1 Π_{m<j} (x + m)/(m + 1), x = θ − 1. With
    y_1 = y_0 + ∇y_1 this is u0 + θ ∇y_1 + Σ_{j≥2} p_j(θ − 1) ∇^j y_1 (each p_j(θ − 1) vanishes at θ = 0).
    """
    weights = np.zeros((max_order, max_order))
    weights[0, 0] = 1.0
    shift = np.polynomial.Polynomial([-1.0, 1.0])          # x = θ − 1
    for j in range(2, max_order + 1):
        p = np.polynomial.Polynomial([1.0])
        for m in range(j):
            p = p * (shift + m) / (m + 1)
        coef = p.coef
        assert abs(coef[0]) < 1e-14                       # b_j(0) = 0
        weights[j - 1, :len(coef) - 1] = coef[1:]
    return weights
