"""The PI step-size controller, the default."""
import math
from dataclasses import dataclass

import jax.numpy as jnp

from . import base
from .base import Controller, ControllerState, Decision, log_error


@dataclass(frozen=True)
class PIController(Controller):
    """PI step-size control (Gustafsson; Hairer & Wanner, Solving ODEs II, IV.2).

    factor = safety · err_n^(−β1) · err_{n−1}^(β2), clipped to [qmin, qmax], k = q + 1 for an error
    estimate of order q. The defaults are those of Hairer's DOPRI5 code (``beta2`` = β2 = 0.04, ``beta1`` =
    β1 = 1/k − 0.75·β2; None selects them): on the non-stiff benchmarks they take fewer steps than
    OrdinaryDiffEq's 0.7/k, 0.4/k at the same error. A rejected step shrinks by safety·err^(−1/k) (at least
    qmin), and the step after a rejection may not grow.
    """
    beta1: float | None = None
    beta2: float | None = None
    safety: float = 0.9
    qmin: float = 0.2
    qmax: float = 10.0

    def init(self, dtype) -> ControllerState:
        """Returns the `ControllerState` a solve starts from, with its scalars in ``dtype`` (the time dtype),
        as every controller's but without the earlier error PI does not read (None: the integration loop
        carries one scalar less, which keeps its packed scalars within one fused vector, see
        `integrate.loop._ScalarPacker`)."""
        return super().init(dtype)._replace(log_earlier=None)

    def decide(self, error, state: ControllerState, order: int) -> Decision:
        """Accept when ``error`` ≤ 1 (``order`` is the error estimate's order q; ``state`` holds the previous
        error). Returns a `Decision` (accept, step-size factor, new controller state).
        """
        k = order + 1
        beta2 = 0.04 if self.beta2 is None else self.beta2
        beta1 = 1.0 / k - 0.75 * beta2 if self.beta1 is None else self.beta1
        finite, log_err = log_error(error)
        accept = finite & (error <= 1.0)
        log_safety, log_qmin = math.log(self.safety), math.log(self.qmin)
        grow = jnp.clip(log_safety - beta1 * log_err + beta2 * state.log_previous, log_qmin,
                        jnp.where(state.last_rejected, 0.0, math.log(self.qmax)))
        shrink = jnp.clip(log_safety - log_err / k, log_qmin, 0.0)
        factor = jnp.exp(jnp.where(accept, grow, jnp.where(finite, shrink, log_qmin)))
        new_state = ControllerState(jnp.where(accept, jnp.maximum(log_err, base.LOG_FLOOR), state.log_previous),
                                    state.log_earlier, ~accept)
        return Decision(accept, factor, new_state)
