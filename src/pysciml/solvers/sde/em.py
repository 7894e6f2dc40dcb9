"""Euler–Maruyama: u_{n+1} = u_n + f(u_n) dt + g(u_n) ΔW (Kloeden & Platen 1992, §9.1). Itô; strong order
0.5 (1.0 for additive noise), weak order 1; any noise type."""
from ...noise import DiagonalNoise, GeneralNoise, ScalarNoise
from ...problems.sde import Ito
from .base import StochasticRungeKutta


class EM(StochasticRungeKutta):
    """Euler–Maruyama (fixed step: pass dt)."""
    noise_types = (DiagonalNoise, ScalarNoise, GeneralNoise)
    interpretations = (Ito,)
    strong_order = 0.5
    weak_order = 1.0
    evals_per_step = 1

    def step(self, f, t, u, control, p, state, error_norm):
        """One Euler–Maruyama step, u + f dt + g ΔW. ``f``: the problem's `problems.sde.SDETerms` (drift f(u, p, t),
        diffusion ``f.g(u, p, t)``, noise term ``f.noise(g, ΔW)``); ``t``, ``u``: the time and state at the start of
        the step; ``control``: (dt, `noise.BrownianIncrement`) — the step size and the Brownian increment ΔW (and
        Lévy area H) over it; ``p``: the parameters; ``state``: the method's carried state, passed through;
        ``error_norm``: the loop's scaled error norm, unused (fixed step).
        Returns the `StepResult` (error 0: no error estimate)."""
        dt, inc = control
        u_new = u + dt * f(u, p, t) + f.noise(f.g(u, p, t), inc.W)
        return self.result(u, u_new, dt, state)
