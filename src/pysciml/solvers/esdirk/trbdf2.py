"""TR-BDF2 (Hosea & Shampine): a 3-stage ESDIRK of order 2(3), L-stable, stiffly accurate."""
import math

from .stepper import Esdirk
from .tableau import EsdirkTableau, hermite_weights, lower_rows

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
    a=lower_rows([[0.0], [_d], [_w, _w]]),
    c=(0.0, _g, 1.0),
    b=_trbdf2_b,
    b_error=tuple(x - y for x, y in zip(_trbdf2_b, _trbdf2_b_hat)),
    dense_order=2, dense_weights=hermite_weights(_trbdf2_b))


class TRBDF2(Esdirk):
    """Hosea & Shampine's TR-BDF2: order 2 with an order-3 error estimate, L-stable, stiffly accurate;
    robust at loose tolerances.

    ``linsolve``: how the implicit stages solve W = M/(γh) − J: None or 'lu' (dense LU, the default),
    'sparse' (sparse W, block-Jacobi GMRES), 'krylov' (matrix-free GMRES), or a `LinearSolver` instance.
    """
    tableau = TRBDF2_TABLEAU
