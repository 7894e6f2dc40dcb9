"""Published Rosenbrock methods as `RosenbrockTableau` data (transformed form, see tableau.py).

Sign convention (checked against each source): the stage equations read

    (M/(γh) − J) U_i = f(t + α_i h, u + Σ a_ij U_j) + M Σ (C_ij/h) U_j + γ_i h ∂f/∂t,

i.e. a PLUS sign in front of the C-term. This is the convention of Hairer & Wanner's RODAS code and of
the Rodas tableaus of OrdinaryDiffEq.jl (there W is written J − M/(γh) and the stage is −W⁻¹(rhs), the
same thing). Every tableau below is also checked numerically (convergence order of the step, of the
error estimate and of the dense output) outside the test suite.

Stiffly accurate Rodas methods: the last stage is evaluated at the argument u + Σ_j a_sj U_j, and the new
solution is that argument plus U_s, so m = (a_s1, …, a_s,s−1, 1); the embedded solution is the argument
of the last stage, so m − m̂ = e_s (the error estimate is the last stage vector itself).
"""
import math

import numpy as np

from .tableau import RosenbrockTableau


def _rows(matrix):
    """Strictly lower-triangular rows (row i has i entries) of a square nested list."""
    return tuple(tuple(float(x) for x in row[:i]) for i, row in enumerate(matrix))


def _rodas_dense_weights(m, H):
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


def _stiffly_accurate_weights(a_last_row):
    """m = (a_s1, …, a_s,s−1, 1) and m − m̂ = e_s for a stiffly accurate Rodas method."""
    s = len(a_last_row) + 1
    m = tuple(float(x) for x in a_last_row) + (1.0,)
    m_error = (0.0,) * (s - 1) + (1.0,)
    return m, m_error


# ---------------------------------------------------------------------------------------------------------
# Rosenbrock23: the method of MATLAB's ode23s.
# L. F. Shampine & M. W. Reichelt, "The MATLAB ODE Suite", SIAM J. Sci. Comput. 18 (1997) 1–22, §3.
# With d = 1/(2 + √2), e32 = 6 + √2, W = I − h d J, T = ∂f/∂t:
#     k1 = W⁻¹(f(t0, y0) + h d T)
#     k2 = W⁻¹(f(t0 + h/2, y0 + h k1/2) − k1) + k1,          y1 = y0 + h k2
#     k3 = W⁻¹(f(t1, y1) − e32 (k2 − F1) − 2 (k1 − F0) + h d T)    (F0, F1 the two f values above)
#     error ≈ h (k1 − 2 k2 + k3)/6,   y(t0 + θh) ≈ y0 + h [θ(1−θ) k1 + θ(θ − 2d) k2]/(1 − 2d).
# Although stage 3 reuses F0 and F1, F_j − k_j is a multiple of J·k (from the stage equations), so the
# scheme is an ordinary 3-stage Rosenbrock method. Its original form (K_i = h k_i) has
#     α21 = 1/2, α32 = 1;  Γ = [[d, 0, 0], [−d, d, 0], [d(e32 − 2), −d e32, d]];  b = (0, 1, 0),
#     b̂ = (1, 4, 1)/6 (the published estimate is ŷ − y1, so b − b̂ = −(1, −2, 1)/6),
# and the time-derivative coefficients γ_i = row sums of Γ = (d, 0, −d). Transforming (U = Γ K, so
# Γ⁻¹ = [[1, 0, 0], [1, 1, 0], [2, e32, 1]]/d) gives the closed forms below:
#     U1 = d h k1, U2 = d h (k2 − k1), U3 = d h ((e32 − 2) k1 − e32 k2 + k3).
# The published error estimate is reproduced up to its sign (irrelevant to any norm):
# Σ m_error_i U_i = y1 − ŷ = −h (k1 − 2 k2 + k3)/6, where ŷ = y0 + Σ b̂_i K_i is of order 3 (with the exact
# Jacobian), so embedded_order = 3 > order = 2: the estimate is that of the lower-order solution. The third stage's f(t1, y1) is the next
# step's f(t0, y0) (FSAL in ode23s); this data type does not record that reuse, so a generic stepper pays
# one extra f evaluation per step. Dense output: Shampine & Reichelt's free interpolant, order 2.
# ---------------------------------------------------------------------------------------------------------
_D23 = 1.0 / (2.0 + math.sqrt(2.0))
_E32 = 6.0 + math.sqrt(2.0)

ROSENBROCK23 = RosenbrockTableau(
    name="Rosenbrock23", order=2, embedded_order=3,
    gamma=_D23,
    a=((), (1.0 / (2.0 * _D23),), (1.0 / _D23, 1.0 / _D23)),
    C=((), (-1.0 / _D23,), (-2.0 / _D23, -_E32 / _D23)),
    alpha=(0.0, 0.5, 1.0),
    gamma_i=(_D23, 0.0, -_D23),
    m=(1.0 / _D23, 1.0 / _D23, 0.0),
    m_error=(-1.0 / (6.0 * _D23), -(_E32 - 2.0) / (6.0 * _D23), -1.0 / (6.0 * _D23)),
    dense_order=2,
    # b(θ) = (θ/d, θ(θ − 2d)/(d(1 − 2d)), 0)
    dense_weights=((1.0 / _D23, 0.0),
                   (-2.0 / (1.0 - 2.0 * _D23), 1.0 / (_D23 * (1.0 - 2.0 * _D23))),
                   (0.0, 0.0)),
)


