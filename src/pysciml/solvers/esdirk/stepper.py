"""The generic ESDIRK stepper: any `EsdirkTableau` becomes a stiff solver with a simplified Newton method.

Stage i ≥ 2 solves z = base_i + hγ f(z, t + c_i h), base_i = u + h Σ_{j<i} a_ij k_j, by the simplified
Newton iteration with the iteration matrix W = I/(γh) − J (one LU per step):

    W Δz = f(z) − (z − base_i)/(γh),      z ← z + Δz,

started from the predictor z = base_i + hγ k_{i−1} (the previous stage derivative). With the scaled norm
‖Δz_m‖ (the error norm of the step) and the contraction rate θ_m = ‖Δz_m‖/‖Δz_{m−1}‖, the iteration stops
when η‖Δz_m‖ ≤ κ (Hairer & Wanner, Solving ODEs II, IV.8), η = θ/(1 − θ); the first iteration of a stage
uses η carried over from the previous stage/step (as max(η, ε)^0.8). θ ≥ 1 (divergence), a non-finite
update or no convergence within ``max_newton`` iterations fails the step. Each stage derivative is then
k_i = (z − base_i)/(γh), which keeps the Newton residual out of the stiff components.

The Jacobian lives in the solver state and is reused across steps. It is recomputed only when flagged:
at the start, after a step whose Newton iteration converged slowly (largest θ > ``theta_recompute``), and
after a Newton failure with an old Jacobian. A failed step returns error = +inf (the controller rejects
it and shrinks the step) and its ``rejected_state`` keeps the Jacobian it used with the flag set (unless
that Jacobian was computed at this very point, then it is kept as is). W is refactored every step since
γh changes.

The methods are stiffly accurate, so u1 = z_s and k_s = f(u1) (up to the Newton tolerance): the next step
uses k_s as its first stage (FSAL, no f evaluation). The error estimate h Σ (b − b̂)_j k_j is filtered by
(I − γhJ)⁻¹ (Hosea & Shampine), which keeps it bounded for stiff components at no new factorization.

Exact counters (Jacobians, Newton iterations = f evaluations, Newton failures) travel in the state; see
`Esdirk.state_stats`. Mass matrices are not supported (a ValueError at trace time).
"""
from typing import ClassVar, NamedTuple

import jax.numpy as jnp
from jax import lax

from ..._core.trees import linear_combination
from ..base import StepResult, TableauMethod
from ..implicit import WithLinearSolver
from .tableau import EsdirkTableau


class EsdirkState(NamedTuple):
    fsal: jnp.ndarray        # f(u) at the current point (k_1 of the next step)
    jac: object              # the Jacobian being reused (in the linear solver's representation)
    need_jac: jnp.ndarray    # bool: recompute J at the start of the next step
    eta: jnp.ndarray         # Newton convergence factor carried to the next first iteration
    njacs: jnp.ndarray       # counters (int32)
    nnewton: jnp.ndarray     # Newton iterations (one f evaluation each)
    nfails: jnp.ndarray      # steps whose Newton iteration failed


