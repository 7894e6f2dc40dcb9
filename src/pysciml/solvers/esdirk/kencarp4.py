"""Kennedy & Carpenter's ARK4(3)6L[2]SA: the order-4(3) ESDIRK (and its explicit part, an IMEX pair)."""
from .stepper import Esdirk
from .tableau import EsdirkTableau

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


class KenCarp4(Esdirk):
    """Kennedy & Carpenter's ARK4(3)6L[2]SA, implicit part: order 4(3), L-stable, stiffly accurate, with
    third-order dense output.

    ``linsolve``: how the implicit stages solve W = M/(γh) − J: None or 'lu' (dense LU, the default),
    'sparse' (sparse W, block-Jacobi GMRES), 'krylov' (matrix-free GMRES), or a `LinearSolver` instance.
    """
    tableau = KENCARP4_TABLEAU
    # Its embedded method's stability function is bounded at infinity (R̂(−∞) = −0.15, from the tableau),
    # so the raw estimate is bounded on stiff components; the (I − γhJ)⁻¹ filter (needed by TRBDF2, whose
    # embedded R̂ grows like |hλ|) also damped the error of the slow dynamics: OREGO reported Success 0.1 to
    # 0.5 digits short of −log10(rtol) − 1.5 at rtol 1e-6 … 1e-10 (measured; unfiltered it meets the bound).
    filter_error = False
