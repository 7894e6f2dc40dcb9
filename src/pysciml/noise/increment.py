"""What a noise path hands a step: the Brownian increment over [t, t + dt] and its space-time Lévy area."""
from typing import NamedTuple

import jax.numpy as jnp


class BrownianIncrement(NamedTuple):
    """W: ΔW = W(t + dt) − W(t), shape (m,), N(0, dt) per component. H: the space-time Lévy area over the
    same interval, H = (1/dt) ∫_t^{t+dt} (W(s) − W(t) − (s − t)/dt ΔW) ds, shape (m,), N(0, dt/12) and
    independent of ΔW. The iterated integral I_(1,0) = ∫∫ dW ds = dt (ΔW/2 + H) (strong order 1.5 methods)."""
    W: jnp.ndarray
    H: jnp.ndarray
