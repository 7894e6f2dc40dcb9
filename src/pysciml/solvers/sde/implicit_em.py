"""Drift-implicit Euler–Maruyama (the stochastic θ-method) and its Stratonovich (Heun-noise) variant.

ImplicitEM (Itô; Kloeden & Platen 1992, §12.2, eq. 12.2.3; StochasticDiffEq.jl's ImplicitEM):

    u_{n+1} = u + [(1 − θ) f(u, t) + θ f(u_{n+1}, t + h)] h + g(u, t) ΔW,

ImplicitEulerHeun (Stratonovich): the noise term is the Euler–Heun one, (g(u) + g(u + g(u)ΔW)) ΔW/2.
θ = 1 (default) is L-stable in the drift: a stiff linear drift −λu is damped for every h, where EM needs
h < 2/λ. Strong order 0.5 for any noise (1 for additive noise), weak order 1; any noise type.

Adaptive steps: the drift's local error E_d = h² J f(u)/2 (StochasticDiffEq.jl's ImplicitEM, sdirk.jl) and
the size of the Milstein term the method omits, g′g(ΔW² − h)/2 at |ΔW| = √h, by a finite difference along
ũ = u + √h g(u)·1: E_n = (g(ũ) − g(u))·√h/2. Neither reads the increment (as LambaEM's estimate): a step
rejected because of its own ΔW refines the partition where the path moved most, and order-½ methods on such
non-adapted partitions converge to the wrong limit (see `lamba_em`); StochasticDiffEq.jl's E_n uses
(ΔW² − h). The step is controlled with δ|E_d| + |E_n| (δ = 1/6, as LambaEM). J f(u) is one Jacobian–vector
product.
"""
import jax
import jax.numpy as jnp

from ...noise import DiagonalNoise, GeneralNoise, ScalarNoise
from ...problems.sde import Ito, Stratonovich
from .drift_implicit import DriftImplicitSDE


class ImplicitEM(DriftImplicitSDE):
    """Drift-implicit Euler–Maruyama, Itô. ``theta`` in (0, 1]: the drift's implicitness (1: backward
    Euler drift, L-stable; 1/2: trapezoidal). ``linsolve``: the linear solver of W = I/(θh) − J (default
    dense LU; 'sparse', 'krylov' or an instance, as for the stiff ODE methods). ``delta``: weight of the
    drift's error estimate. Adaptive (rtol, atol) by default; fixed step with ``adaptive=False, dt=...``."""
    noise_types = (DiagonalNoise, ScalarNoise, GeneralNoise)
    interpretations = (Ito,)
    strong_order = 0.5
    weak_order = 1.0
    adaptive = True
    evals_per_step = 5      # f(u), g(u), two Newton iterations, g(ũ) (J f is one jvp)
    heun_noise = False

    def __init__(self, theta: float = 1.0, linsolve=None, delta: float = 1 / 6):
        super().__init__(linsolve)
        if isinstance(theta, bool) or not isinstance(theta, (int, float)) or not 0 < theta <= 1:
            raise ValueError(f"{type(self).__name__}: theta must be a number in (0, 1] (1: implicit Euler drift, "
                             f"1/2: trapezoidal); got {theta!r}")
        if isinstance(delta, bool) or not isinstance(delta, (int, float)) or delta < 0:
            raise ValueError(f"{type(self).__name__}: delta must be a non-negative number; got {delta!r}")
        self.theta, self.delta = float(theta), float(delta)

    def _config(self):
        out = super()._config()
        if self.theta != 1.0:
            out += (("theta", self.theta),)
        if self.delta != 1 / 6:
            out += (("delta", self.delta),)
        return out

    def step(self, f, t, u, control, p, state, error_norm):
        """One θ-method step (Newton on the drift) with its error estimate. ``f``: the problem's
        `problems.sde.SDETerms` (drift f(u, p, t), diffusion ``f.g(u, p, t)``, noise term ``f.noise(g, ΔW)``);
        ``t``, ``u``: the time and state at the start of the step; ``control``: (dt, `noise.BrownianIncrement`) —
        the step size and the Brownian increment ΔW (and Lévy area H) over it; ``p``: the parameters; ``state``: the
        method's carried state, passed through; ``error_norm(err, u, u_new)``: the loop's scaled error norm, applied
        to the error estimate.
        Returns the `StepResult` with the scaled error (and whether Newton failed)."""
        dt, inc = control
        dW = inc.W
        f0, g0 = f(u, p, t), f.g(u, p, t)
        noise = f.noise(g0, dW)
        if self.heun_noise:
            g_bar = f.g(u + noise, p, t + dt)
            noise = f.noise((g0 + g_bar) / 2, dW)
        gamma_h = self.theta * dt
        safe_gh = jnp.where(gamma_h == 0, 1.0, gamma_h)
        base = u + (1 - self.theta) * dt * f0 + noise
        jac, factors = self.factorize(f, u, p, t, safe_gh)
        newton = self.solve_stage(f, p, t + dt, base, base + gamma_h * f0, safe_gh, jac, factors, u, error_norm)
        u_new = jnp.where(dt == 0, u, newton.z)

        # Error estimate from u and h only (module docstring).
        root = jnp.sqrt(jnp.abs(dt)) * jnp.ones_like(dW)
        drift_error = dt * dt * jax.jvp(lambda v: f(v, p, t), (u,), (f0,))[1] / 2
        noise_error = f.noise(f.g(u + f.noise(g0, root), p, t) - g0, root) / 2
        err = error_norm(self.delta * jnp.abs(drift_error) + jnp.abs(noise_error), u, u_new)
        err = jnp.where(newton.converged, err, jnp.inf)
        result = self.result(u, self.failed_step(u_new, newton.converged), dt, state, err)
        return result._replace(newton_failed=~newton.converged)


class ImplicitEulerHeun(ImplicitEM):
    """Drift-implicit Euler–Heun: ImplicitEM's θ-method drift with the Euler–Heun noise term, for
    Stratonovich SDEs (strong order 0.5 for general noise, 1 with additive noise). ``theta``, ``linsolve``,
    ``delta``: as for `ImplicitEM`."""
    interpretations = (Stratonovich,)
    evals_per_step = 6
    heun_noise = True
