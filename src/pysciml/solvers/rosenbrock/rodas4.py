"""Hairer & Wanner's RODAS (Rodas4): order 4(3), 6 stages, stiffly accurate. Coefficients as
`RosenbrockTableau` data (transformed form, sign convention: see tableau.py), checked on import."""
from .stepper import Rosenbrock
from .tableau import RosenbrockTableau, lower_rows, rodas_dense_weights, stiffly_accurate_weights

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
_RODAS4_M, _RODAS4_E = stiffly_accurate_weights(_RODAS4_A[5])

RODAS4 = RosenbrockTableau(
    name="Rodas4", order=4, embedded_order=3,
    gamma=0.25,
    a=lower_rows(_RODAS4_A), C=lower_rows(_RODAS4_C),
    alpha=(0.0, 0.386, 0.21, 0.63, 1.0, 1.0),
    gamma_i=(0.25, -0.1043, 0.1035, -0.3620000000000023e-01, 0.0, 0.0),
    m=_RODAS4_M, m_error=_RODAS4_E,
    dense_order=3,
    dense_weights=rodas_dense_weights(_RODAS4_M, _RODAS4_H),
)


class Rodas4(Rosenbrock):
    """Hairer & Wanner's RODAS: order 4(3), stiffly accurate, L-stable, with third-order dense output.

    ``linsolve``: how the implicit stages solve W = M/(γh) − J: None or 'lu' (dense LU, the default),
    'sparse' (sparse W, block-Jacobi GMRES), 'krylov' (matrix-free GMRES), or a `LinearSolver` instance.
    """
    tableau = RODAS4
