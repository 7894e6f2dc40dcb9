"""The generic Rosenbrock stepper: any `RosenbrockTableau` becomes a stiff solver.

Per step: one Jacobian (user ``jac`` or forward-mode AD), one ∂f/∂t product, one LU factorization of
W = M/(γh) − J (M the mass matrix, I by default; a singular M gives an index-1 DAE, which the stiffly
accurate Rodas methods solve to full order), and one f evaluation plus one triangular solve per stage. Rosenbrock methods need the
exact Jacobian of the step's start for their order, so it is not reused across steps (the Newton-based
families reuse theirs). Stage sums are unrolled at trace time, skipping zero coefficients.

Stages are solved with `LinearSolver.solve_accurately` (with `DenseLU(refine=True)`: one refinement step
with a double-double residual, which `solve` switches on by itself when min(atol) < 0.1·eps·max|u0|;
otherwise the plain solve). The plain solve's rounding, eps·|W||U| in the
right-hand side's units, is not damped along the slow directions of J (a null vector c of J: cᵀU = γh·cᵀr)
and grows there by γh per stage: on E5 of the stiff test set it broke the invariant y2 − y3 − y4 = 0 by ~1e-20 per step at h ~ 1e4, which the end
state (y2 ≈ y3 ≈ 1/(MCt) ~ 1e-22) cannot absorb. Implicit (Newton) methods do not need this: their stages lie
near the slow manifold and their last Newton corrections are small (ESDIRK's Newton solves use
`solve_accurately` too: KenCarp4's loose Newton tolerance leaves E5 short without it). What refinement
cannot remove: the rounding of J itself (E5's forward-mode J33 = fl(J23 − J43) leaves cᵀJ ≈ ±4e-13), which
enters as γh·(cᵀJ)U per stage and keeps Rodas4 short of E5's digit bound at rtol 1e-4 and 1e-6 (with a
Jacobian whose rows keep the invariant exactly it meets it; Rodas5P meets it with the AD Jacobian). Rodas4
therefore sets ``needs_exact_jacobian``: `solve` warns before a solve at such tolerances without a ``jac``.
"""
from typing import ClassVar

import jax.numpy as jnp

from ..._core.trees import linear_combination
from ...linalg import time_derivative
from ..base import LinearlyImplicit, StepResult, TableauMethod
from ..implicit import WithLinearSolver
from .tableau import RosenbrockTableau
from ...problems.terms import as_terms


class Rosenbrock(WithLinearSolver, TableauMethod, LinearlyImplicit):
    """A Rosenbrock method defined by ``tableau``; subclasses only set the tableau. ``linsolve``: the
    linear solver for W (see `WithLinearSolver`)."""

    tableau: ClassVar[RosenbrockTableau]
    supports_mass_matrix: ClassVar[bool] = True
    # True where tolerances below the state's rounding level are out of reach with a Jacobian that has
    # rounding errors (forward-mode AD of f): see `solve.checks.warn_jacobian_rounding`.
    needs_exact_jacobian: ClassVar[bool] = False
    adaptive = True

    @property
    def evals_per_step(self) -> int:
        return self.tableau.stages

    def init(self, f, t0, u0, p):
        """Rosenbrock methods carry no state between steps (the Jacobian is formed at every step's start):
        ``f``, ``t0``, ``u0``, ``p`` unused. Returns None."""
        return None

    def step(self, f, t, u, dt, p, state, error_norm) -> StepResult:
        """One Rosenbrock step from (``t``, ``u``) of size ``dt`` with parameters ``p``: J (and ∂f/∂t when a γ_i
        is non-zero) at the step's start, one factorization of (M/(γh) − J) and one linear solve per stage.
        ``f``: the right-hand side as terms (``f.mass``: the mass matrix); ``state`` unused; ``error_norm(err, u,
        u_new)`` scales the embedded error. Returns the `StepResult` (stages stored as U_j/h for dense output)."""
        f = as_terms(f)
        mass = f.mass
        tab = self.tableau
        linsolve = self.linsolve
        jac = linsolve.jacobian(f, u, p, t)
        f_t = time_derivative(f, u, p, t) if any(g != 0.0 for g in tab.gamma_i) else None
        factors = linsolve.factor(jac, tab.gamma * dt, mass)
        increments = []
        for i in range(tab.stages):
            stage_u = linear_combination(u, 1.0, tab.a[i], increments)
            rhs = f(stage_u, p, t + tab.alpha[i] * dt)
            if increments and any(c != 0.0 for c in tab.C[i]):
                history = linear_combination(None, 1.0, tab.C[i], increments) / dt
                rhs = rhs + (history if mass is None else mass @ history)
            if f_t is not None and tab.gamma_i[i] != 0.0:
                rhs = rhs + (tab.gamma_i[i] * dt) * f_t
            increments.append(linsolve.solve_accurately(factors, jac, tab.gamma * dt, mass, rhs))
        u_new = linear_combination(u, 1.0, tab.m, increments)
        error = error_norm(linear_combination(None, 1.0, tab.m_error, increments), u, u_new)
        # Stored as U_j / h so the common dense-output form u0 + h Σ b_j(θ) k_j applies.
        return StepResult(u_new, error, None, jnp.stack(increments) / dt)

    def extra_stats(self, n_steps, n_accepted) -> dict:
        """Counters derived from the step counts: one Jacobian and one factorization per attempted step
        (``n_steps``; ``n_accepted`` unused). Returns a dict."""
        return {"njacs": n_steps, "nfactorizations": n_steps}
