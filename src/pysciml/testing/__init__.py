"""Layer 9 (public): reference problems and numerical checks, so users can test their own models too."""
from .convergence import convergence_order
from .gradients import GradientReport, check_gradients
from .problems import (exact_decay_problem, lorenz, lotka_volterra, nonlinear_exact_problem, pleiades, robertson,
                       robertson_atol, van_der_pol)

__all__ = ["GradientReport", "check_gradients", "convergence_order", "exact_decay_problem", "lorenz", "lotka_volterra", "nonlinear_exact_problem",
           "pleiades", "robertson", "robertson_atol", "van_der_pol"]
