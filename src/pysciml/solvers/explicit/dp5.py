"""Dormand–Prince 5(4) pair (J. R. Dormand & P. J. Prince, J. Comput. Appl. Math. 6 (1980) 19–26).

Dense output: Shampine's free fourth-order continuous extension as written in Hairer, Nørsett & Wanner,
Solving ODEs I (2nd ed.), II.6, eq. (6.12) and the DOPRI5 code, expanded here into polynomial weights.
"""
import numpy as np

from .tableau import ButcherTableau
from .erk import ExplicitRK

_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_B_HAT = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)
# Coefficients d_i of the fourth-order continuous extension (HNW I, DOPRI5's dense output).
_D = (-12715105075 / 11282082432, 0.0, 87487479700 / 32700410799, -10690763975 / 1880347072,
      701980252875 / 199316789632, -1453857185 / 822651844, 69997945 / 29380423)


def _dense_weights():
    """Expand u0 + θ(r1 + (1−θ)(r2 + θ(r3 + (1−θ) r4))) into Σ_m W[:, m] θ^(m+1).

    With Δ = u1 − u0 = h Σ b_j k_j: r1 = Δ, r2 = h k1 − Δ, r3 = Δ − h k7 − r2, r4 = h Σ d_j k_j; every r is a
    vector of stage weights, and polynomials in θ are numpy coefficient arrays (lowest power first).
    """
    s = len(_B)
    delta = np.array(_B)
    e1, e7 = np.eye(s)[0], np.eye(s)[6]
    r1, r2 = delta, e1 - delta
    r3, r4 = delta - e7 - r2, np.array(_D)
    P = np.polynomial.polynomial
    theta, one_minus = np.array([0.0, 1.0]), np.array([1.0, -1.0])
    weights = []
    for j in range(s):
        inner = P.polyadd([r3[j]], P.polymul(one_minus, [r4[j]]))
        inner = P.polyadd([r2[j]], P.polymul(theta, inner))
        inner = P.polyadd([r1[j]], P.polymul(one_minus, inner))
        poly = np.zeros(6)
        full = P.polymul(theta, inner)
        poly[: len(full)] = full
        weights.append(tuple(float(x) for x in poly[1:]))
    return tuple(weights)


DP5_TABLEAU = ButcherTableau(
    name="DP5", order=5, embedded_order=4, fsal=True, dense_order=4,
    c=(0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0),
    a=((), (1 / 5,), (3 / 40, 9 / 40), (44 / 45, -56 / 15, 32 / 9),
       (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
       (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
       _B[:6]),
    b=_B,
    b_error=tuple(b - bh for b, bh in zip(_B, _B_HAT)),
    dense_weights=_dense_weights(),
)


class DP5(ExplicitRK):
    """Dormand–Prince 5(4), the method of MATLAB's ode45 and scipy's RK45, with 4th-order dense output."""
    tableau = DP5_TABLEAU
