"""LambaEM: Euler–Maruyama with an embedded error estimate and adaptive steps (Lamba, Mattingly & Stuart,
"An adaptive Euler–Maruyama scheme for SDEs: convergence and stability", IMA J. Numer. Anal. 27, 2007;
the estimate of StochasticDiffEq.jl's LambaEM). With u1 the EM step, the drift's error is dt (f(u1) − f(u))/2
and the diffusion's (g(u1) − g(u)) ΔW/2; the step is controlled with δ|E_drift| + |E_diffusion| (δ = 1/6).
Rejected steps are retried on the same Brownian path (the virtual Brownian tree). Itô; any noise type."""
import jax.numpy as jnp

from ...noise import DiagonalNoise, GeneralNoise, ScalarNoise
from ...problems.sde import Ito
from .base import StochasticRungeKutta


class LambaEM(StochasticRungeKutta):
    """Adaptive Euler–Maruyama (rtol, atol; dt optional). ``delta``: weight of the drift's error."""
    noise_types = (DiagonalNoise, ScalarNoise, GeneralNoise)
    interpretations = (Ito,)
    strong_order = 0.5
    weak_order = 1.0
    adaptive = True
    evals_per_step = 2

    def __init__(self, delta: float = 1 / 6):
        self.delta = float(delta)

    def _config(self):
        return () if self.delta == 1 / 6 else (("delta", self.delta),)

    def step(self, f, t, u, control, p, state, error_norm):
        dt, inc = control
        f0, g0 = f(u, p, t), f.g(u, p, t)
        u_new = u + dt * f0 + f.noise(g0, inc.W)
        f1, g1 = f(u_new, p, t + dt), f.g(u_new, p, t + dt)
        drift = dt * (f1 - f0) / 2
        diffusion = f.noise(g1 - g0, inc.W) / 2
        err = error_norm(self.delta * jnp.abs(drift) + jnp.abs(diffusion), u, u_new)
        return self.result(u, u_new, dt, state, err)
