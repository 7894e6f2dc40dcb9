"""FBDF: variable-order (1–5), variable-step BDF/NDF with a fixed-shape history, for stiff ODEs and
index-1 DAEs M du/dt = f.

One step of order k and size h from the history D (see `history`): predict y⁽⁰⁾ = Σ_{j≤k} D_j, then solve
the corrector for d = y − y⁽⁰⁾ (Shampine & Reichelt 1997, eq. (5), with a mass matrix M)

    M (d + ψ) = c f(y⁽⁰⁾ + d, t + h),   c = h/α_k,   ψ = Σ_{1≤j≤k} γ_j D_j / α_k,

by simplified Newton with the iteration matrix W = M/c' − J, factorized at some earlier c' and reused:
Δd = (2c/(c + c')) W⁻¹ (f − M(d + ψ)/c) (the correction for c ≠ c' is CVODE's, Hindmarsh et al., ACM
TOMS 31 (2005) 363–396, Section 2.1). The iteration stops when η‖Δd‖ ≤ κ (η = θ/(1 − θ), θ the
contraction rate, carried from step to step as in Hairer & Wanner II, IV.8), and fails on θ ≥ 1, on a
predicted miss of the tolerance within the remaining iterations, or after ``max_newton`` iterations
(corrections at rounding level, `linalg.rounding_floor`, count as converged). A failed step returns
u = NaN with error = +inf (`NewtonImplicit.failed_step`: a fixed-step solve ends with ConvergenceFailure);
with fixed steps the corrector is first solved again with J and W refreshed at every iterate
(`NewtonImplicit.refresh_on_failure`).

Reuse (CVODE's strategy): J is kept in the state and recomputed only at the start, after a Newton failure
with an old J, after slow convergence (θ > ``theta_slow``) with a fresh factorization, every
``max_jac_age`` steps (CVODE's MSBJ), and when the step has grown ``jac_growth``-fold since J was taken (a J
from a fast transient can make the iteration stall with small corrections that look converged); W is
refactored when J is new, when c moved by more than 30 % from c' (CVODE's DGMAX) or after slow convergence.

Step and order selection belong to the method (the step returns ``dt_factor``): the local error is
E_k = (κ_k γ_k + 1/(k+1)) ‖d‖; a rejected step shrinks by 0.9 E_k^(−1/(k+1)) (at least 0.2); a failed
Newton iteration retries the same h with a fresh J, or a 4× smaller h if J was fresh already. After k + 1
accepted steps of equal size the order among k − 1, k, k + 1 with the largest step estimate
E_{k−1}^(−1/k), E_k^(−1/(k+1)), E_{k+1}^(−1/(k+2)) is taken (Shampine & Reichelt, Section 2.3), the step
growing at most 10×, with a safety factor that shrinks with the Newton iterations used (Hairer & Wanner
II, IV.8). The loop may clip any step (tstops, dtmax): the history is rescaled to whatever dt it gets.

DAEs: with a singular M the first step builds ∇y from the consistent slope (M y' = f on the differential
rows, J y' = −∂f/∂t on the algebraic ones); `solve` makes the initial state consistent beforehand.
"""
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import lax

from ...linalg import (DenseLU, algebraic_mask, as_linear_solver, next_eta, rounding_floor, simplified_newton,
                       time_derivative)
from ..base import Multistep, StepResult
from . import history as hist
from .coefficients import BDF_KAPPA, MAX_ORDER, NDF_KAPPA, corrector_constants, dense_weights
from ...problems.terms import as_terms


class _Interpolant(NamedTuple):
    dense_weights: np.ndarray
    c_extra: tuple = ()
    a_extra: tuple = ()


class BdfState(NamedTuple):
    history: jnp.ndarray       # (max_order + 3, n) backward differences at spacing h
    h: jnp.ndarray             # the spacing of the history (signed)
    order: jnp.ndarray         # int32, current order k
    n_equal: jnp.ndarray       # int32, accepted steps since the last change of h or k
    jac: object                # the Jacobian being reused (in the linear solver's representation)
    h_jac: jnp.ndarray         # |h| of the step that computed it
    jac_age: jnp.ndarray       # int32, accepted steps since it was computed
    factors: object            # W = M/c' − J prepared by the linear solver (an LU for the dense one)
    c_factored: jnp.ndarray    # c' of the factorization
    need_jac: jnp.ndarray      # bool: recompute J at the next step
    need_factor: jnp.ndarray   # bool: refactor W at the next step
    eta: jnp.ndarray           # Newton convergence factor carried to the next first iteration
    started: jnp.ndarray       # bool: a step has been accepted (the first one sets up DAE slopes)
    nf: jnp.ndarray            # counters (int32): f evaluations by the steps,
    njacs: jnp.ndarray         # Jacobians,
    nfactor: jnp.ndarray       # factorizations,
    nnewton: jnp.ndarray       # Newton iterations,
    nfails: jnp.ndarray        # Newton failures,
    max_order_used: jnp.ndarray  # and the highest order of an accepted step


