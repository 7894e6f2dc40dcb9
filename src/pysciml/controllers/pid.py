"""Step-size controllers: the PI controller (the default) and Söderlind's PID digital filters.

A controller turns the scaled error norm of a step (≤ 1 meets the tolerances) into an accept/reject
decision and a factor for the next step size. Its state is the history of past errors, kept as logarithms
so a step costs one `log` and one `exp`. Both are frozen dataclasses: hashable static configuration for
`jax.jit`.
"""
import math
from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp


class ControllerState(NamedTuple):
    log_previous: jnp.ndarray        # log error norm of the last accepted step
    log_earlier: jnp.ndarray         # the one before (PID only)
    last_rejected: jnp.ndarray       # bool: do not grow the step right after a rejection


class Decision(NamedTuple):
    accept: jnp.ndarray
    factor: jnp.ndarray
    state: ControllerState


_LOG_FLOOR = math.log(1e-4)    # the error a first step is assumed to have had (OrdinaryDiffEq's qoldinit)


def _initial_state(dtype) -> ControllerState:
    floor = jnp.asarray(_LOG_FLOOR, dtype)
    return ControllerState(floor, floor, jnp.asarray(False))


def _log_error(error):
    """(finite, log err): a non-finite error counts as a rejection with the largest shrink."""
    finite = jnp.isfinite(error)
    return finite, jnp.log(jnp.where(finite, jnp.maximum(error, 1e-10), 1.0))


@dataclass(frozen=True)
class PIController:
    """PI step-size control (Gustafsson; Hairer & Wanner, Solving ODEs II, IV.2).

    factor = safety · err_n^(−β1) · err_{n−1}^(β2), clipped to [qmin, qmax], k = q + 1 for an error
    estimate of order q. The defaults are those of Hairer's DOPRI5 code (β2 = 0.04, β1 = 1/k − 0.75·β2):
    on the non-stiff benchmarks they take fewer steps than OrdinaryDiffEq's 0.7/k, 0.4/k at the same error.
    A rejected step shrinks by safety·err^(−1/k) (at least qmin), and the step after a rejection may not grow.
    """
    beta1: float | None = None
    beta2: float | None = None
    safety: float = 0.9
    qmin: float = 0.2
    qmax: float = 10.0

    def init(self, dtype) -> ControllerState:
        return _initial_state(dtype)

    def decide(self, error, state: ControllerState, order: int) -> Decision:
        k = order + 1
        beta2 = 0.04 if self.beta2 is None else self.beta2
        beta1 = 1.0 / k - 0.75 * beta2 if self.beta1 is None else self.beta1
        finite, log_err = _log_error(error)
        accept = finite & (error <= 1.0)
        log_safety, log_qmin = math.log(self.safety), math.log(self.qmin)
        grow = jnp.clip(log_safety - beta1 * log_err + beta2 * state.log_previous, log_qmin,
                        jnp.where(state.last_rejected, 0.0, math.log(self.qmax)))
        shrink = jnp.clip(log_safety - log_err / k, log_qmin, 0.0)
        factor = jnp.exp(jnp.where(accept, grow, jnp.where(finite, shrink, log_qmin)))
        new_state = ControllerState(jnp.where(accept, jnp.maximum(log_err, _LOG_FLOOR), state.log_previous),
                                    state.log_earlier, ~accept)
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
        return _initial_state(dtype)

    def decide(self, error, state: ControllerState, order: int) -> Decision:
        k = order + 1
        finite, log_err = _log_error(error)
        accept = finite & (error <= 1.0)
        raw = jnp.exp(-(self.beta1 * log_err + self.beta2 * state.log_previous
                        + self.beta3 * state.log_earlier) / k)
        grow = jnp.clip(1.0 + jnp.arctan(raw - 1.0), self.qmin, jnp.where(state.last_rejected, 1.0, self.qmax))
        shrink = jnp.clip(self.safety * jnp.exp(-log_err / k), self.qmin, 1.0)
        factor = jnp.where(accept, grow, jnp.where(finite, shrink, self.qmin))
        new_state = ControllerState(jnp.where(accept, jnp.maximum(log_err, _LOG_FLOOR), state.log_previous),
                                    jnp.where(accept, state.log_previous, state.log_earlier), ~accept)
        return Decision(accept, factor, new_state)
