"""Automatic stiffness switching: a non-stiff explicit method that hands over to a stiff one and back.

`AutoSwitch(nonstiff, stiff)` takes each step with one of its two methods. While explicit, it estimates
the dominant eigenvalue of ∂f/∂u from two stages at the same time (Hairer & Wanner, Solving ODEs II,
IV.2: ρ ≈ ‖k_s − k_{s−1}‖ / ‖g_s − g_{s−1}‖, with ‖·‖ the error norm's weighted RMS norm, weights
atol + rtol·|u|: an unweighted norm is dominated by the large components, and on E5 of the stiff test set,
where y1 ~ 1e-3 moves slowly and the stiff modes live in y3, y4 ~ 1e-10, it gave h·ρ ≈ 0.1–0.3 of the
boundary while the steps sat on it, so AutoTsit5 took 1832 explicit steps before switching at rtol 1e-6
and ran into MaxIters at 1e-8; weighted: 36 steps, and Success at every rtol) and switches to the stiff method after ``max_stiff_steps``
accepted steps with h·ρ above ``stiff_tol`` times the explicit method's stability boundary. The count is
cleared only after ``stiff_reset_steps`` consecutive steps below it, as in Hairer's DOPRI5 (15 positive tests,
cleared after 6 negative ones; Hairer & Wanner II, IV.2, and Shampine & Hiebert, "Detecting stiffness with the
Fehlberg (4,5) formulas", Comp. & Maths. with Appls. 3 (1977) 41–46): once stiffness limits the step, the
step-size controller oscillates about the stability boundary (h·ρ swings between ~0.6 and ~1.5 of it on
Robertson's problem), so a count cleared by any single step below the boundary (OrdinaryDiffEq's rule,
whose componentwise-max estimate overshoots more) rarely reached 10: the default solve of Robertson on
[0, 1e5] took 108 explicit steps and 28 rejections before switching, against ~20 with the hysteresis.
While stiff, it
estimates ρ as the infinity norm of the stiff method's Jacobian bound by one power-iteration product and
switches back after ``max_nonstiff_steps`` steps where the explicit method would be stable at the same h.
This is the LSODA idea with OrdinaryDiffEq's defaults (10 and 3 steps, tolerance 9/10) and DOPRI5's reset
after 6 non-stiff steps.

Both methods' stage vectors are stored side by side (the inactive ones zero), so one dense-output table
serves every step. When the explicit method's interpolant evaluates extra stages lazily (Vern7), they are
evaluated only for steps the explicit method took (its stage slots are zero on stiff steps). The stiff
method's own state (Jacobians kept for reuse, FSAL values) travels along and is re-initialised at the
current point after each switch to it. Error norms are rescaled to the explicit method's order, so one
controller serves both.
"""
import copy
from typing import NamedTuple

import jax.numpy as jnp
from jax import lax

from ..linalg import jacobian
from ..interpolation import full_stages
from .base import ExplicitRungeKutta, LinearlyImplicit, Multistep, NewtonImplicit, StepResult, Wrapped
from .explicit import Tsit5, Vern7
from ..problems.terms import as_terms


class _Interpolant(NamedTuple):
    """Dense output of the side-by-side stage layout [explicit stages, stiff stages, explicit extras]."""
    dense_weights: tuple
    explicit: object          # the explicit method's interpolant
    n_explicit: int
    n_stiff: int

    @property
    def c_extra(self):
        return self.explicit.c_extra

    def extra_stages(self, f, p, t0, h, u0, stages):
        k = stages[:self.n_explicit]
        took_explicit_step = jnp.any(k != 0)
        n_extra = len(self.explicit.c_extra)
        extras = lax.cond(took_explicit_step,
                          lambda: full_stages(self.explicit, f, p, t0, h, u0, k)[self.n_explicit:],
                          lambda: jnp.zeros((n_extra,) + u0.shape, u0.dtype))
        return jnp.concatenate([stages, extras])


class SwitchState(NamedTuple):
    stiff: jnp.ndarray            # bool: the stiff method is active
    stiff_state: object           # the stiff method's own state
    fresh: jnp.ndarray            # bool: re-initialise the stiff state at the next stiff step
    count: jnp.ndarray            # steps asking for a switch (consecutive while stiff; see stiff_reset_steps)
    calm: jnp.ndarray             # consecutive explicit steps not asking for a switch
    fsal: jnp.ndarray             # f(u) at the current state (the explicit method's first stage)
    nf: jnp.ndarray               # f evaluations made by the steps so far
    switches: jnp.ndarray         # number of switches so far
    stiff_steps: jnp.ndarray      # steps taken by the stiff method


