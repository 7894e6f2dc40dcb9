"""The drift-implicit stage shared by the stiff SDE methods (ImplicitEM, ImplicitEulerHeun, SKenCarp).

A stage solves Z = base + γh f(Z, t_s), the noise being explicit in ``base``. It is the ESDIRK stage of
the stiff ODE layer (`solvers.esdirk.stepper`) and uses the same pieces: the method's linear solver
(``linsolve=``, `WithLinearSolver`) forms J = ∂f/∂u and W = I/(γh) − J, and `linalg.simplified_newton`
iterates Z ← Z + W⁻¹(f(Z) − (Z − base)/(γh)) until η‖ΔZ‖ ≤ κ in the step's error norm. J and the
factorization are computed once per step (an SDE step's noise moves u by O(√h), so the reuse across
steps that pays for ODEs would be stale more often than not).

A stage whose iteration with the step-start J fails (a large step on a nonlinear drift: J at u can be far
from J at the stage value, e.g. −λ(3u² + 1) at u = 2 against −λ near 0 for f = −λ(u³ + u), and the frozen
iteration then contracts too slowly or diverges) is solved again by Newton's method with J and W refreshed
at every iterate, started from the step's u (the predictor extrapolates the failed stage's slope; u is where
J was last right). Fixed-step solves have no smaller step to retry with, so this is what makes them
converge; under vmap the retry loop runs no iteration unless some trajectory needs it (its iteration limit
is 0 where the first solve converged). A stage that still does not converge makes the step's error +inf (an
adaptive solve retries it smaller and reports ConvergenceFailure if dt underflows), flags ``newton_failed``,
and makes the step's u NaN (`NewtonImplicit.failed_step`): a fixed-step solve, which reads no error
estimate, stops with ReturnCode.ConvergenceFailure instead of carrying an unconverged iterate.
"""
from typing import ClassVar

import jax.numpy as jnp

from ...linalg import NewtonResult, simplified_newton
from ..base import NewtonImplicit
from ..implicit import WithLinearSolver
from .base import StochasticRungeKutta


class DriftImplicitSDE(WithLinearSolver, StochasticRungeKutta, NewtonImplicit):
    """Base of the drift-implicit SDE methods: members of both the SDE family and `NewtonImplicit` (so the
    sensitivity methods that replay steps exactly, DiscreteAdjoint, refuse them, and ForwardDiffSensitivity
    differentiates through the Newton iteration)."""

    kappa: ClassVar[float] = 0.02      # Newton tolerance relative to the error tolerance (as ESDIRK)
    max_newton: ClassVar[int] = 10
    max_refreshed: ClassVar[int] = 20  # iterations of the retry with J refreshed at every iterate

    def factorize(self, f, u, p, t, gamma_h):
        """(J at (u, t), the factors of W = I/(γh) − J)."""
        jac = self.linsolve.jacobian(f, u, p, t)
        return jac, self.linsolve.factor(jac, gamma_h, None)

    def solve_stage(self, f, p, t_stage, base, z0, gamma_h, jac, factors, u, error_norm):
        """Z = base + γh f(Z, t_stage) from the predictor ``z0``: the `linalg.NewtonResult` (``iterations``:
        of both attempts; ``converged``: either's)."""
        linsolve = self.linsolve
        size = lambda dz, z: error_norm(dz, u, z)
        residual = lambda z: f(z, p, t_stage) - (z - base) / gamma_h

        def frozen(z):
            return linsolve.solve_accurately(factors, jac, gamma_h, None, residual(z))

        first = simplified_newton(frozen, size, z0, 1.0, self.kappa, self.max_newton, stop_when_slow=False)

        def refreshed(z):
            jac_z = linsolve.jacobian(f, z, p, t_stage)
            return linsolve.solve_accurately(linsolve.factor(jac_z, gamma_h, None), jac_z, gamma_h, None, residual(z))

        # Full Newton converges quadratically near the root but may grow the first corrections from a far
        # predictor: no divergence stop (a non-finite iterate still stops it).
        retry = simplified_newton(refreshed, size, u, 1.0, self.kappa,
                                  jnp.where(first.converged, 0, self.max_refreshed), divergence=jnp.inf,
                                  stop_when_slow=False)
        keep = lambda a, b: jnp.where(first.converged, a, b)
        return NewtonResult(keep(first.z, retry.z), first.iterations + retry.iterations, keep(first.eta, retry.eta),
                            None, keep(first.theta_max, retry.theta_max), first.converged | retry.converged)
