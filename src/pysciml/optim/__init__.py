"""Optimizer stages and the one staged training driver (`driver.minimize`) behind `pysciml.ude.fit` and
`pysciml.pinn.train`.

`Adam` and `LBFGS` describe a stage as plain data; `lbfgs_init` (or `lbfgs_pending`)/`lbfgs_step` are one compiled
L-BFGS iteration with a backtracking Armijo line search on a flat parameter vector; `LevenbergMarquardt` with
`lm_pending`/`lm_step` (one iteration) and `least_squares` (a whole compiled run) does least squares.
Imports only jax, optax and `_core`.
"""
from .driver import EarlyStopping, FitInfo, FitResult, Objective, minimize
from .lbfgs import LBFGSState, lbfgs_init, lbfgs_pending, lbfgs_step
from .levenberg_marquardt import LMState, least_squares, lm_pending, lm_step, residuals_and_jacobian
from .stages import LBFGS, Adam, LevenbergMarquardt

__all__ = ["Adam", "EarlyStopping", "FitInfo", "FitResult", "LBFGS", "LBFGSState", "LMState", "LevenbergMarquardt",
           "Objective", "lbfgs_init", "lbfgs_pending", "lbfgs_step", "least_squares", "lm_pending", "lm_step",
           "minimize", "residuals_and_jacobian"]
