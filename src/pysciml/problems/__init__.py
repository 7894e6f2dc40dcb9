"""Layer 1: immutable problem definitions."""
from .ode import ODEProblem

__all__ = ["ODEProblem"]
