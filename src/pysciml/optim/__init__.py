"""Optimizer stages shared by the training loops (`pysciml.ude.fit`, `pysciml.pinn.solve`).

`Adam` and `LBFGS` describe a stage as plain data; `lbfgs_init` (or `lbfgs_pending`)/`lbfgs_step` are one compiled
L-BFGS iteration with a backtracking Armijo line search on a flat parameter vector; `LevenbergMarquardt` with
`lm_pending`/`lm_step` (one iteration) and `least_squares` (a whole compiled run) does least squares.
Imports only jax and optax.
"""
from .lbfgs import LBFGSState, lbfgs_init, lbfgs_pending, lbfgs_step
from .levenberg_marquardt import LMState, least_squares, lm_pending, lm_step, residuals_and_jacobian
from .stages import LBFGS, Adam, LevenbergMarquardt

__all__ = ["Adam", "LBFGS", "LBFGSState", "LMState", "LevenbergMarquardt", "lbfgs_init", "lbfgs_pending",
           "lbfgs_step", "least_squares", "lm_pending", "lm_step", "residuals_and_jacobian"]
