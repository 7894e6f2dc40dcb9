"""Layer 1: interpolation of Runge–Kutta steps. One base class, `Interpolant` (`base`); the continuous
extension of one step (`local`); a whole solution's dense output (`dense`); the solution so far, read by
delay equations (`history`)."""
from .base import Interpolant
from .dense import DenseOutput, evaluate_dense, interpolate_dense
from .history import CurrentStep, StepHistory, delayed_state, locate
from .local import evaluate_step, fill_step_times, fill_window, full_stages, locate_step, stage_weights

__all__ = ["CurrentStep", "DenseOutput", "Interpolant", "StepHistory", "delayed_state", "evaluate_dense",
           "evaluate_step", "fill_step_times", "fill_window", "full_stages", "interpolate_dense", "locate",
           "locate_step", "stage_weights"]
