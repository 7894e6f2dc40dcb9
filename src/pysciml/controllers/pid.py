"""Söderlind's PID digital filters: smoother step sequences."""
from dataclasses import dataclass

import jax.numpy as jnp

from . import base
from .base import Controller, ControllerState, Decision, log_error


@dataclass(frozen=True)
class PIDController(Controller):
    """Söderlind's PID digital filter (G. Söderlind, ACM TOMS 29 (2003) 1–26) for smoother step sequences.

    With ε_i = 1/err_i: factor = limiter(ε_n^(β1/k) · ε_{n−1}^(β2/k) · ε_{n−2}^(β3/k)), limiter(x) =
    1 + atan(x − 1), clipped to [qmin, qmax]. The defaults (``beta1``, ``beta2``, ``beta3``) are Söderlind's
    H312PID filter (β = 1/18, 1/9, 1/18); (0.7, −0.4, 0) recovers the PI controller. A step is accepted when
    err ≤ 1 (the tolerance, as for every controller); a rejected step shrinks by safety·err^(−1/k), at least qmin.
    """
    beta1: float = 1 / 18
    beta2: float = 1 / 9
    beta3: float = 1 / 18
    safety: float = 0.9
    qmin: float = 0.2
    qmax: float = 10.0

    def decide(self, error, state: ControllerState, order: int) -> Decision:
        """Accept when ``error`` ≤ 1 (``order`` is the error estimate's order q; ``state`` holds the two
        previous errors). Returns a `Decision` (accept, step-size factor, new controller state).
        """
        k = order + 1
        finite, log_err = log_error(error)
        accept = finite & (error <= 1.0)
        raw = jnp.exp(-(self.beta1 * log_err + self.beta2 * state.log_previous
                        + self.beta3 * state.log_earlier) / k)
        grow = jnp.clip(1.0 + jnp.arctan(raw - 1.0), self.qmin, jnp.where(state.last_rejected, 1.0, self.qmax))
        shrink = jnp.clip(self.safety * jnp.exp(-log_err / k), self.qmin, 1.0)
        factor = jnp.where(accept, grow, jnp.where(finite, shrink, self.qmin))
        new_state = ControllerState(jnp.where(accept, jnp.maximum(log_err, base.LOG_FLOOR), state.log_previous),
                                    jnp.where(accept, state.log_previous, state.log_earlier), ~accept)
        return Decision(accept, factor, new_state)
