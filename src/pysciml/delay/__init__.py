"""Layers 1–2: delay differential equations. The delayed state from the solution's own dense steps
(`history`), the right-hand side that reads it (`rhs`), discontinuity breaking points
(`discontinuities`) and `MethodOfSteps`, which turns an ODE method into a DDE method."""
from .discontinuities import breaking_points, lag_multiplicities
from .history import CurrentStep, delayed_state, lag_values, locate
from .method_of_steps import MethodOfSteps
from .rhs import DelayRHS

__all__ = ["CurrentStep", "DelayRHS", "MethodOfSteps", "breaking_points", "delayed_state", "lag_multiplicities",
           "lag_values", "locate"]