class FBDF(Multistep):
    """Variable-order, variable-step BDF (orders 1..``max_order`` ≤ 5) in the quasi-constant-step form
    of ode15s, with Jacobian and factorization reuse; ``ndf=True`` uses Klopfenstein–Shampine numerical
    differentiation formulas (ode15s's default) instead of the BDFs.

    ``linsolve``: how the implicit stages solve W = M/(γh) − J: None or 'lu' (dense LU, the default),
    'sparse' (sparse W, block-Jacobi GMRES), 'krylov' (matrix-free GMRES), or a `LinearSolver` instance.
    """

    supports_mass_matrix = True
    adaptive = True
    controller_order = 1           # the first step is order 1 (used for the initial step estimate)
    initial_evals = 1              # f(u0)
    evals_per_step = 2             # an estimate; exact counts come from `state_stats`
    kappa = 0.03                   # Newton stopping tolerance, relative to the error tolerance
    max_newton = 4
    theta_slow = 0.3               # a contraction rate above this counts as slow convergence
    refactor_ratio = 0.3           # refactor W when c/c' − 1 exceeds this
    jac_growth = 5.0               # recompute J when |h| exceeds this multiple of the step that took it
    max_jac_age = 50               # or after this many accepted steps (CVODE's MSBJ is 51)
    safety = 0.9
    max_growth = 10.0
    min_shrink = 0.2
    newton_shrink = 0.25
    uses_refresh = True

    def __init__(self, max_order=MAX_ORDER, ndf=False, linsolve=None):
        if not isinstance(max_order, (int, np.integer)) or isinstance(max_order, bool) or not 1 <= max_order <= MAX_ORDER:
            raise ValueError(f"FBDF: max_order must be an integer from 1 to {MAX_ORDER}; got {max_order!r}")
        self.max_order, self.ndf = int(max_order), bool(ndf)
        self.linsolve = as_linear_solver(linsolve)
        self._gamma, self._alpha, self._error = corrector_constants(NDF_KAPPA if self.ndf else BDF_KAPPA)

    def _config(self):
        options = (("max_order", self.max_order), ("ndf", self.ndf)) + super()._config()
        return options if self.linsolve == DenseLU() else options + (("linsolve", self.linsolve),)

    @property
    def order(self):
        return self.max_order

    @property
    def tolerance_exponent(self):
        # A BDF step of order k estimates its own O(h^(k+1)) local error (no local extrapolation), so its
        # global error is ∝ tol^(k/(k+1)) (see `Algorithm.tolerance_exponent`): control with rtol^((k+1)/k)
        # for the highest order. Measured on OREGO before: 0.8 digits per decade of rtol, Success 0.2–1
        # digit short of −log10(rtol) − 1.5 at rtol 1e-6 … 1e-10 (as scipy's BDF).
        return (self.max_order + 1) / self.max_order

    @property
    def dense_order(self):
        return self.max_order

    @property
    def n_stages(self):
        return self.max_order

    @property
    def interpolant(self):
        return _Interpolant(dense_weights(self.max_order))

    # --- interface -------------------------------------------------------------------------------
    def init(self, f, t0, u0, p):
        """Returns the method's state at (``t0``, ``u0``) for the right-hand side ``f`` and parameters ``p``: the
        backward-difference history (u0, f(u0)), a placeholder Jacobian and its factors, counters."""
        n = u0.shape[0]
        zero = jnp.zeros((), jnp.int32)
        # The history starts at spacing h = 1 with D_1 = f(u0); the first step rescales it to its dt.
        history = jnp.zeros((self.max_order + 3, n), u0.dtype).at[0].set(u0).at[1].set(f(u0, p, t0))
        jac = self.linsolve.initial_jacobian(f, u0, p, t0)
        return BdfState(history=history, h=jnp.asarray(1.0, u0.dtype), order=jnp.ones((), jnp.int32),
                        n_equal=zero, jac=jac, h_jac=jnp.asarray(1.0, u0.dtype), jac_age=zero,
                        factors=self.linsolve.factor(jac, jnp.asarray(1.0, u0.dtype)),
                        c_factored=jnp.asarray(1.0, u0.dtype), need_jac=jnp.asarray(True),
                        need_factor=jnp.asarray(True), eta=jnp.asarray(1.0, u0.dtype),
                        started=jnp.asarray(False), nf=zero, njacs=zero, nfactor=zero, nnewton=zero, nfails=zero,
                        max_order_used=zero)

    def initial_derivative(self, f, t0, u0, p, state):
        """Returns f(``u0``, ``p``, ``t0``), read from the solver ``state`` (which holds it; ``f`` is not called
        again)."""
        return state.history[1]

    def step(self, f, t, u, dt, p, state, error_norm) -> StepResult:
        """One step of size ``dt`` from (``t``, ``u``) with parameters ``p`` and method ``state``; ``f`` is the
        right-hand side (`problems.Terms`, with ``f.mass`` the mass matrix or None) and ``error_norm(err, u, u_new)``
        the scaled norm of the tolerances. Returns a `StepResult` (new state, error estimate, stages for dense output,
        the method state after acceptance and after rejection).
        The Newton corrector reuses the Jacobian and the factorization of W across steps; the order (1..max_order)
        is chosen after each accepted step.
        """
        f = as_terms(f)
        mass = f.mass
        dtype = u.dtype
        const = lambda a: jnp.asarray(a, dtype)
        gamma, alpha, error_const = const(self._gamma), const(self._alpha), const(self._error)
        k = state.order
        t_new = t + dt

        fresh_jac = (state.need_jac | (jnp.abs(dt) > self.jac_growth * state.h_jac)
                     | (state.jac_age >= self.max_jac_age))
        jac = lax.cond(fresh_jac, lambda: self.linsolve.jacobian(f, u, p, t), lambda: state.jac)
        history, extra_evals = state.history, jnp.zeros((), jnp.int32)
        if mass is not None:
            if self.linsolve != DenseLU():
                raise ValueError(f"{self!r}: a mass matrix needs the dense linear solver (linsolve='lu')")
            history, extra_evals = self._dae_start(f, t, u, p, state, jac, mass)

        rescaled = dt != state.h
        history = lax.cond(rescaled, lambda: hist.rescale(history, k, dt / state.h), lambda: history)
        n_equal = jnp.where(rescaled, 0, state.n_equal)

        c = dt / alpha[k]
        psi = hist.weighted_sum(history, gamma, k) / alpha[k]
        y_pred = hist.predict(history, k)

        refactor = fresh_jac | state.need_factor | (jnp.abs(c / state.c_factored - 1.0) > self.refactor_ratio)
        factors = lax.cond(refactor, lambda: self.linsolve.factor(jac, c, mass), lambda: state.factors)
        c_factored = jnp.where(refactor, c, state.c_factored)
        correction = 2.0 * c / (c + c_factored)

        d, iterations, eta, theta_max, converged, refreshed = self._newton(
            f, p, t_new, u, y_pred, psi, c, mass, factors, correction, state.eta, error_norm)
        y_new = y_pred + d
        error = jnp.where(converged, error_const[k] * error_norm(d, u, y_new), jnp.inf)
        accepted_step = error <= 1.0

        new_history = hist.accept(history, k, d)
        new_order, dt_factor_accept, n_equal_accept = self._select(
            new_history, k, error, n_equal + 1, iterations, error_const, u, y_new, error_norm)

        # Rejections: an error-test failure shrinks h; a Newton failure retries with a fresh J (same h)
        # or, when J was fresh already, with a 4× smaller h.
        error_factor = jnp.maximum(self.min_shrink,
                                   self.safety * jnp.where(converged, error, 1.0) ** (-1.0 / (k + 1).astype(dtype)))
        reject_factor = jnp.where(converged, error_factor, jnp.where(fresh_jac, self.newton_shrink, 1.0))
        dt_factor = jnp.where(accepted_step, dt_factor_accept, reject_factor).astype(dtype)

        slow = theta_max > self.theta_slow
        counters = dict(nf=state.nf + iterations + extra_evals,
                        njacs=state.njacs + fresh_jac.astype(jnp.int32) + refreshed,
                        nfactor=state.nfactor + refactor.astype(jnp.int32), nnewton=state.nnewton + iterations,
                        nfails=state.nfails + (~converged).astype(jnp.int32))
        kept = dict(jac=jac, h_jac=jnp.where(fresh_jac, jnp.abs(dt), state.h_jac), factors=factors,
                    c_factored=c_factored,
                    eta=jnp.where(converged, eta, 1.0).astype(dtype))
        accepted = BdfState(
            history=new_history, h=dt, order=new_order, n_equal=n_equal_accept,
            jac_age=jnp.where(fresh_jac, 1, state.jac_age + 1),
            need_jac=slow & refactor, need_factor=slow, started=jnp.asarray(True),
            max_order_used=jnp.maximum(state.max_order_used, k), **kept, **counters)
        rejected = state._replace(need_jac=~converged & ~fresh_jac, need_factor=~converged | slow,
                                  n_equal=n_equal, jac_age=jnp.where(fresh_jac, 0, state.jac_age),
                                  **kept, **counters)
        stages = hist.dense_stages(new_history, k, dt, self.max_order)
        return StepResult(self.failed_step(y_new, converged), error, accepted, stages, rejected,
                          newton_failed=~converged, dt_factor=dt_factor)

    # --- pieces ----------------------------------------------------------------------------------
    def _newton(self, f, p, t_new, u, y_pred, psi, c, mass, factors, correction, eta_old, error_norm):
        dtype = u.dtype
        apply_mass = (lambda v: v) if mass is None else (lambda v: mass @ v)

        def step(d):
            residual = f(y_pred + d, p, t_new) - apply_mass(d + psi) / c
            return correction * self.linsolve.solve(factors, residual)

        size = lambda delta, d: error_norm(delta, u, y_pred + d)
        floor = rounding_floor(lambda v: error_norm(v, u, y_pred), y_pred)
        newton = simplified_newton(step, size, jnp.zeros_like(y_pred), next_eta(eta_old, dtype), self.kappa,
                                   self.max_newton, floor=floor)
        refreshed = jnp.zeros((), jnp.int32)
        if self.refresh_on_failure:
            # Fixed steps (`NewtonImplicit.refresh_on_failure`): where the iteration with the reused J and W
            # failed, iterate again from the predictor with J and W = M/c − J refreshed at every iterate, with
            # no early stop for slowness or growth (a non-finite iterate still stops it); under vmap it runs
            # no iteration unless some trajectory needs it.
            def full_step(d):
                jac_d = self.linsolve.jacobian(f, y_pred + d, p, t_new)
                residual = f(y_pred + d, p, t_new) - apply_mass(d + psi) / c
                return self.linsolve.solve(self.linsolve.factor(jac_d, c, mass), residual)

            retry = simplified_newton(full_step, size, jnp.zeros_like(y_pred), 1.0, self.kappa,
                                      jnp.where(newton.converged, 0, 2 * self.max_newton), divergence=jnp.inf,
                                      stop_when_slow=False, floor=floor)
            keep = lambda a, b: jnp.where(newton.converged, a, b)
            newton = newton._replace(z=keep(newton.z, retry.z), iterations=newton.iterations + retry.iterations,
                                     eta=keep(newton.eta, retry.eta), converged=newton.converged | retry.converged)
            refreshed = retry.iterations
        return (newton.z, newton.iterations, next_eta(newton.eta, dtype), newton.theta_max, newton.converged,
                refreshed)

    def _select(self, history, k, error, n_equal, iterations, error_const, u, y_new, error_norm):
        """(order, step factor, n_equal) after an accepted step: unchanged until k + 1 equal steps,
        then the order k − 1, k or k + 1 allowing the largest next step."""
        dtype = u.dtype
        rows = history.shape[0]
        norm_of = lambda row: error_norm(history[jnp.minimum(row, rows - 1)], u, y_new)
        inf = jnp.asarray(jnp.inf, dtype)
        error_lower = jnp.where(k > 1, error_const[k - 1] * norm_of(k), inf)
        error_higher = jnp.where(k < self.max_order, error_const[jnp.minimum(k + 1, MAX_ORDER + 1)] * norm_of(k + 2), inf)
        errors = jnp.stack([error_lower, error, error_higher])
        exponents = -1.0 / (k + jnp.arange(3)).astype(dtype)
        tiny = jnp.finfo(dtype).tiny
        factors = jnp.where(jnp.isfinite(errors), jnp.maximum(errors, tiny) ** exponents, 0.0)
        best = jnp.argmax(factors)
        safety = self.safety * (2 * self.max_newton + 1) / (2 * self.max_newton + iterations).astype(dtype)
        factor = jnp.minimum(self.max_growth, safety * factors[best])
        ready = n_equal >= k + 1
        new_order = jnp.where(ready, k + best.astype(jnp.int32) - 1, k)
        return new_order, jnp.where(ready, factor, 1.0), jnp.where(ready, 0, n_equal)

    @staticmethod
    def _dae_start(f, t, u, p, state, jac, mass):
        """On the first step, D_1 = the consistent slope y'(t0) (the history is at spacing 1 then)."""
        def slope():
            algebraic = algebraic_mask(mass)
            f_t = time_derivative(f, u, p, t)
            matrix = jnp.where(algebraic[:, None], jac, mass)
            rhs = jnp.where(algebraic, -f_t, state.history[1])
            return jnp.linalg.solve(matrix, rhs)

        first = ~state.started
        d1 = lax.cond(first, slope, lambda: state.history[1])
        return state.history.at[1].set(d1), first.astype(jnp.int32)

    # --- statistics ------------------------------------------------------------------------------
    @staticmethod
    def state_stats(state) -> dict:
        """Exact counters from the final solver state."""
        return {"njacs": state.njacs, "nfactorizations": state.nfactor, "nnonliniter": state.nnewton,
                "nnonlinconvfail": state.nfails, "nf_steps": state.nf, "order": state.order,
                "max_order_used": state.max_order_used}
