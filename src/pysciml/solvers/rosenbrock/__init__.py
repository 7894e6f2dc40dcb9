"""Rosenbrock (linearly implicit) methods for stiff problems: each one tableau run by `Rosenbrock`."""
from .coefficients import RODAS4, RODAS5P, ROSENBROCK23
from .stepper import Rosenbrock


class Rosenbrock23(Rosenbrock):
    """Shampine & Reichelt's ode23s: L-stable, order 2 with an order-3 error estimate and free dense
    output; robust at loose tolerances and for problems with rough Jacobians."""
    tableau = ROSENBROCK23


class Rodas4(Rosenbrock):
    """Hairer & Wanner's RODAS: order 4(3), stiffly accurate, L-stable, with third-order dense output."""
    tableau = RODAS4


class Rodas5P(Rosenbrock):
    """Steinebach's Rodas5P: order 5(4), stiffly accurate, with fourth-order dense output; the method of
    choice for stiff problems at moderate to tight tolerances."""
    tableau = RODAS5P


__all__ = ["Rodas4", "Rodas5P", "Rosenbrock", "Rosenbrock23"]
