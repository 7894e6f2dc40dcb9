"""Layer 2: events and callbacks (what to watch, what to do) and locating events inside a step."""
from .callbacks import (Callback, CallbackSet, ContinuousCallback, DiscreteCallback, Effect, PeriodicCallback,
                        PresetTimeCallback, SavingCallback, TerminateSteadyState, VectorContinuousCallback,
                        terminate)
from .plan import EventPlan, check_outputs, plan, preset_times
from .rootfind import Crossing, first_crossing

__all__ = ["Callback", "CallbackSet", "ContinuousCallback", "Crossing", "DiscreteCallback", "Effect", "EventPlan",
           "PeriodicCallback", "PresetTimeCallback", "SavingCallback", "TerminateSteadyState",
           "VectorContinuousCallback", "check_outputs", "first_crossing", "plan", "preset_times", "terminate"]
