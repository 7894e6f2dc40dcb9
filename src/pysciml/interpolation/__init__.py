"""Layer 1: dense output of Runge–Kutta steps."""
from .dense import evaluate_step, full_stages, locate_step

__all__ = ["evaluate_step", "full_stages", "locate_step"]
