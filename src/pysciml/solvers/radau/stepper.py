"""RadauIIA5: the 3-stage Radau IIA collocation method (order 5, L-stable, stiffly accurate) with Hairer's
simplified Newton iteration (Hairer & Wanner, Solving ODEs II, IV.8, the RADAU5 code's algorithm).

One step solves for the stage increments z_i = U_i − u (M the mass matrix, I by default)

    (I ⊗ M) z = h (A ⊗ I) F(z),     F(z)_i = f(u + z_i, t + c_i h),

by simplified Newton on w = (T⁻¹ ⊗ I) z, T the eigenvectors of A⁻¹ (see coefficients.py): per iteration
three f evaluations (one vmapped call), then one real and one complex n×n solve sharing the Jacobian J,

    (γ/h M − J) Δw₁ = r₁,     ((α + iβ)/h M − J)(Δw₂ + iΔw₃) = r₂ + i r₃,
    r = (T⁻¹ ⊗ I) F(Tw) − (h⁻¹ Λ ⊗ M) w,     Λ = [[γ, 0, 0], [0, α, −β], [0, β, α]].

The iteration starts from the previous step's collocation polynomial extrapolated to the new stage
times (zero on the first step). With the scaled norm ‖Δw_m‖ and θ_m = ‖Δw_m‖/‖Δw_{m−1}‖ (from the third
iteration on the geometric mean of the last two ratios), it stops when η‖Δw_m‖ ≤ κ, η = θ/(1 − θ); the
first iteration uses η of the previous step as max(η, ε)^0.8. It fails when θ ≥ 0.99, when the predicted
remaining error η‖Δw_m‖θ^(m_max − m) stays above κ, on a non-finite update, or after ``max_newton``
iterations: the step then returns error = +inf (the controller rejects and shrinks it) and u = NaN
(`NewtonImplicit.failed_step`, which ends a fixed-step solve with ConvergenceFailure), and asks for a
fresh Jacobian unless its own was computed at this very point. Corrections at rounding level count as
converged (RADAU5's lower bound 10·uround/rtol on the tolerance, `linalg.rounding_floor`); with fixed steps
a failed iteration is first repeated with J refreshed at every iterate (`NewtonImplicit.refresh_on_failure`).

The Jacobian lives in the solver state and is reused across steps; it is recomputed after a step whose
last contraction rate exceeded ``theta_recompute``, and after any rejection when it is not fresh (as in
RADAU5). Both matrices are refactored every step.

Error estimate (IV.8, (8.19)–(8.20)), of order 3 — hence ``controller_order = 3``:

    err = (γ/h M − J)⁻¹ [f(u) + M Σ_i (e_i/(γ₀h)) z_i],

the filter keeping it bounded for stiff components. On the first step and after a rejection an estimate
above 1 is tried once more with f(u + err) in place of f(u), which removes the spurious growth for very
stiff components. u1 = u + z₃ (stiffly accurate); f(u1) is evaluated once per step for the next estimate.

Dense output: the collocation polynomial, k_j = (A⁻¹z)_j / h (no f evaluations). Exact counters travel in
the state (`RadauIIA5.state_stats`).
"""
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ...linalg import factor_w, jacobian, next_eta, rounding_floor, simplified_newton, solve_w
from ..base import NewtonImplicit, StepResult
from .coefficients import RADAU_IIA5, RadauCoefficients
from ...problems.terms import as_terms


class RadauState(NamedTuple):
    f0: jnp.ndarray          # f(u) at the current point
    jac: jnp.ndarray         # the Jacobian being reused
    need_jac: jnp.ndarray    # bool: recompute J at the start of the next step
    stages: jnp.ndarray      # (3, n) derivatives k_j of the last accepted step's collocation polynomial
    h_prev: jnp.ndarray      # that step's size (0 before the first step: Newton starts from zero)
    eta: jnp.ndarray         # Newton convergence factor θ/(1 − θ) carried to the next step
    retry: jnp.ndarray       # bool: first step or after a rejection (a large error estimate is re-tried)
    njacs: jnp.ndarray       # counters (int32)
    nnewton: jnp.ndarray     # Newton iterations (three f evaluations each)
    nfails: jnp.ndarray      # steps whose Newton iteration failed
    nf: jnp.ndarray          # f evaluations made by the steps


