"""Layers 1–2: delay differential equations. The right-hand side that reads the delayed state from the
solution's own dense steps (`rhs`, with `pysciml.interpolation.history`), discontinuity breaking points
(`discontinuities`) and `MethodOfSteps`, which turns an ODE method into a DDE method."""
from .discontinuities import breaking_points, lag_multiplicities
from ..interpolation.history import CurrentStep, delayed_state, locate
from .method_of_steps import MethodOfSteps
from .rhs import DelayRHS, lag_values

__all__ = ["CurrentStep", "DelayRHS", "MethodOfSteps", "breaking_points", "delayed_state", "lag_multiplicities",
           "lag_values", "locate"]
