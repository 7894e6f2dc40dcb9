"""Layer 2: step-size controllers and the initial step estimate."""
from .initial_step import initial_step
from .pid import PIController, PIDController
from .step_floor import step_floor

__all__ = ["PIController", "PIDController", "initial_step", "step_floor"]
