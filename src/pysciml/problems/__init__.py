"""Layer 1: immutable problem definitions."""
from .dde import DDEProblem
from .ode import ODEProblem
from .split import SplitFunction, SplitODEProblem
from .terms import FlatRHS, RightHandSide, Terms, as_terms

__all__ = ["DDEProblem", "FlatRHS", "ODEProblem", "RightHandSide", "SplitFunction", "SplitODEProblem", "Terms",
           "as_terms"]
