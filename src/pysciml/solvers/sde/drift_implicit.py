"""The drift-implicit stage shared by the stiff SDE methods (ImplicitEM, ImplicitEulerHeun, SKenCarp).

A stage solves Z = base + γh f(Z, t_s), the noise being explicit in ``base``. It is the ESDIRK stage of
the stiff ODE layer (`solvers.esdirk.stepper`) and uses the same pieces: the method's linear solver
(``linsolve=``, `WithLinearSolver`) forms J = ∂f/∂u and W = I/(γh) − J, and `linalg.simplified_newton`
iterates Z ← Z + W⁻¹(f(Z) − (Z − base)/(γh)) until η‖ΔZ‖ ≤ κ in the step's error norm. J and the
factorization are computed once per step (an SDE step's noise moves u by O(√h), so the reuse across
steps that pays for ODEs would be stale more often than not). A stage that does not converge makes the
step's error +inf (an adaptive solve retries it smaller and reports ConvergenceFailure if dt underflows)
and flags ``newton_failed``; a fixed-step solve keeps the last iterate.
"""
from typing import ClassVar

from ...linalg import simplified_newton
from ..base import NewtonImplicit
from ..implicit import WithLinearSolver
from .base import StochasticRungeKutta


class DriftImplicitSDE(WithLinearSolver, StochasticRungeKutta, NewtonImplicit):
    """Base of the drift-implicit SDE methods: members of both the SDE family and `NewtonImplicit` (so the
    sensitivity methods that replay steps exactly, DiscreteAdjoint, refuse them, and ForwardDiffSensitivity
    differentiates through the Newton iteration)."""

    kappa: ClassVar[float] = 0.02      # Newton tolerance relative to the error tolerance (as ESDIRK)
    max_newton: ClassVar[int] = 10

    def factorize(self, f, u, p, t, gamma_h):
        """(J at (u, t), the factors of W = I/(γh) − J)."""
        jac = self.linsolve.jacobian(f, u, p, t)
        return jac, self.linsolve.factor(jac, gamma_h, None)

    def solve_stage(self, f, p, t_stage, base, z0, gamma_h, jac, factors, u, error_norm):
        """Z = base + γh f(Z, t_stage) from the predictor ``z0``: the `linalg.NewtonResult`."""
        linsolve = self.linsolve

        def correction(z):
            residual = f(z, p, t_stage) - (z - base) / gamma_h
            return linsolve.solve_accurately(factors, jac, gamma_h, None, residual)

        return simplified_newton(correction, lambda dz, z: error_norm(dz, u, z), z0, 1.0, self.kappa,
                                 self.max_newton, stop_when_slow=False)
