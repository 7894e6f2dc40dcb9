"""Layer 9 (public): reference problems and numerical checks, so users can test their own models too."""
from .convergence import convergence_order
from .problems import (POLLU_REFERENCE, brusselator_2d, exact_decay_problem, lorenz, lotka_volterra,
                       nonlinear_exact_problem, pleiades, pollu, robertson, robertson_atol, van_der_pol)

__all__ = ["POLLU_REFERENCE", "brusselator_2d", "convergence_order", "exact_decay_problem", "lorenz",
           "lotka_volterra", "nonlinear_exact_problem", "pleiades", "pollu", "robertson", "robertson_atol",
           "van_der_pol"]
