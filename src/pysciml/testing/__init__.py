"""Layer 9 (public): reference problems and numerical checks, so users can test their own models too."""
from .convergence import convergence_order
from .gradients import GradientReport, check_gradients
from .problems import (POLLU_REFERENCE, brusselator_2d, exact_decay_problem, hires, lorenz, lotka_volterra,
                       nonlinear_exact_problem, pleiades, pollu, robertson, robertson_atol, van_der_pol)

__all__ = ["GradientReport", "POLLU_REFERENCE", "brusselator_2d", "check_gradients", "convergence_order",
           "exact_decay_problem", "hires", "lorenz", "lotka_volterra", "nonlinear_exact_problem", "pleiades", "pollu",
           "robertson", "robertson_atol", "van_der_pol"]
