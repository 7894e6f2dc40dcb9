"""Milstein's method for commutative (diagonal, scalar) noise, Itô or Stratonovich (Kloeden & Platen 1992,
§10.3, eq. 10.3.3): u_{n+1} = u + f dt + g ΔW + ½ (g′g)(ΔW² − dt) (Itô; Stratonovich drops the −dt).
g′g (the derivative of g along g) is one forward-mode product, jvp(g, u; g(u)): for diagonal noise,
g_i depends on u_i only, so it is g_i ∂g_i/∂u_i. Strong order 1."""
import jax

from ...noise import DiagonalNoise, ScalarNoise
from ...problems.sde import Interpretation, Ito, Stratonovich, as_interpretation
from .base import StochasticRungeKutta


class RKMil(StochasticRungeKutta):
    """Milstein (fixed step: pass dt). ``interpretation``: None (the problem's), "ito" or "stratonovich"
    (then it must be the problem's)."""
    noise_types = (DiagonalNoise, ScalarNoise)
    interpretations = (Ito, Stratonovich)
    strong_order = 1.0
    weak_order = 1.0
    evals_per_step = 1

    def __init__(self, interpretation=None):
        self.interpretation = None if interpretation is None else as_interpretation(interpretation)

    def _config(self):
        return () if self.interpretation is None else (("interpretation", self.interpretation),)

    def interpretation_for(self, interpretation: Interpretation):
        """Returns the problem's ``interpretation`` when the method solves it (it was built for that one, or
        for none), else None."""
        if self.interpretation is not None and self.interpretation != interpretation:
            return None
        return interpretation

    def step(self, f, t, u, control, p, state, error_norm):
        """One Milstein step (the diffusion's derivative by forward-mode AD). ``f``: the problem's
        `problems.sde.SDETerms` (drift f(u, p, t), diffusion ``f.g(u, p, t)``, noise term ``f.noise(g, ΔW)``);
        ``t``, ``u``: the time and state at the start of the step; ``control``: (dt, `noise.BrownianIncrement`) —
        the step size and the Brownian increment ΔW (and Lévy area H) over it; ``p``: the parameters; ``state``: the
        method's carried state, passed through; ``error_norm``: the loop's scaled error norm, unused (fixed step).
        Returns the `StepResult` (error 0: no error estimate)."""
        dt, inc = control
        g = lambda v: f.g(v, p, t)
        g0, dgg = jax.jvp(g, (u,), (g(u),))
        dW = inc.W
        # (the interpretation is the problem's: `interpretation_for` refused any other before compiling)
        square = dW * dW - dt if isinstance(f.interpretation, Ito) else dW * dW
        u_new = u + dt * f(u, p, t) + f.noise(g0, dW) + f.noise(dgg, square) / 2
        return self.result(u, u_new, dt, state)