class AutoSwitch(Wrapped):
    """Switch between ``nonstiff`` (an explicit method) and ``stiff`` (an implicit one) as the problem
    demands. `AutoTsit5(Rodas5P())` is the usual choice. ``max_stiff_steps`` (10): stiff tests (h·ρ above
    ``stiff_tol`` (0.9) times the explicit stability boundary) before switching to ``stiff``; the count is
    cleared after ``stiff_reset_steps`` (6) non-stiff tests in a row. ``max_nonstiff_steps`` (3): consecutive
    steps the explicit method would be stable at before switching back."""

    adaptive = True

    def __init__(self, nonstiff, stiff, max_stiff_steps=10, max_nonstiff_steps=3, stiff_tol=0.9,
                 stiff_reset_steps=6):
        if not isinstance(nonstiff, ExplicitRungeKutta) or not nonstiff.adaptive:
            raise TypeError(f"AutoSwitch: nonstiff must be an adaptive explicit method; got {nonstiff!r}")
        if not isinstance(stiff, (LinearlyImplicit, NewtonImplicit)):
            raise TypeError(f"AutoSwitch: stiff must be an implicit method such as Rodas5P(); got {stiff!r}")
        if isinstance(stiff, Multistep):
            raise TypeError(f"AutoSwitch: {stiff!r} is a multistep method whose history cannot take over "
                            "mid-solve; use a one-step stiff method such as Rodas5P()")
        if nonstiff.tableau.c[-1] != nonstiff.tableau.c[-2]:
            raise ValueError(f"AutoSwitch: {nonstiff!r} needs two final stages at the same time (for its "
                             "eigenvalue estimate); use Tsit5(), DP5(), Vern7() or Vern9()")
        for name, count in (("max_stiff_steps", max_stiff_steps), ("max_nonstiff_steps", max_nonstiff_steps),
                            ("stiff_reset_steps", stiff_reset_steps)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(f"AutoSwitch: {name} must be a positive integer (a number of steps); got {count!r}")
        self.nonstiff, self.stiff = nonstiff, stiff
        self.wrapped = (nonstiff, stiff)
        self.max_stiff_steps, self.max_nonstiff_steps, self.stiff_tol = max_stiff_steps, max_nonstiff_steps, stiff_tol
        self.stiff_reset_steps = stiff_reset_steps

    def _key(self):
        return (type(self), self.nonstiff, self.stiff, self.max_stiff_steps, self.max_nonstiff_steps, self.stiff_tol,
                self.stiff_reset_steps)

    def __eq__(self, other):
        return isinstance(other, AutoSwitch) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return f"AutoSwitch({self.nonstiff!r}, {self.stiff!r})"

    @property
    def linear_solver(self):
        return self.stiff.linear_solver

    def with_linear_solver(self, linsolve):
        """Returns a copy of this switch whose stiff half uses the linear solver ``linsolve`` (a `LinearSolver`,
        e.g. ``DenseLU(refine=True)``); `solve` uses it to switch refinement on. The original is unchanged."""
        method = copy.copy(self)
        method.stiff = self.stiff.with_linear_solver(linsolve)
        method.wrapped = (self.nonstiff, method.stiff)
        return method

    # --- interface -------------------------------------------------------------------------------
    @property
    def order(self):
        return self.nonstiff.order

    @property
    def dense_order(self):
        return min(self.nonstiff.dense_order, self.stiff.dense_order)

    @property
    def controller_order(self):
        return self.nonstiff.controller_order

    @property
    def tolerance_exponent(self):
        # One error norm serves both parts: the stricter transform (the order-2 stiff part's) for both.
        return max(self.nonstiff.tolerance_exponent, self.stiff.tolerance_exponent)

    @property
    def n_stages(self):
        return self.nonstiff.n_stages + self.stiff.n_stages

    @property
    def evals_per_step(self):
        return self.nonstiff.evals_per_step     # the exact count comes from the state (state_stats)

    initial_evals = 1

    @property
    def interpolant(self):
        explicit = self.nonstiff.interpolant
        width = max(len(explicit.dense_weights[0]), len(self.stiff.interpolant.dense_weights[0]))
        pad = lambda rows: tuple(tuple(row) + (0.0,) * (width - len(row)) for row in rows)
        n_exp = self.nonstiff.n_stages
        weights = pad(explicit.dense_weights[:n_exp]) + pad(self.stiff.interpolant.dense_weights) + pad(
            explicit.dense_weights[n_exp:])
        return _Interpolant(weights, explicit, n_exp, self.stiff.n_stages)

    def init(self, f, t0, u0, p):
        """The switching state at (``t0``, ``u0``) for the right-hand side ``f`` and parameters ``p``: starts
        non-stiff, with the stiff method's state, zeroed counters and f(u0) as the first FSAL value. Returns the
        `SwitchState`."""
        zero = jnp.zeros((), jnp.int32)
        return SwitchState(jnp.asarray(False), self.stiff.init(f, t0, u0, p), jnp.asarray(False), zero, zero,
                           f(u0, p, t0), zero, zero, zero)

    def initial_derivative(self, f, t0, u0, p, state):
        """f(``u0``, ``p``, ``t0``) for the initial step estimate: returns the value ``init`` stored in ``state``
        (no new evaluation of ``f``)."""
        return state.fsal

    def step(self, f, t, u, dt, p, state, error_norm):
        """One step of the method in use (the non-stiff one, or the stiff one after a switch) from (``t``,
        ``u``) with step ``dt`` and parameters ``p``, followed by the stiffness test: the explicit method estimates
        |dt|·ρ(J) from two stages at the same time, the stiff one bounds ρ by ‖J‖∞; ``stiff_tol`` times the
        explicit method's stability boundary is the threshold, with hysteresis (see the module docstring).
        ``f``: the right-hand side (no mass matrix); ``state``: the `SwitchState`; ``error_norm(err, u, u_new)``:
        the scaled error norm (the stiff method's error is rescaled to the explicit method's order, so that one
        controller serves both). Returns the `StepResult`, whose state records a switch once the counters reach
        ``max_stiff_steps`` / ``max_nonstiff_steps``."""
        if as_terms(f).mass is not None:
            raise ValueError("AutoSwitch: a mass matrix needs a purely implicit method such as Rodas5P()")
        explicit, implicit = self.nonstiff, self.stiff
        boundary = explicit.tableau.stability_boundary
        q_explicit, q_stiff = explicit.controller_order + 1, implicit.controller_order + 1
        n_exp, n_imp = explicit.n_stages, implicit.n_stages

        fsal_method = explicit.tableau.fsal

        def explicit_step(_):
            r = explicit.step(f, t, u, dt, p, state.fsal, error_norm)
            k = r.stages
            tab = explicit.tableau
            # two stages at the same time c = 1: g_s − g_{s−1} = h Σ (a_sj − a_{s−1,j}) k_j
            diff = [x - y for x, y in zip(tab.a[-1] + (0.0,), tab.a[-2] + (0.0, 0.0))]
            dg = dt * jnp.tensordot(jnp.asarray(diff[: k.shape[0]], k.dtype), k, axes=1)
            # Measured in the error norm's weights (atol + rtol|u|), so that the components the tolerances
            # resolve carry the estimate (see the module docstring: E5).
            rho = error_norm(k[-1] - k[-2], u, r.u) / jnp.maximum(error_norm(dg, u, r.u), 1e-300)
            wants_switch = jnp.abs(dt) * rho > self.stiff_tol * boundary
            stages = jnp.concatenate([k, jnp.zeros((n_imp,) + u.shape, u.dtype)])
            fsal = r.state if fsal_method else jnp.zeros_like(u)
            evals = jnp.asarray(explicit.evals_per_step, jnp.int32)
            return (r.u, r.error, fsal, stages, wants_switch, evals, state.stiff_state, state.stiff_state,
                    jnp.asarray(False))

        def stiff_step(_):
            own = lax.cond(state.fresh, lambda: implicit.init(f, t, u, p), lambda: state.stiff_state)
            r = implicit.step(f, t, u, dt, p, own, error_norm)
            kept = own if r.rejected_state is None else r.rejected_state
            fsal = f(r.u, p, t + dt) if fsal_method else jnp.zeros_like(u)
            jac = jacobian(f, u, p, t)
            rho = jnp.max(jnp.sum(jnp.abs(jac), axis=1))   # ‖J‖∞ ≥ spectral radius
            wants_switch = jnp.abs(dt) * rho < self.stiff_tol * boundary
            # rescale the error to the explicit method's order: one controller exponent serves both
            error = jnp.where(r.error > 0, r.error ** (q_explicit / q_stiff), r.error)
            stages = jnp.concatenate([jnp.zeros((n_exp,) + u.shape, u.dtype), r.stages])
            evals = _step_evals(implicit, own, r.state) + int(fsal_method)
            # Rosenbrock methods solve no nonlinear system: nothing can fail to converge.
            newton_failed = jnp.asarray(False) if r.newton_failed is None else r.newton_failed
            return r.u, error, fsal, stages, wants_switch, evals, r.state, kept, newton_failed

        u_new, error, fsal, stages, wants_switch, evals, stiff_state, kept, newton_failed = lax.cond(
            state.stiff, stiff_step, explicit_step, None)
        # Explicit: positives accumulate until stiff_reset_steps negatives in a row (hysteresis, see the
        # module docstring); stiff: consecutive positives. Only accepted steps count (the rejected state
        # below keeps both counters), as in DOPRI5.
        calm = jnp.where(wants_switch | state.stiff, 0, state.calm + 1)
        cleared = state.stiff | (calm >= self.stiff_reset_steps)
        count = jnp.where(wants_switch, state.count + 1, jnp.where(cleared, 0, state.count))
        limit = jnp.where(state.stiff, self.max_nonstiff_steps, self.max_stiff_steps)
        switch = count >= limit
        stiff = jnp.where(switch, ~state.stiff, state.stiff)
        nf = state.nf + evals
        fresh = (switch & stiff) | (state.fresh & ~state.stiff)
        accepted = SwitchState(stiff, stiff_state, fresh, jnp.where(switch, 0, count), jnp.where(switch, 0, calm),
                               fsal, nf,
                               state.switches + switch.astype(jnp.int32),
                               state.stiff_steps + state.stiff.astype(jnp.int32))
        rejected = state._replace(nf=nf, stiff_steps=accepted.stiff_steps, stiff_state=kept,
                                  fresh=state.fresh & ~state.stiff)
        return StepResult(u_new, error, accepted, stages, rejected, newton_failed=newton_failed)

    def state_stats(self, state):
        """Counters of the final ``state``: returns a dict with ``nf_steps`` (exact f evaluations of the steps),
        ``switches`` (switches made), ``stiff_steps`` (steps taken by the stiff method) and ``njacs``."""
        # Jacobians: the stiff method's (one per step unless it keeps count) and one per stiff step for the
        # eigenvalue bound; a stiff method's own counters restart when it is re-initialised after a switch.
        own = self.stiff.state_stats(state.stiff_state) if state.stiff_state is not None else {}
        njacs = own.get("njacs", state.stiff_steps) + state.stiff_steps
        return {"nf_steps": state.nf, "switches": state.switches, "stiff_steps": state.stiff_steps, "njacs": njacs}


def _step_evals(method, before, after):
    """f evaluations of one step of ``method``: exact from its counters when it keeps them."""
    counted = method.state_stats(after).get("nf_steps") if after is not None else None
    if counted is None:
        return jnp.asarray(method.evals_per_step, jnp.int32)
    return (counted - method.state_stats(before)["nf_steps"]).astype(jnp.int32)


def AutoTsit5(stiff, **options):
    """Tsit5 while the problem is non-stiff, ``stiff`` (e.g. Rosenbrock23()) while it is stiff. ``options``: the
    keywords of `AutoSwitch` (stiff_tol, max_stiff_steps, ...). Returns the `AutoSwitch` method."""
    return AutoSwitch(Tsit5(), stiff, **options)


def AutoVern7(stiff, **options):
    """Vern7 while the problem is non-stiff, ``stiff`` (e.g. Rodas5P()) while it is stiff: for tight
    tolerances. ``options``: the keywords of `AutoSwitch` (stiff_tol, max_stiff_steps, ...). Returns the
    `AutoSwitch` method."""
    return AutoSwitch(Vern7(), stiff, **options)