# ---------------------------------------------------------------------------------------------------------
# RODAS4: E. Hairer & G. Wanner, Solving Ordinary Differential Equations II (2nd ed., Springer 1996),
# IV.7 (method RODAS), and the RODAS code (rodas.f, coefficients of METH = 1, routine RODCOE), γ = 1/4,
# order 4 with an embedded order-3 solution, 6 stages, stiffly accurate. Dense output of order 3 from
# the two interpolation vectors with coefficients D21..D25, D31..D35 (rodas.f), the same numbers as the
# H matrix of OrdinaryDiffEq.jl's Rodas4Tableau.
# ---------------------------------------------------------------------------------------------------------
_RODAS4_A = [
    [0.0],
    [1.544],
    [0.9466785280815826, 0.2557011698983284],
    [3.314825187068521, 2.896124015972201, 0.9986419139977817],
    [1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950],
    [1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 1.0],
]
_RODAS4_C = [
    [0.0],
    [-5.6688],
    [-2.430093356833875, -0.2063599157091915],
    [-0.1073529058151375, -9.594562251023355, -20.47028614809616],
    [7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160],
    [8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136, -6.058818238834054],
]
_RODAS4_H = [
    [10.12623508344586, -7.487995877610167, -34.80091861555747, -7.992771707568823, 1.025137723295662, 0.0],
    [-0.6762803392801253, 6.087714651680015, 16.43084320892478, 24.76722511418386, -6.594389125716872, 0.0],
]
_RODAS4_M, _RODAS4_E = _stiffly_accurate_weights(_RODAS4_A[5])

RODAS4 = RosenbrockTableau(
    name="Rodas4", order=4, embedded_order=3,
    gamma=0.25,
    a=_rows(_RODAS4_A), C=_rows(_RODAS4_C),
    alpha=(0.0, 0.386, 0.21, 0.63, 1.0, 1.0),
    gamma_i=(0.25, -0.1043, 0.1035, -0.3620000000000023e-01, 0.0, 0.0),
    m=_RODAS4_M, m_error=_RODAS4_E,
    dense_order=3,
    dense_weights=_rodas_dense_weights(_RODAS4_M, _RODAS4_H),
)


# ---------------------------------------------------------------------------------------------------------
# RODAS5P: G. Steinebach, "Construction of Rosenbrock–Wanner method Rodas5P and numerical benchmarks
# within the Julia Differential Equations package", BIT Numer. Math. 63 (2023), article 27,
# doi:10.1007/s10543-023-00967-x. Order 5 with an embedded order-4 solution, 8 stages, stiffly accurate,
# γ = 0.21193756319429014. Dense output of order 4 from three interpolation vectors (the 3×8 H matrix,
# as tabulated with the method and in OrdinaryDiffEq.jl's Rodas5PTableau).
# ---------------------------------------------------------------------------------------------------------
_RODAS5P_GAMMA = 0.21193756319429014
_RODAS5P_A = [
    [0.0],
    [3.0],
    [2.849394379747939, 0.45842242204463923],
    [-6.954028509809101, 2.489845061869568, -10.358996098473584],
    [2.8029986275628964, 0.5072464736228206, -0.3988312541770524, -0.04721187230404641],
    [-7.502846399306121, 2.561846144803919, -11.627539656261098, -0.18268767659942256, 0.030198172008377946],
    [-7.502846399306121, 2.561846144803919, -11.627539656261098, -0.18268767659942256, 0.030198172008377946,
     1.0],
    [-7.502846399306121, 2.561846144803919, -11.627539656261098, -0.18268767659942256, 0.030198172008377946,
     1.0, 1.0],
]
_RODAS5P_C = [
    [0.0],
    [-14.155112264123755],
    [-17.97296035885952, -2.859693295451294],
    [147.12150275711716, -1.41221402718213, 71.68940251302358],
    [165.43517024871676, -0.4592823456491126, 42.90938336958603, -5.961986721573306],
    [24.854864614690072, -3.0009227002832186, 47.4931110020768, 5.5814197821558125, -0.6610691825249471],
    [30.91273214028599, -3.1208243349937974, 77.79954646070892, 34.28646028294783, -19.097331116725623,
     -28.087943162872662],
    [37.80277123390563, -3.2571969029072276, 112.26918849496327, 66.9347231244047, -40.06618937091002,
     -54.66780262877968, -9.48861652309627],
]
_RODAS5P_H = [
    [25.948786856663858, -2.5579724845846235, 10.433815404888879, -2.3679251022685204, 0.524948541321073,
     1.1241088310450404, 0.4272876194431874, -0.17202221070155493],
    [-9.91568850695171, -0.9689944594115154, 3.0438037242978453, -24.495224566215796, 20.176138334709044,
     15.98066361424651, -6.789040303419874, -6.710236069923372],
    [11.419903575922262, 2.8879645146136994, 72.92137995996029, 80.12511834622643, -52.072871366152654,
     -59.78993625266729, -0.15582684282751913, 4.883087185713722],
]
_RODAS5P_M, _RODAS5P_E = _stiffly_accurate_weights(_RODAS5P_A[7])

RODAS5P = RosenbrockTableau(
    name="Rodas5P", order=5, embedded_order=4,
    gamma=_RODAS5P_GAMMA,
    a=_rows(_RODAS5P_A), C=_rows(_RODAS5P_C),
    alpha=(0.0, 0.6358126895828704, 0.4095798393397535, 0.9769306725060716, 0.4288403609558664, 1.0, 1.0, 1.0),
    gamma_i=(0.21193756319429014, -0.42387512638858027, -0.3384627126235924, 1.8046452872882734,
             2.325825639765069, 0.0, 0.0, 0.0),
    m=_RODAS5P_M, m_error=_RODAS5P_E,
    dense_order=4,
    dense_weights=_rodas_dense_weights(_RODAS5P_M, _RODAS5P_H),
)
