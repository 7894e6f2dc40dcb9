"""Layer 1: immutable problem definitions."""
from .dde import DDEProblem
from .ode import ODEProblem
from .split import SplitFunction, SplitODEProblem

__all__ = ["DDEProblem", "ODEProblem", "SplitFunction", "SplitODEProblem"]
