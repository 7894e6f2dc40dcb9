"""Kværnø's order-5(4) ESDIRK: 7 stages, L-stable, stiffly accurate."""
from .stepper import Esdirk
from .tableau import EsdirkTableau, hermite_weights

# --- Kvaerno5 -----------------------------------------------------------------------------------------
# A. Kværnø, "Singly diagonally implicit Runge–Kutta methods with an explicit first stage",
# BIT Numer. Math. 44 (2004) 489–502: the 7-stage order-5 method with an embedded order-4 method,
# γ = 0.26, L-stable and stiffly accurate; the embedded solution is the sixth stage value (b̂ = row 6
# of A). Dense output: cubic Hermite (third order).
_kv = [
    [],
    [0.26],
    [0.13, 0.84033320996790809],
    [0.22371961478320505, 0.47675532319799699, -0.06470895363112615],
    [0.16648564323248321, 0.10450018841591720, 0.03631482272098715, -0.13090704451073998],
    [0.13855640231268224, 0.0, -0.04245337201752043, 0.02446657898003141, 0.61943039072480676],
    [0.13659751177640291, 0.0, -0.05496908796538376, -0.04118626728321046, 0.62993304899016403,
     0.06962479448202728],
]
_kv_gamma = 0.26
_kv_b = tuple(_kv[6]) + (_kv_gamma,)
_kv_b_hat = tuple(_kv[5]) + (_kv_gamma, 0.0)
KVAERNO5_TABLEAU = EsdirkTableau(
    name="Kvaerno5", order=5, embedded_order=4, gamma=_kv_gamma,
    a=tuple(tuple(row) for row in _kv),
    c=(0.0, 0.52, 1.230333209967908, 0.8957659843500759, 0.43639360985864756, 1.0, 1.0),
    b=_kv_b,
    b_error=tuple(x - y for x, y in zip(_kv_b, _kv_b_hat)),
    dense_order=3, dense_weights=hermite_weights(_kv_b))


class Kvaerno5(Esdirk):
    """Kværnø's order 5(4) ESDIRK, 7 stages, L-stable, stiffly accurate; for tight tolerances.

    ``linsolve``: how the implicit stages solve W = M/(γh) − J: None or 'lu' (dense LU, the default),
    'sparse' (sparse W, block-Jacobi GMRES), 'krylov' (matrix-free GMRES), or a `LinearSolver` instance.
    """
    tableau = KVAERNO5_TABLEAU
    # Its embedded method is stiffly accurate too (b̂ is row 6 of A), so the raw error estimate is already
    # bounded on stiff components. Filtering it by (I − γhJ)⁻¹ also damped the error of the slow dynamics:
    # Van der Pol μ = 1e6 at rtol 1e-4 then missed a relaxation jump (error 2.9 at t = 2).
    filter_error = False

