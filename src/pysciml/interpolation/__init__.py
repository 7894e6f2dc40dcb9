"""Layer 1: dense output of Runge–Kutta steps."""
from .dense import evaluate_step, fill_step_times, fill_window, full_stages, locate_step, stage_weights

__all__ = ["evaluate_step", "fill_step_times", "fill_window", "full_stages", "locate_step", "stage_weights"]
