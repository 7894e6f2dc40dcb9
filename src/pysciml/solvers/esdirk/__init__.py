"""ESDIRK (explicit first stage, singly diagonally implicit Runge–Kutta) methods for stiff problems: each
one tableau run by `Esdirk`, with a simplified Newton iteration and a Jacobian reused across steps. One
file per method: its published coefficients (validated by the order conditions on import) and its class."""
from .kencarp4 import KenCarp4
from .kvaerno5 import Kvaerno5
from .stepper import Esdirk
from .trbdf2 import TRBDF2

__all__ = ["Esdirk", "KenCarp4", "Kvaerno5", "TRBDF2"]
