"""Layer 1: Jacobians (dense, colored sparse, user-supplied), sparsity detection and the linear algebra of
implicit methods (dense LU, sparse W with preconditioned GMRES, matrix-free Newton–Krylov)."""
from .dae import algebraic_mask, consistent_derivative, consistent_initial_state, initialize_dae
from .jacobian import compressed_jacobian, jacobian, time_derivative
from .krylov import KrylovGMRES
from .linear_solver import DenseLU, LinearSolver, as_linear_solver
from .newton import NewtonResult, next_eta, rounding_floor, simplified_newton
from .sparse_w import SparseGMRES
from .sparsity import SparsityPattern, as_sparsity_pattern, greedy_column_coloring
from .sparsity_detection import jacobian_sparsity
from .w_matrix import factor_w, solve_w

__all__ = ["DenseLU", "KrylovGMRES", "LinearSolver", "NewtonResult", "SparseGMRES", "SparsityPattern", "algebraic_mask",
           "as_linear_solver", "as_sparsity_pattern", "compressed_jacobian", "consistent_derivative",
           "consistent_initial_state", "initialize_dae",
           "factor_w", "greedy_column_coloring", "jacobian", "jacobian_sparsity", "next_eta", "rounding_floor",
           "simplified_newton", "solve_w", "time_derivative"]
