"""The generic ESDIRK stepper: any `EsdirkTableau` becomes a stiff solver with a simplified Newton method.

Stage i ≥ 2 solves M(z − base_i) = hγ f(z, t + c_i h), base_i = u + h Σ_{j<i} a_ij k_j, by the simplified
Newton iteration with the iteration matrix W = M/(γh) − J (one LU per step; M = I without a mass matrix):

    W Δz = f(z) − M(z − base_i)/(γh),      z ← z + Δz,

started from the predictor z = base_i + hγ k_{i−1} (the previous stage derivative). With the scaled norm
‖Δz_m‖ (the error norm of the step) and the contraction rate θ_m = ‖Δz_m‖/‖Δz_{m−1}‖, the iteration stops
when η‖Δz_m‖ ≤ κ (Hairer & Wanner, Solving ODEs II, IV.8), η = θ/(1 − θ); the first iteration of a stage
uses η carried over from the previous stage/step (as max(η, ε)^0.8). θ ≥ 1 (divergence), a non-finite
update or no convergence within ``max_newton`` iterations fails the step; corrections at rounding level
(`linalg.rounding_floor`) count as converged. With fixed steps a failed stage is first solved again by full
Newton, J refreshed at every iterate (`NewtonImplicit.refresh_on_failure`). Each stage derivative is then
k_i = (z − base_i)/(γh), which keeps the Newton residual out of the stiff components. A singular M makes
an index-1 DAE: the algebraic equations hold at every stage, and u1 = z_s satisfies them (stiffly accurate).

The Jacobian lives in the solver state and is reused across steps. It is recomputed only when flagged:
at the start, after a step whose Newton iteration converged slowly (largest θ > ``theta_recompute``), and
after a Newton failure with an old Jacobian. A failed step returns error = +inf (the controller rejects
it and shrinks the step), u = NaN (`NewtonImplicit.failed_step`: a fixed-step solve then ends with
ConvergenceFailure instead of carrying the unconverged iterate on), flags ``newton_failed`` (so an
underflowing step size is reported as a ConvergenceFailure), and its ``rejected_state`` keeps the Jacobian
it used with the flag set (unless that Jacobian was computed at this very point, then it is kept as is). W
is refactored every step since γh changes.

The methods are stiffly accurate, so u1 = z_s and k_s = du/dt at u1 (up to the Newton tolerance): the
next step uses k_s as its first stage (FSAL, no f evaluation). With a mass matrix the very first stage
needs du/dt at u0, which f(u0) = M du/dt does not give: the first attempted step solves for it
(`consistent_derivative`) with its fresh Jacobian. The error estimate h Σ (b − b̂)_j k_j is filtered by
(M − γhJ)⁻¹M (Hosea & Shampine), which keeps it bounded for stiff components at no new factorization.

IMEX: for a tableau with an explicit part (KenCarp4) and a split right-hand side f = f1 + f2
(`SplitFunction`), f1 is treated as above (J = ∂f1/∂u; f2 is never differentiated) and f2 explicitly:
base_i gains h Σ_{j<i} aE_ij f2(z_j), and u1 = u + h Σ b_j (k_j + f2(z_j)), which is no longer z_s, so
each step ends by evaluating f1(u1) and f2(u1) for the next first stage. Not with a mass matrix.

Exact counters (Jacobians, Newton iterations = f evaluations, Newton failures; IMEX: f2 evaluations)
travel in the state; see `Esdirk.state_stats`.
"""
from typing import ClassVar, NamedTuple

import jax.numpy as jnp
from jax import lax

from ..._core.trees import linear_combination
from ...linalg import consistent_derivative, next_eta, rounding_floor, simplified_newton
from ...problems.split import SplitFunction
from ..base import NewtonImplicit, StepResult, TableauMethod
from ..implicit import WithLinearSolver
from .tableau import EsdirkTableau
from ...problems.terms import as_terms


class EsdirkState(NamedTuple):
    fsal: jnp.ndarray        # du/dt at the current point (k_1 of the next step; IMEX: the f1 part)
    jac: object              # the Jacobian being reused (in the linear solver's representation)
    need_jac: jnp.ndarray    # bool: recompute J at the start of the next step
    eta: jnp.ndarray         # Newton convergence factor carried to the next first iteration
    njacs: jnp.ndarray       # counters (int32)
    nnewton: jnp.ndarray     # Newton iterations (one f evaluation each)
    nfails: jnp.ndarray      # steps whose Newton iteration failed
    fsal_explicit: jnp.ndarray | None = None   # IMEX: f2(u), the explicit part's first stage
    nf2: jnp.ndarray | None = None             # IMEX: f2 evaluations


