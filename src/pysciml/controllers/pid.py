"""Step-size controllers: the PI controller (the default) and Söderlind's PID digital filters.

A controller turns the scaled error norm of a step (≤ 1 meets the tolerances) into an accept/reject
decision and a factor for the next step size. Its state is the history of past errors. Both are frozen
dataclasses, so they are hashable static configuration for `jax.jit`.
"""
from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp


class ControllerState(NamedTuple):
    previous_error: jnp.ndarray      # error norm of the last accepted step
    earlier_error: jnp.ndarray       # the one before (PID only)
    last_rejected: jnp.ndarray       # bool: do not grow the step right after a rejection


class Decision(NamedTuple):
    accept: jnp.ndarray
    factor: jnp.ndarray
    state: ControllerState


_ERROR_FLOOR = 1e-4   # the error a first step is assumed to have had (OrdinaryDiffEq's qoldinit)


@dataclass(frozen=True)
class PIController:
    """PI step-size control (Gustafsson; Hairer & Wanner, Solving ODEs II, IV.2).

    factor = safety · err_n^(−β1) · err_{n−1}^(β2), clipped to [qmin, qmax]; β1 = 0.7/k and β2 = 0.4/k
    by default, k = q + 1 for an error estimate of order q. A rejected step shrinks by safety·err^(−1/k)
    (at least qmin), and the step after a rejection may not grow.
    """
    beta1: float | None = None
    beta2: float | None = None
    safety: float = 0.9
    qmin: float = 0.2
    qmax: float = 10.0

    def init(self, dtype) -> ControllerState:
        floor = jnp.asarray(_ERROR_FLOOR, dtype)
        return ControllerState(floor, floor, jnp.asarray(False))

    def decide(self, error, state: ControllerState, order: int) -> Decision:
        k = order + 1
        beta1 = 0.7 / k if self.beta1 is None else self.beta1
        beta2 = 0.4 / k if self.beta2 is None else self.beta2
        finite = jnp.isfinite(error)
        err = jnp.where(finite, jnp.maximum(error, 1e-10), 1.0)
        accept = finite & (error <= 1.0)
        grow = self.safety * err ** (-beta1) * state.previous_error ** beta2
        grow = jnp.clip(grow, self.qmin, jnp.where(state.last_rejected, 1.0, self.qmax))
        shrink = jnp.maximum(self.qmin, self.safety * err ** (-1.0 / k))
        factor = jnp.where(accept, grow, jnp.where(finite, jnp.minimum(shrink, 1.0), self.qmin))
        new_state = ControllerState(
            jnp.where(accept, jnp.maximum(err, _ERROR_FLOOR), state.previous_error),
            state.earlier_error, ~accept)
        return Decision(accept, factor, new_state)


@dataclass(frozen=True)
class PIDController:
    """Söderlind's PID digital filter (G. Söderlind, ACM TOMS 29 (2003) 1–26) for smoother step sequences.

    With ε_i = 1/err_i: factor = limiter(ε_n^(β1/k) · ε_{n−1}^(β2/k) · ε_{n−2}^(β3/k)), limiter(x) =
    1 + atan(x − 1). The defaults are Söderlind's H312PID filter (β = 1/18, 1/9, 1/18); (0.7, −0.4, 0)
    recovers the PI controller. A step is accepted when err ≤ 1 (the tolerance, as for every controller);
    a rejected step shrinks by safety·err^(−1/k), at least qmin.
    """
    beta1: float = 1 / 18
    beta2: float = 1 / 9
    beta3: float = 1 / 18
    safety: float = 0.9
    qmin: float = 0.2
    qmax: float = 10.0

    def init(self, dtype) -> ControllerState:
        floor = jnp.asarray(_ERROR_FLOOR, dtype)
        return ControllerState(floor, floor, jnp.asarray(False))

    def decide(self, error, state: ControllerState, order: int) -> Decision:
        k = order + 1
        finite = jnp.isfinite(error)
        err = jnp.where(finite, jnp.maximum(error, 1e-10), 1.0)
        accept = finite & (error <= 1.0)
        raw = (err ** (-self.beta1 / k) * state.previous_error ** (-self.beta2 / k)
               * state.earlier_error ** (-self.beta3 / k))
        grow = jnp.clip(1.0 + jnp.arctan(raw - 1.0), self.qmin, jnp.where(state.last_rejected, 1.0, self.qmax))
        shrink = jnp.minimum(jnp.maximum(self.qmin, self.safety * err ** (-1.0 / k)), 1.0)
        factor = jnp.where(accept, grow, jnp.where(finite, shrink, self.qmin))
        new_state = ControllerState(
            jnp.where(accept, jnp.maximum(err, _ERROR_FLOOR), state.previous_error),
            jnp.where(accept, state.previous_error, state.earlier_error), ~accept)
        return Decision(accept, factor, new_state)
