"""Euler–Heun: the stochastic trapezoidal predictor–corrector for Stratonovich SDEs (Kloeden & Platen
1992, §11.1; StochasticDiffEq.jl's EulerHeun). Predictor ū = u + f(u) dt + g(u) ΔW, then
u_{n+1} = u + (f(u) + f(ū)) dt/2 + (g(u) + g(ū)) ΔW/2. Strong order 1 for commutative noise (diagonal,
scalar), 0.5 otherwise; any noise type."""
from ...noise import DiagonalNoise, GeneralNoise, ScalarNoise
from ...problems.sde import Stratonovich
from .base import StochasticRungeKutta


class EulerHeun(StochasticRungeKutta):
    """Euler–Heun, Stratonovich (fixed step: pass dt)."""
    noise_types = (DiagonalNoise, ScalarNoise, GeneralNoise)
    interpretations = (Stratonovich,)
    strong_order = 1.0
    weak_order = 1.0
    evals_per_step = 2

    def step(self, f, t, u, control, p, state, error_norm):
        """One Euler–Heun (Stratonovich predictor–corrector) step. ``f``: the problem's `problems.sde.SDETerms`
        (drift f(u, p, t), diffusion ``f.g(u, p, t)``, noise term ``f.noise(g, ΔW)``); ``t``, ``u``: the time and
        state at the start of the step; ``control``: (dt, `noise.BrownianIncrement`) — the step size and the
        Brownian increment ΔW (and Lévy area H) over it; ``p``: the parameters; ``state``: the method's carried
        state, passed through; ``error_norm``: the loop's scaled error norm, unused (fixed step).
        Returns the `StepResult` (error 0: no error estimate)."""
        dt, inc = control
        f0, g0 = f(u, p, t), f.g(u, p, t)
        bar = u + dt * f0 + f.noise(g0, inc.W)
        f1, g1 = f(bar, p, t + dt), f.g(bar, p, t + dt)
        u_new = u + (dt / 2) * (f0 + f1) + f.noise((g0 + g1) / 2, inc.W)
        return self.result(u, u_new, dt, state)
