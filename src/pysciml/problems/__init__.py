"""Layer 1: immutable problem definitions."""
from .dde import DDEProblem
from .ode import ODEProblem
from .sde import Ito, SDEProblem, Stratonovich
from .split import SplitFunction, SplitODEProblem
from .terms import FlatRHS, RightHandSide, Terms, as_terms

__all__ = ["DDEProblem", "FlatRHS", "Ito", "ODEProblem", "RightHandSide", "SDEProblem", "Stratonovich", "SplitFunction", "SplitODEProblem", "Terms",
           "as_terms"]
