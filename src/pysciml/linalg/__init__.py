"""Layer 1: Jacobians and the linear algebra of implicit methods."""
from .dae import algebraic_mask, consistent_derivative, consistent_initial_state
from .jacobian import jacobian, time_derivative
from .w_matrix import factor_w, solve_w

__all__ = ["algebraic_mask", "consistent_derivative", "consistent_initial_state", "factor_w", "jacobian", "solve_w", "time_derivative"]
