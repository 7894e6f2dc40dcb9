"""The contract of a step-size controller, and what every controller shares.

A controller turns the scaled error norm of a step (≤ 1 meets the tolerances) into an accept/reject
decision and a factor for the next step size. Its state is the history of past errors, kept as logarithms
so a step costs one `log` and one `exp`. Controllers are frozen dataclasses: hashable static configuration
for `jax.jit`. A new controller is one subclass of `Controller` implementing `init` and `decide`; the loop
calls nothing else.
"""
import abc
import math
from typing import NamedTuple

import jax.numpy as jnp


class ControllerState(NamedTuple):
    """What a step-size controller carries between steps: ``log_previous``, the log error norm of the last
    accepted step; ``log_earlier``, the one before (PID only); ``last_rejected``, whether the last step was
    rejected (the step does not grow right after a rejection)."""
    log_previous: jnp.ndarray        # log error norm of the last accepted step
    log_earlier: jnp.ndarray         # the one before (PID only)
    last_rejected: jnp.ndarray       # bool: do not grow the step right after a rejection


class Decision(NamedTuple):
    """A controller's verdict on a step: ``accept`` (bool), ``factor`` (the next step size over this one) and
    the controller's ``state`` after the step."""
    accept: jnp.ndarray
    factor: jnp.ndarray
    state: ControllerState


LOG_FLOOR = math.log(1e-4)    # the error a first step is assumed to have had (OrdinaryDiffEq's qoldinit)


class Controller(abc.ABC):
    """Base of the step-size controllers passed as ``solve(..., controller=...)``."""

    def init(self, dtype) -> ControllerState:
        """The state before the first step: earlier errors at the assumed floor, no rejection, in the float
        ``dtype`` of the solve. Returns the `ControllerState`."""
        floor = jnp.asarray(LOG_FLOOR, dtype)
        return ControllerState(floor, floor, jnp.asarray(False))

    @abc.abstractmethod
    def decide(self, error, state: ControllerState, order: int) -> Decision:
        """Accept or reject a step of scaled error norm ``error`` taken by a method whose error estimate
        has order ``order``, given the controller ``state`` (previous errors). Returns a `Decision`: accept (bool),
        the factor for the next step size, and the new state (traced, jit-safe).
        """


def log_error(error):
    """(finite, log err): a non-finite error counts as a rejection with the largest shrink."""
    finite = jnp.isfinite(error)
    return finite, jnp.log(jnp.where(finite, jnp.maximum(error, 1e-10), 1.0))
