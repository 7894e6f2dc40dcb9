"""Layer 2: step-size controllers (subclasses of `Controller`) and the initial step estimate."""
from .base import Controller, ControllerState, Decision
from .initial_step import initial_step
from .pi import PIController
from .pid import PIDController
from .step_end import fixed_step_count, step_end
from .step_floor import step_floor

__all__ = ["Controller", "ControllerState", "Decision", "fixed_step_count", "PIController", "PIDController", "initial_step", "step_end", "step_floor"]
