"""Layer 1: immutable problem definitions."""
from .ode import ODEProblem
from .split import SplitFunction, SplitODEProblem

__all__ = ["ODEProblem", "SplitFunction", "SplitODEProblem"]
