"""The generic explicit Runge–Kutta stepper: any `ButcherTableau` becomes a solver.

The stepper is pure: `init` returns the solver state (the first stage for FSAL methods), `step` takes one
step and returns the candidate state, its scaled error norm, the new solver state and the stages that the
dense output needs. It knows nothing of controllers, saving or events. Stage sums are unrolled at trace
time and skip zero coefficients, which keeps small systems close to the cost of hand-written code.
"""
from typing import ClassVar

import jax.numpy as jnp

from ..._core.trees import linear_combination as _combine
from ..base import ExplicitRungeKutta, StepResult, TableauMethod
from .tableau import ButcherTableau


class ExplicitRK(TableauMethod, ExplicitRungeKutta):
    """An explicit Runge–Kutta method defined by ``tableau``; subclasses only set the tableau."""

    tableau: ClassVar[ButcherTableau]

    @property
    def adaptive(self) -> bool:
        return self.tableau.b_error is not None

    @property
    def controller_order(self) -> int:
        """q in the step-size exponent 1/(q+1): the lower of the pair's orders."""
        tab = self.tableau
        return min(tab.order, tab.embedded_order) if self.adaptive else tab.order

    @property
    def evals_per_step(self) -> int:
        return self.tableau.stages - (1 if self.tableau.fsal else 0)

    @property
    def initial_evals(self) -> int:
        return 1 if self.tableau.fsal else 0

    def init(self, f, t0, u0, p):
        """Solver state at the start (``f``, ``t0``, ``u0``, parameters ``p``): returns f(u0, p, t0) for FSAL
        methods (the first stage of the next step), else None."""
        return f(u0, p, t0) if self.tableau.fsal else None

    def initial_derivative(self, f, t0, u0, p, state):
        """f(``u0``, ``p``, ``t0``) for the initial step estimate: returns the FSAL ``state`` when the method
        keeps one (no new evaluation of ``f``), else evaluates it."""
        return state if self.tableau.fsal else f(u0, p, t0)

    def step(self, f, t, u, dt, p, state, error_norm) -> StepResult:
        """One step from (``t``, ``u``) of size ``dt`` of the right-hand side ``f`` with parameters ``p``;
        ``state``: the FSAL stage f(u) (None for a method without FSAL). ``error_norm(err, u, u_new)`` scales an
        error vector. Explicit methods have no mass matrix (`solve` refuses one). Returns the `StepResult`
        (u_new, scaled embedded error, the next FSAL stage, the stages for dense output)."""
        tab = self.tableau
        k1 = state if tab.fsal else f(u, p, t)
        ks = [k1]
        for ci, row in zip(tab.c[1:], tab.a[1:]):
            ks.append(f(_combine(u, dt, row, ks), p, t + ci * dt))
        u_new = _combine(u, dt, tab.b, ks)
        error = self.error(ks, dt, u, u_new, error_norm) if self.adaptive else jnp.zeros((), u.dtype)
        new_state = ks[-1] if tab.fsal else None
        return StepResult(u_new, error, new_state, jnp.stack(ks))

    def replay_stages(self, f, t, u, dt, p):
        """The stages of the step of size dt from (t, u), as `step` computed them (an FSAL first stage is
        f(u) again): explicit stages depend on nothing else, so dense output can recompute a step's stages
        when it is read instead of storing them for every step (see `interpolation.dense`). ``p``: the
        parameters. Returns the stages, shape (n_stages, n)."""
        no_error = lambda err, u_, u_new: jnp.zeros((), u.dtype)   # noqa: E731 (the error is not needed)
        return self.step(f, t, u, dt, p, self.init(f, t, u, p), no_error).stages

    def error(self, ks, dt, u, u_new, error_norm):
        """Scaled norm of the embedded error estimate h Σ (b − b̂)_j k_j from the stages ``ks`` of the step of
        size ``dt`` from ``u`` to ``u_new``, through ``error_norm(err, u, u_new)``; methods may override. Returns a
        scalar."""
        return error_norm(dt * _combine(None, dt, self.tableau.b_error, ks), u, u_new)
