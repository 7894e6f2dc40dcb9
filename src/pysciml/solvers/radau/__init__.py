"""Radau IIA collocation methods for stiff problems and index-1 DAEs, with Hairer's transformed simplified
Newton iteration and a Jacobian reused across steps."""
from .stepper import RadauIIA5

__all__ = ["RadauIIA5"]