class Esdirk(WithLinearSolver, TableauMethod):
    """An ESDIRK method defined by ``tableau``; subclasses only set the tableau. ``linsolve``: the linear
    solver for W (see `WithLinearSolver`)."""

    tableau: ClassVar[EsdirkTableau]
    family: ClassVar[str] = "esdirk"
    adaptive = True
    initial_evals = 1               # f(u0) for the first stage
    kappa: ClassVar[float] = 0.02   # Newton stopping tolerance, relative to the error tolerance
    max_newton: ClassVar[int] = 8
    theta_recompute: ClassVar[float] = 0.2   # recompute J after a step converging slower than this
    filter_error: ClassVar[bool] = True

    @property
    def evals_per_step(self) -> int:
        # An estimate (typically two Newton iterations per implicit stage); exact counts: `state_stats`.
        return 2 * (self.tableau.stages - 1)

    def init(self, f, t0, u0, p):
        zero = jnp.zeros((), jnp.int32)
        return EsdirkState(fsal=f(u0, p, t0), jac=self.linsolve.initial_jacobian(f, u0, p, t0),
                           need_jac=jnp.asarray(True),
                           eta=jnp.asarray(1.0, u0.dtype), njacs=zero, nnewton=zero, nfails=zero)

    def initial_derivative(self, f, t0, u0, p, state):
        return state.fsal

    def step(self, f, t, u, dt, p, state, error_norm, mass=None) -> StepResult:
        if mass is not None:
            raise ValueError(f"{type(self).__name__} does not support a mass matrix; use Rodas4 or Rodas5P")
        tab = self.tableau
        gamma_h = tab.gamma * dt
        fresh = state.need_jac
        linsolve = self.linsolve
        jac = lax.cond(fresh, lambda: linsolve.jacobian(f, u, p, t), lambda: state.jac)
        factors = linsolve.factor(jac, gamma_h)
        kappa, max_newton = self.kappa, self.max_newton
        tiny = jnp.finfo(u.dtype).tiny

        ks = [state.fsal]
        ok = jnp.asarray(True)
        eta = jnp.maximum(state.eta, jnp.finfo(u.dtype).eps) ** 0.8
        theta_max = jnp.zeros((), u.dtype)
        iterations = jnp.zeros((), jnp.int32)
        for i in range(1, tab.stages):
            base = linear_combination(u, dt, tab.a[i], ks)
            t_stage = t + tab.c[i] * dt

            def cond(s):
                _, _, it, _, _, done, failed = s
                return ~done & ~failed & (it < max_newton)

            def body(s, base=base, t_stage=t_stage):
                z, prev, it, eta, theta_max, _, _ = s
                dz = linsolve.solve(factors, f(z, p, t_stage) - (z - base) / gamma_h)
                z = z + dz
                norm = error_norm(dz, u, z)
                theta = norm / jnp.maximum(prev, tiny)
                later = it > 0
                eta = jnp.where(later, theta / jnp.maximum(1.0 - theta, tiny), eta)
                theta_max = jnp.where(later, jnp.maximum(theta_max, theta), theta_max)
                failed = ~jnp.isfinite(norm) | (later & (theta >= 1.0))
                done = ~failed & ((eta * norm <= kappa) | (norm <= 1e-10 * kappa))
                return z, norm, it + 1, eta, theta_max, done, failed

            z0 = base + gamma_h * ks[-1]
            start = (z0, jnp.asarray(1.0, u.dtype), jnp.zeros((), jnp.int32), eta, theta_max,
                     jnp.asarray(False), jnp.asarray(False))
            z, _, it, eta_stage, theta_max, done, _ = lax.while_loop(cond, body, start)
            ok = ok & done
            iterations = iterations + it
            eta = jnp.maximum(eta_stage, jnp.finfo(u.dtype).eps) ** 0.8
            ks.append((z - base) / gamma_h)

        u_new = linear_combination(u, dt, tab.b, ks)
        err = dt * linear_combination(None, 1.0, tab.b_error, ks)   # (base None ignores h)
        if self.filter_error:
            err = linsolve.solve(factors, err / gamma_h)      # (I − γhJ)⁻¹ err
        error = jnp.where(ok, error_norm(err, u, u_new), jnp.inf)

        counters = dict(njacs=state.njacs + fresh.astype(jnp.int32), nnewton=state.nnewton + iterations,
                        nfails=state.nfails + (~ok).astype(jnp.int32))
        slow = theta_max > self.theta_recompute
        accepted = EsdirkState(fsal=ks[-1], jac=jac, need_jac=~ok | slow,
                               eta=jnp.where(ok, eta, 1.0).astype(u.dtype), **counters)
        # On rejection: keep f(u) and the Jacobian; after a Newton failure ask for a fresh one unless it
        # already is fresh (computed at this u, where recomputing would give the same matrix).
        rejected = EsdirkState(fsal=state.fsal, jac=jac, need_jac=jnp.where(ok, slow, ~fresh),
                               eta=jnp.where(ok, eta, 1.0).astype(u.dtype), **counters)
        return StepResult(u_new, error, accepted, jnp.stack(ks), rejected)

    def extra_stats(self, n_steps, n_accepted) -> dict:
        return {"nfactorizations": n_steps}

    @staticmethod
    def state_stats(state) -> dict:
        """Exact counters from the final solver state: Jacobians, Newton iterations (= f evaluations in
        the stages), and steps whose Newton iteration failed."""
        return {"njacs": state.njacs, "nnonliniter": state.nnewton, "nnonlinconvfail": state.nfails,
                "nf_steps": state.nnewton}
