"""Optimizer stages for `solve`: Adam then L-BFGS (shared with `pysciml.ude.fit`; see `pysciml.optim`)."""
from ..optim import LBFGS, Adam

__all__ = ["Adam", "LBFGS"]
