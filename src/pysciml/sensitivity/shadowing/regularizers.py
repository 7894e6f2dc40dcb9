"""The regularizers of least-squares shadowing (`ForwardLSS`, `AdjointLSS`): time dilation or windowing."""
from dataclasses import dataclass

import jax.numpy as jnp


@dataclass(frozen=True)
class TimeDilation:
    """LSS regularizer: the shadowing trajectory may run at a slightly different speed; ``alpha`` weighs the
    time dilation η against the tangent v in the least-squares cost ∫ |v|² + α²η² dt (Wang 2014, eq. 9)."""
    alpha: float = 10.0

    def __post_init__(self):
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not self.alpha > 0:
            raise ValueError(f"TimeDilation: alpha must be a positive number; got {self.alpha!r}")


@dataclass(frozen=True)
class CosWindowing:
    """LSS regularizer: no time dilation; the average is weighted by the window w(τ) = 1 − cos 2πτ, which
    vanishes at both ends where the undilated shadowing tangent is largest."""

    @staticmethod
    def window(tau):
        return 1.0 - jnp.cos(2 * jnp.pi * tau)


@dataclass(frozen=True)
class Cos2Windowing:
    """LSS regularizer: no time dilation; window w(τ) = (1 − cos 2πτ)², smoother at the ends."""

    @staticmethod
    def window(tau):
        return (1.0 - jnp.cos(2 * jnp.pi * tau)) ** 2
