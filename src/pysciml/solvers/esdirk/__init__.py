"""ESDIRK (explicit first stage, singly diagonally implicit Runge–Kutta) methods for stiff problems: each
one tableau run by `Esdirk`, with a simplified Newton iteration and a Jacobian reused across steps."""
from .coefficients import KENCARP4_TABLEAU, KVAERNO5_TABLEAU, TRBDF2_TABLEAU
from .stepper import Esdirk


class TRBDF2(Esdirk):
    """Hosea & Shampine's TR-BDF2: order 2 with an order-3 error estimate, L-stable, stiffly accurate;
    robust at loose tolerances."""
    tableau = TRBDF2_TABLEAU


class KenCarp4(Esdirk):
    """Kennedy & Carpenter's ARK4(3)6L[2]SA, implicit part: order 4(3), L-stable, stiffly accurate, with
    third-order dense output."""
    tableau = KENCARP4_TABLEAU
    # Its embedded method's stability function is bounded at infinity (R̂(−∞) = −0.15, from the tableau),
    # so the raw estimate is bounded on stiff components; the (I − γhJ)⁻¹ filter (needed by TRBDF2, whose
    # embedded R̂ grows like |hλ|) also damped the error of the slow dynamics: OREGO reported Success 0.1 to
    # 0.5 digits short of −log10(rtol) − 1.5 at rtol 1e-6 … 1e-10 (measured; unfiltered it meets the bound).
    filter_error = False


class Kvaerno5(Esdirk):
    """Kværnø's order 5(4) ESDIRK, 7 stages, L-stable, stiffly accurate; for tight tolerances."""
    tableau = KVAERNO5_TABLEAU
    # Its embedded method is stiffly accurate too (b̂ is row 6 of A), so the raw error estimate is already
    # bounded on stiff components. Filtering it by (I − γhJ)⁻¹ also damped the error of the slow dynamics:
    # Van der Pol μ = 1e6 at rtol 1e-4 then missed a relaxation jump (error 2.9 at t = 2).
    filter_error = False


__all__ = ["Esdirk", "KenCarp4", "Kvaerno5", "TRBDF2"]