class Esdirk(WithLinearSolver, TableauMethod, NewtonImplicit):
    """An ESDIRK method defined by ``tableau``; subclasses only set the tableau. ``linsolve``: the linear
    solver for W (see `WithLinearSolver`)."""

    tableau: ClassVar[EsdirkTableau]
    supports_mass_matrix: ClassVar[bool] = True
    adaptive = True
    initial_evals = 1               # f(u0) for the first stage
    kappa: ClassVar[float] = 0.02   # Newton stopping tolerance, relative to the error tolerance
    max_newton: ClassVar[int] = 8
    theta_recompute: ClassVar[float] = 0.2   # recompute J after a step converging slower than this
    filter_error: ClassVar[bool] = True
    uses_refresh: ClassVar[bool] = True

    @property
    def evals_per_step(self) -> int:
        # An estimate (typically two Newton iterations per implicit stage); exact counts: `state_stats`.
        return 2 * (self.tableau.stages - 1)

    def _parts(self, f):
        """(implicit, explicit) right-hand sides: (f1, f2) for a split f when the tableau has an explicit
        part (IMEX), else (f, None)."""
        rhs = as_terms(f).f
        if isinstance(rhs, SplitFunction) and self.tableau.explicit_a is not None:
            return rhs.stiff, rhs.nonstiff
        return f, None

    def init(self, f, t0, u0, p):
        """The solver state at (``t0``, ``u0``) for the right-hand side ``f`` (split into its implicit and
        explicit parts for IMEX) and parameters ``p``: the FSAL derivative(s), the initial Jacobian, Newton's
        convergence rate and zeroed counters. Returns the `EsdirkState`."""
        implicit, explicit = self._parts(f)
        zero = jnp.zeros((), jnp.int32)
        state = EsdirkState(fsal=implicit(u0, p, t0), jac=self.linsolve.initial_jacobian(implicit, u0, p, t0),
                            need_jac=jnp.asarray(True),
                            eta=jnp.asarray(1.0, u0.dtype), njacs=zero, nnewton=zero, nfails=zero)
        if explicit is not None:
            state = state._replace(fsal_explicit=explicit(u0, p, t0), nf2=jnp.ones((), jnp.int32))
        return state

    def initial_derivative(self, f, t0, u0, p, state):
        """f(``u0``, ``p``, ``t0``) for the initial step estimate: returns the derivative ``init`` stored in
        ``state`` (the sum of both parts for IMEX), with no new evaluation of ``f``."""
        return state.fsal if state.fsal_explicit is None else state.fsal + state.fsal_explicit

    def step(self, f, t, u, dt, p, state, error_norm) -> StepResult:
        """One ESDIRK step from (``t``, ``u``) of size ``dt`` with parameters ``p``: the explicit first stage, then
        each implicit stage by a simplified Newton iteration with W = M/(γh) − J (the Jacobian kept in ``state`` and
        refreshed when convergence is slow or after a failure). ``f``: the right-hand side as terms (``f.mass``: the
        mass matrix; a split f for IMEX, without a mass matrix); ``error_norm(err, u, u_new)`` scales the embedded
        error. Returns the `StepResult`, with the state to keep on rejection and whether Newton failed."""
        f = as_terms(f)
        mass = f.mass
        implicit, explicit = self._parts(f)
        if explicit is not None and mass is not None:
            raise ValueError(f"{type(self).__name__}: IMEX on a SplitODEProblem does not take a mass matrix; "
                             "solve it with a non-IMEX stiff method such as Kvaerno5() or Rodas5P()")
        tab = self.tableau
        gamma_h = tab.gamma * dt
        fresh = state.need_jac
        linsolve = self.linsolve
        jac = lax.cond(fresh, lambda: linsolve.jacobian(implicit, u, p, t), lambda: state.jac)
        factors = linsolve.factor(jac, gamma_h, mass)
        times_mass = (lambda v: v) if mass is None else (lambda v: mass @ v)
        k1 = state.fsal
        if mass is not None:
            # The first attempted step (no Jacobian computed before): fsal holds f(u0) = M du/dt.
            k1 = lax.cond(state.njacs == 0, lambda: consistent_derivative(f, u, p, t, mass, jac, state.fsal),
                          lambda: state.fsal)
        ks, explicit_ks = [k1], [state.fsal_explicit]
        ok = jnp.asarray(True)
        eta = next_eta(state.eta, u.dtype)
        theta_max = jnp.zeros((), u.dtype)
        iterations = jnp.zeros((), jnp.int32)
        jacobians = fresh.astype(jnp.int32)
        for i in range(1, tab.stages):
            base = linear_combination(u, dt, tab.a[i], ks)
            if explicit is not None:
                base = linear_combination(base, dt, tab.explicit_a[i], explicit_ks)
            t_stage = t + tab.c[i] * dt

            def correction(z, base=base, t_stage=t_stage):
                residual = implicit(z, p, t_stage) - times_mass(z - base) / gamma_h
                return linsolve.solve_accurately(factors, jac, gamma_h, mass, residual)

            z0 = base + gamma_h * ks[-1]
            size = lambda dz, z: error_norm(dz, u, z)
            floor = rounding_floor(lambda v: error_norm(v, u, z0), z0)
            newton = simplified_newton(correction, size, z0, eta, self.kappa, self.max_newton, theta_max=theta_max,
                                       stop_when_slow=False, floor=floor)
            if self.refresh_on_failure:
                newton, refreshed = self._refreshed_stage(newton, implicit, p, t_stage, base, gamma_h, mass, z0,
                                                          size, floor)
                jacobians = jacobians + refreshed
            z, theta_max = newton.z, newton.theta_max
            ok = ok & newton.converged
            iterations = iterations + newton.iterations
            eta = next_eta(newton.eta, u.dtype)
            ks.append((z - base) / gamma_h)
            if explicit is not None:
                explicit_ks.append(explicit(z, p, t_stage))

        stages = ks if explicit is None else [k + e for k, e in zip(ks, explicit_ks)]
        u_new = linear_combination(u, dt, tab.b, stages)
        err = dt * linear_combination(None, 1.0, tab.b_error, stages)   # (base None ignores h)
        if self.filter_error:
            err = linsolve.solve(factors, times_mass(err) / gamma_h)      # (M − γhJ)⁻¹ M err
        error = jnp.where(ok, error_norm(err, u, u_new), jnp.inf)

        counters = dict(njacs=state.njacs + jacobians, nnewton=state.nnewton + iterations,
                        nfails=state.nfails + (~ok).astype(jnp.int32))
        fsal, fsal_explicit = ks[-1], None
        if explicit is not None:
            fsal, fsal_explicit = implicit(u_new, p, t + dt), explicit(u_new, p, t + dt)
            counters["nf2"] = state.nf2 + tab.stages
        slow = theta_max > self.theta_recompute
        new_eta = jnp.where(ok, eta, 1.0).astype(u.dtype)
        accepted = EsdirkState(fsal=fsal, jac=jac, need_jac=~ok | slow, eta=new_eta, fsal_explicit=fsal_explicit,
                               **counters)
        # On rejection: keep du/dt at u and the Jacobian; after a Newton failure ask for a fresh one unless
        # it already is fresh (computed at this u, where recomputing would give the same matrix).
        rejected = EsdirkState(fsal=k1, jac=jac, need_jac=jnp.where(ok, slow, ~fresh), eta=new_eta,
                               fsal_explicit=state.fsal_explicit, **counters)
        return StepResult(self.failed_step(u_new, ok), error, accepted, jnp.stack(stages), rejected,
                          newton_failed=~ok)

    def _refreshed_stage(self, newton, implicit, p, t_stage, base, gamma_h, mass, z0, size, floor):
        """The stage solved again by full Newton (J and W at every iterate) from the predictor ``z0`` where the
        iteration ``newton`` with the reused Jacobian failed (fixed steps, `NewtonImplicit.refresh_on_failure`).
        Under vmap the retry runs no iteration unless some trajectory needs it (its limit is 0 where the first
        solve converged). Returns (the `NewtonResult` of the two attempts, the Jacobians computed)."""
        linsolve = self.linsolve
        times_mass = (lambda v: v) if mass is None else (lambda v: mass @ v)

        def refreshed(z):
            jac_z = linsolve.jacobian(implicit, z, p, t_stage)
            residual = implicit(z, p, t_stage) - times_mass(z - base) / gamma_h
            return linsolve.solve_accurately(linsolve.factor(jac_z, gamma_h, mass), jac_z, gamma_h, mass, residual)

        # Quadratic near the root, but the first corrections from a far predictor may grow: no divergence stop
        # (a non-finite iterate still stops it).
        retry = simplified_newton(refreshed, size, z0, 1.0, self.kappa,
                                  jnp.where(newton.converged, 0, self.max_newton), divergence=jnp.inf,
                                  stop_when_slow=False, floor=floor)
        keep = lambda a, b: jnp.where(newton.converged, a, b)
        result = newton._replace(z=keep(newton.z, retry.z), iterations=newton.iterations + retry.iterations,
                                 eta=keep(newton.eta, retry.eta), converged=newton.converged | retry.converged)
        return result, retry.iterations

    def extra_stats(self, n_steps, n_accepted) -> dict:
        """Counters derived from the step counts: one factorization per attempted step (``n_steps``;
        ``n_accepted`` unused). Returns {"nfactorizations": n_steps}."""
        return {"nfactorizations": n_steps}

    def state_stats(self, state) -> dict:
        """Exact counters from the final solver state: Jacobians, Newton iterations (= f evaluations in
        the stages), and steps whose Newton iteration failed; IMEX: ``nf2`` evaluations of f2 (``nf``
        counts f1), one at the start and s per step (s − 1 stages and the step's end, where f1 is
        evaluated once more too). Returns a dict of the counters in ``state``."""
        stats = {"njacs": state.njacs, "nnonliniter": state.nnewton, "nnonlinconvfail": state.nfails,
                 "nf_steps": state.nnewton}
        if state.nf2 is not None:
            stats.update(nf2=state.nf2, nf_steps=state.nnewton + (state.nf2 - 1) // self.tableau.stages)
        return stats
