"""Optimizer stages shared by the training loops (`pysciml.ude.fit`, `pysciml.pinn.solve`).

`Adam` and `LBFGS` describe a stage as plain data; `lbfgs_init` (or `lbfgs_pending`)/`lbfgs_step` are one compiled L-BFGS
iteration with a backtracking Armijo line search on a flat parameter vector. Imports only jax and optax.
"""
from .lbfgs import LBFGSState, lbfgs_init, lbfgs_pending, lbfgs_step
from .stages import LBFGS, Adam

__all__ = ["Adam", "LBFGS", "LBFGSState", "lbfgs_init", "lbfgs_pending", "lbfgs_step"]
