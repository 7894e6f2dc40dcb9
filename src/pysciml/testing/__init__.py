"""Layer 9 (public): reference problems and numerical checks, so users can test their own models too."""
from .convergence import convergence_order
from .gradients import GradientReport, check_gradients
from .problems import (POLLU_REFERENCE, brusselator_2d, exact_decay_problem, hires, hires_jacobian,
                       hires_terms, lorenz, lotka_volterra,
                       nonlinear_exact_problem, pleiades, pollu, robertson, robertson_atol, van_der_pol)
from .sde import (OrnsteinUhlenbeck, SDEReference, WeakError, additive_linear, gbm, general_commuting_linear,
                  ornstein_uhlenbeck, strong_errors, weak_error)
from .testset import IVPTestProblem, digits_bound, e5, mixed_digits, orego, relative_digits, stiff_testset

__all__ = ["GradientReport", "OrnsteinUhlenbeck", "SDEReference", "WeakError", "additive_linear", "gbm",
           "general_commuting_linear", "ornstein_uhlenbeck", "strong_errors", "weak_error", "IVPTestProblem", "POLLU_REFERENCE", "brusselator_2d", "check_gradients",
           "convergence_order", "digits_bound", "e5", "exact_decay_problem", "hires", "hires_jacobian",
           "hires_terms", "lorenz", "lotka_volterra",
           "mixed_digits", "nonlinear_exact_problem", "orego", "pleiades", "pollu", "relative_digits", "robertson",
           "robertson_atol", "stiff_testset", "van_der_pol"]
