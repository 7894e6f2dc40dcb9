"""Published ESDIRK methods as `EsdirkTableau` data (see tableau.py for the form and the checks).

Only numbers are taken from the sources cited at each method; every tableau is validated on import by
the Runge–Kutta order conditions of the method, its embedded method and its dense output.
"""
import math

from ..tableau import hermite_dense_weights
from .tableau import EsdirkTableau


def _rows(matrix):
    """Strictly lower-triangular rows (row i has i entries) of a lower-triangular nested list."""
    return tuple(tuple(float(x) for x in row[:i]) for i, row in enumerate(matrix))


def _hermite(b):
    """Cubic Hermite dense output from u0, u1, k_1 = f(u0) and k_s = f(u1) (stiffly accurate)."""
    weights, _, _ = hermite_dense_weights(b, fsal=True)
    return weights


# --- TRBDF2 -------------------------------------------------------------------------------------------
# Hosea & Shampine, "Analysis and implementation of TR-BDF2", Appl. Numer. Math. 20 (1996) 21–37:
# a trapezoidal stage to t + γh followed by a BDF2 stage to t + h, written as a 3-stage ESDIRK with
# γ = 2 − √2, diagonal d = γ/2 and w = √2/4; order 2, L-stable, stiffly accurate, with the order-3
# companion b̂ = ((1 − w)/3, (3w + 1)/3, d/3) for the error estimate. Dense output: cubic Hermite from
# the step's end values and derivatives (second order, the method's own order).
_g = 2.0 - math.sqrt(2.0)
_d = _g / 2.0
_w = math.sqrt(2.0) / 4.0
_trbdf2_b = (_w, _w, _d)
_trbdf2_b_hat = ((1.0 - _w) / 3.0, (3.0 * _w + 1.0) / 3.0, _d / 3.0)
TRBDF2_TABLEAU = EsdirkTableau(
    name="TRBDF2", order=2, embedded_order=3, gamma=_d,
    a=_rows([[0.0], [_d], [_w, _w]]),
    c=(0.0, _g, 1.0),
    b=_trbdf2_b,
    b_error=tuple(x - y for x, y in zip(_trbdf2_b, _trbdf2_b_hat)),
    dense_order=2, dense_weights=_hermite(_trbdf2_b))


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
    dense_order=3, dense_weights=_hermite(_kv_b))


# --- KenCarp4 -----------------------------------------------------------------------------------------
# C. A. Kennedy & M. H. Carpenter, "Additive Runge–Kutta schemes for convection–diffusion–reaction
# equations", Appl. Numer. Math. 44 (2003) 139–181, ARK4(3)6L[2]SA: its implicit ESDIRK part (6 stages,
# γ = 1/4, L-stable, stiffly accurate), order 4 with an embedded order-3 method, and the paper's
# third-order continuous extension b_j(θ) = Σ_{m=1..3} b*_jm θ^m; with its explicit (ERK) part, which
# shares b, b̂, c and the continuous extension, it is an order-4(3) IMEX pair.
_kc_gamma = 0.25
_kc_b = (82889 / 524892, 0.0, 15625 / 83664, 69875 / 102672, -2260 / 8211, _kc_gamma)
_kc_b_hat = (4586570599 / 29645900160, 0.0, 178811875 / 945068544, 814220225 / 1159782912,
             -3700637 / 11593932, 61727 / 225920)
_kc = [
    [],
    [_kc_gamma],
    [8611 / 62500, -1743 / 31250],
    [5012029 / 34652500, -654441 / 2922500, 174375 / 388108],
    [15267082809 / 155376265600, -71443401 / 120774400, 730878875 / 902184768, 2285395 / 8070912],
    list(_kc_b[:5]),
]
# Rows of b*_j3, b*_j2, b*_j1 (highest power first, as usually printed); reversed below to θ¹..θ³.
_kc_dense_high_first = (
    (6818779379841 / 7100303317025, -54480133 / 30881146, 6943876665148 / 7220017795957),
    (0.0, 0.0, 0.0),
    (2173542590792 / 12501825683035, -11436875 / 14766696, 7640104374378 / 9702883013639),
    (-31592104683404 / 5083833661969, 174696575 / 18121608, -20649996744609 / 7521556579894),
    (61146701046299 / 7138195549469, -12120380 / 966161, 8854892464581 / 2390941311638),
    (-17219254887155 / 4939391667607, 3843 / 706, -11397109935349 / 6675773540249),
)
_kc_dense = tuple(tuple(float(x) for x in reversed(row)) for row in _kc_dense_high_first)
_kc_explicit = [
    [],
    [1 / 2],
    [13861 / 62500, 6889 / 62500],
    [-116923316275 / 2393684061468, -2731218467317 / 15368042101831, 9408046702089 / 11113171139209],
    [-451086348788 / 2902428689909, -2682348792572 / 7519795681897, 12662868775082 / 11960479115383,
     3355817975965 / 11060851509271],
    [647845179188 / 3216320057751, 73281519250 / 8382639484533, 552539513391 / 3454668386233,
     3354512671639 / 8306763924573, 4040 / 17871],
]
KENCARP4_TABLEAU = EsdirkTableau(
    name="KenCarp4", order=4, embedded_order=3, gamma=_kc_gamma,
    a=tuple(tuple(float(x) for x in row) for row in _kc),
    c=(0.0, 0.5, 83 / 250, 31 / 50, 17 / 20, 1.0),
    b=_kc_b,
    b_error=tuple(x - y for x, y in zip(_kc_b, _kc_b_hat)),
    dense_order=3, dense_weights=_kc_dense,
    explicit_a=tuple(tuple(float(x) for x in row) for row in _kc_explicit))
