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
`solve_accurately` too: KenCarp4's loose Newton tolerance leaves E5 short without it).

The refinement's residual takes J·U as a Jacobian–vector product of f (one per stage), not as the product
with the forward-mode matrix J, whenever J is AD's (a user ``jac`` is taken as exact). Why: a row of the AD
matrix that f forms as a difference of other rows (E5: f3 = f2 − f4) is rounded entry by entry, so the
invariant breaks in J itself (cᵀJ ≈ 4e-13 in E5's column 3, eps·b·y1), and it enters as γh·(cᵀJ)U per
stage; the JVP rounds the product once, as f itself rounds, so cᵀ(JU) is eps·|(JU)3|. How much a method
suffers from an error E in J is a property of its tableau: the solution changes by h²·(Σ_ij b_i γ_ij)·E f
+ O(h³) (original form, Γ with its diagonal), and Σ_ij b_i γ_ij = 1/2 − Σ b_i α_i by the order-2 condition.
Rodas5P has Σ b_i α_i = 1/2 (W-order 2: only O(h³) terms remain); Rodas4 has 0.468 (first order in E).
E5, atol 1.7e-24, mescd at rtol 1e-4 / 1e-6 / 1e-8 / 1e-10 (bounds 2.5 / 4.5 / 6.5 / 8.5): Rodas4 1.40 /
3.98 / 6.72 / 9.42 with the matrix residual (Success below the bound at 1e-4, 1e-6), 3.55 / 6.56 / 9.36 /
10.91 with the JVP; Rodas5P 3.29 / 5.75 / 9.75 / 11.58 and 4.50 / 6.17 / 9.87 / 10.98.
"""
from typing import ClassVar

import jax
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
        # A refined stage solve measures its residual with f's own linearization (one Jacobian–vector product
        # per stage, traced only when the linear solver refines): see the module docstring. A user ``jac`` is
        # taken as the exact linearization it claims to be.
        jvp = None if getattr(f, "jac", None) is not None else (
            lambda x: jax.jvp(lambda v: f(v, p, t), (u,), (x,))[1])
        increments = []
        for i in range(tab.stages):
            stage_u = linear_combination(u, 1.0, tab.a[i], increments)
            rhs = f(stage_u, p, t + tab.alpha[i] * dt)
            if increments and any(c != 0.0 for c in tab.C[i]):
                history = linear_combination(None, 1.0, tab.C[i], increments) / dt
                rhs = rhs + (history if mass is None else mass @ history)
            if f_t is not None and tab.gamma_i[i] != 0.0:
                rhs = rhs + (tab.gamma_i[i] * dt) * f_t
            increments.append(linsolve.solve_accurately(factors, jac, tab.gamma * dt, mass, rhs, jvp))
        u_new = linear_combination(u, 1.0, tab.m, increments)
        error = error_norm(linear_combination(None, 1.0, tab.m_error, increments), u, u_new)
        # Stored as U_j / h so the common dense-output form u0 + h Σ b_j(θ) k_j applies.
        return StepResult(u_new, error, None, jnp.stack(increments) / dt)

    def extra_stats(self, n_steps, n_accepted) -> dict:
        """Counters derived from the step counts: one Jacobian and one factorization per attempted step
        (``n_steps``; ``n_accepted`` unused). Returns a dict."""
        return {"njacs": n_steps, "nfactorizations": n_steps}