class RadauIIA5(NewtonImplicit):
    """Radau IIA of order 5 (3 stages): L-stable and stiffly accurate, for stiff problems at tight
    tolerances and index-1 DAEs with a mass matrix."""

    coefficients: ClassVar[RadauCoefficients] = RADAU_IIA5
    supports_mass_matrix: ClassVar[bool] = True
    adaptive = True
    order = 5
    dense_order = 3
    controller_order = 3                 # the error estimate is O(h⁴)
    n_stages = 3
    evals_per_step = 7                   # an estimate (two Newton iterations); exact counts: state_stats
    initial_evals = 1                    # f(u0) for the first error estimate
    kappa: ClassVar[float] = 0.01        # Newton stopping tolerance, relative to the error tolerance
    max_newton: ClassVar[int] = 7
    theta_recompute: ClassVar[float] = 0.03  # recompute J after a step converging slower than this
    uses_refresh: ClassVar[bool] = True

    @property
    def interpolant(self):
        return self.coefficients

    def init(self, f, t0, u0, p):
        """Returns the method's state at (``t0``, ``u0``) for the right-hand side ``f`` and parameters ``p``: f(u0),
        a zero Jacobian marked stale, zero stage guesses, counters."""
        n = u0.shape[0]
        zero = jnp.zeros((), jnp.int32)
        return RadauState(f0=f(u0, p, t0), jac=jnp.zeros((n, n), u0.dtype), need_jac=jnp.asarray(True),
                          stages=jnp.zeros((3, n), u0.dtype), h_prev=jnp.zeros((), u0.dtype),
                          eta=jnp.asarray(1.0, u0.dtype), retry=jnp.asarray(True),
                          njacs=zero, nnewton=zero, nfails=zero, nf=zero)

    def initial_derivative(self, f, t0, u0, p, state):
        """Returns f(``u0``, ``p``, ``t0``), read from the solver ``state`` (which holds it; ``f`` is not called
        again)."""
        return state.f0

    def step(self, f, t, u, dt, p, state, error_norm) -> StepResult:
        """One step of size ``dt`` from (``t``, ``u``) with parameters ``p`` and method ``state``; ``f`` is the
        right-hand side (`problems.Terms`, with ``f.mass`` the mass matrix or None) and ``error_norm(err, u, u_new)``
        the scaled norm of the tolerances. Returns a `StepResult` (new state, error estimate, stages for dense output,
        the method state after acceptance and after rejection).
        The three coupled stages are solved by simplified Newton with the real and complex factorizations of
        the transformed system; the Jacobian is reused while Newton converges fast.
        """
        f = as_terms(f)
        mass = f.mass
        co = self.coefficients
        dtype = u.dtype
        const = lambda x: jnp.asarray(np.asarray(x), dtype)
        T, T_inv, A_inv, error_z = const(co.T), const(co.T_inv), const(co.a_inv), const(co.error_z)
        stage_times = t + const(co.c) * dt
        apply_mass = (lambda x: x) if mass is None else (lambda x: x @ mass.T)   # M on each row
        f_stages = jax.vmap(f, in_axes=(0, None, 0))

        fresh = state.need_jac
        jac = lax.cond(fresh, lambda: jacobian(f, u, p, t), lambda: state.jac)
        real_lu = factor_w(jac, dt / co.gamma, mass)
        complex_lu = factor_w(jac, dt / complex(co.alpha, co.beta), mass)   # W = (α + iβ)/h M − J
        gamma_h, alpha_h, beta_h = co.gamma / dt, co.alpha / dt, co.beta / dt

        def norm(dw):
            return jnp.sqrt(jnp.mean(jnp.stack([error_norm(x, u, u) for x in dw]) ** 2))

        def correction(w, real_lu=real_lu, complex_lu=complex_lu):
            r = T_inv @ f_stages(u + T @ w, p, stage_times)
            mw = apply_mass(w)
            r1 = r[0] - gamma_h * mw[0]
            r2 = r[1] - alpha_h * mw[1] + beta_h * mw[2]
            r3 = r[2] - beta_h * mw[1] - alpha_h * mw[2]
            dw23 = solve_w(complex_lu, r2 + 1j * r3)
            return jnp.stack([solve_w(real_lu, r1), dw23.real, dw23.imag])

        # Hairer's RADAU5 control: the geometric mean of the last two rates, divergence at 0.99, one
        # iteration fewer counted as left.
        z0 = self._extrapolate(state, dt)
        # The stage values are u + z, z small: 10 rounding units of u bound the tolerance below (RADAU5's FNEWT).
        floor = rounding_floor(lambda v: error_norm(v, u, u), u)
        newton = simplified_newton(correction, lambda dw, w: norm(dw), T_inv @ z0, next_eta(state.eta, dtype),
                                   self.kappa, self.max_newton, divergence=0.99, geometric_rate=True, lookahead=2,
                                   floor=floor)
        refreshed = jnp.zeros((), jnp.int32)
        if self.refresh_on_failure:
            # Fixed steps (`NewtonImplicit.refresh_on_failure`): where the iteration with the reused J failed,
            # iterate again from the predictor with J (and both factorizations) refreshed at every iterate,
            # taken at its end value u + z₃ (one J for the three stages, as in the simplified iteration), with
            # no early stop for slowness or growth (a non-finite iterate still stops it). Under vmap it runs no
            # iteration unless some trajectory needs it.
            def refreshed_correction(w):
                jac_w = jacobian(f, u + (T @ w)[2], p, t + dt)
                return correction(w, factor_w(jac_w, dt / co.gamma, mass),
                                  factor_w(jac_w, dt / complex(co.alpha, co.beta), mass))

            retry = simplified_newton(refreshed_correction, lambda dw, w: norm(dw), T_inv @ z0, 1.0, self.kappa,
                                      jnp.where(newton.converged, 0, self.max_newton), divergence=jnp.inf,
                                      geometric_rate=True, lookahead=2, stop_when_slow=False, floor=floor)
            keep = lambda a, b: jnp.where(newton.converged, a, b)
            newton = newton._replace(z=keep(newton.z, retry.z), iterations=newton.iterations + retry.iterations,
                                     eta=keep(newton.eta, retry.eta), theta=keep(newton.theta, retry.theta),
                                     converged=newton.converged | retry.converged)
            refreshed = retry.iterations
        w, iterations, eta, theta, ok = newton.z, newton.iterations, newton.eta, newton.theta, newton.converged

        z = T @ w
        u_new = u + z[2]
        stages = (A_inv @ z) / dt
        # Embedded error estimate, filtered by (γ/h M − J)⁻¹; a second try on the first step/after a rejection.
        combination = apply_mass((error_z @ z) / dt)
        estimate = solve_w(real_lu, state.f0 + combination)
        error = error_norm(estimate, u, u_new)
        again = state.retry & (error > 1.0)
        error = lax.cond(again, lambda: error_norm(solve_w(real_lu, f(u + estimate, p, t) + combination), u, u_new),
                         lambda: error)
        error = jnp.where(ok, error, jnp.inf)
        f_new = f(u_new, p, t + dt)

        counters = dict(njacs=state.njacs + fresh.astype(jnp.int32) + refreshed, nnewton=state.nnewton + iterations,
                        nfails=state.nfails + (~ok).astype(jnp.int32),
                        nf=state.nf + 3 * iterations + 1 + again.astype(jnp.int32))
        eta = jnp.where(ok, eta, 1.0).astype(dtype)
        accepted = RadauState(f0=f_new, jac=jac, need_jac=~ok | (theta > self.theta_recompute), stages=stages,
                              h_prev=jnp.asarray(dt, dtype), eta=eta, retry=jnp.asarray(False), **counters)
        # On rejection keep the point's f(u) and the last accepted polynomial (the predictor); ask for a
        # fresh Jacobian unless this one was computed here.
        rejected = state._replace(jac=jac, need_jac=~fresh, eta=eta, retry=jnp.asarray(True), **counters)
        return StepResult(self.failed_step(u_new, ok), error, accepted, stages, rejected, newton_failed=~ok)

    def _extrapolate(self, state, dt):
        """Starting increments z_i: the last step's collocation polynomial at t + c_i h (zero at first)."""
        co = self.coefficients
        dtype = state.stages.dtype
        weights = jnp.asarray(np.asarray(co.dense_weights), dtype)
        has_prev = state.h_prev != 0
        x = 1.0 + jnp.asarray(np.asarray(co.c), dtype) * (dt / jnp.where(has_prev, state.h_prev, 1.0))
        powers = jnp.stack([x, x * x, x * x * x], axis=-1)                 # (i, m)
        shift = powers @ weights.T - jnp.asarray(np.asarray(co.b), dtype)    # B_j(x_i) − B_j(1)
        return jnp.where(has_prev, state.h_prev * (shift @ state.stages), 0.0)

    def extra_stats(self, n_steps, n_accepted) -> dict:
        """Returns ``{'nfactorizations': n_steps}``: one (real + complex) factorization per attempted step
        (``n_accepted`` unused)."""
        return {"nfactorizations": n_steps}

    @staticmethod
    def state_stats(state) -> dict:
        """Exact counters from the final solver state: Jacobians, Newton iterations, steps whose Newton
        iteration failed, and f evaluations of the steps."""
        return {"njacs": state.njacs, "nnonliniter": state.nnewton, "nnonlinconvfail": state.nfails,
                "nf_steps": state.nf}
