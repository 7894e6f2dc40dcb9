"""Classic fixed-step methods: Euler, explicit midpoint, Heun and the classic fourth-order Runge–Kutta.

They have no error estimate, so they need ``dt``; dense output is cubic Hermite on the step (f(u1) is one
lazily evaluated extra stage), or the method's own order where that is lower.
"""
from .tableau import ButcherTableau
from .erk import ExplicitRK

EULER = ButcherTableau(name="Euler", order=1, c=(0.0,), a=((),), b=(1.0,), dense_order=1,
                       dense_weights=((1.0,),))
MIDPOINT = ButcherTableau(name="Midpoint", order=2, c=(0.0, 0.5), a=((), (0.5,)), b=(0.0, 1.0), dense_order=2)
HEUN = ButcherTableau(name="Heun", order=2, c=(0.0, 1.0), a=((), (1.0,)), b=(0.5, 0.5), dense_order=2)
RK4_TABLEAU = ButcherTableau(name="RK4", order=4, c=(0.0, 0.5, 0.5, 1.0),
                             a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
                             b=(1 / 6, 1 / 3, 1 / 3, 1 / 6))


class Euler(ExplicitRK):
    """Forward Euler, order 1 (linear dense output)."""
    tableau = EULER


class Midpoint(ExplicitRK):
    """Explicit midpoint rule, order 2."""
    tableau = MIDPOINT


class Heun(ExplicitRK):
    """Heun's method (explicit trapezoidal rule), order 2."""
    tableau = HEUN


class RK4(ExplicitRK):
    """The classic fourth-order Runge–Kutta method with cubic Hermite dense output (order 3)."""
    tableau = RK4_TABLEAU
