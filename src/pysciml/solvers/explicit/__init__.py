"""Explicit Runge–Kutta methods, each one tableau file."""
from .bs3 import BS3
from .dp5 import DP5
from .dp8 import DP8
from .erk import ExplicitRK
from .fixed import RK4, Euler, Heun, Midpoint
from .tsit5 import Tsit5
from .vern7 import Vern7
from .vern9 import Vern9

__all__ = ["BS3", "DP5", "DP8", "RK4", "Euler", "ExplicitRK", "Heun", "Midpoint", "Tsit5", "Vern7", "Vern9"]
