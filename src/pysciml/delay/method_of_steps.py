"""`MethodOfSteps(alg)`: an ODE method turned into a DDE method.

Each step runs the wrapped method on f(u, h, p, t) with h read from the accepted steps (`DelayRHS`). The
step's dense output is stored with all its stages, extra interpolation stages included (computed at every
step, so a delayed value never needs further f evaluations). When the step is longer than the smallest
lag, its later stages need the solution inside the step itself: as in DelayDiffEq.jl, the step is then
repeated as a fixed-point iteration, each pass reading the delayed values inside the step from the
previous pass's interpolant (the first pass extrapolates the last accepted step), until two passes agree
to ``fixedpoint_tol`` in units of the tolerances; a step that does not converge in ``max_iters`` passes is
rejected.
"""
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax import lax

from ..interpolation import full_stages
from ..solvers.base import NON_ITERATIVE, Algorithm, StepResult, Wrapped
from ..interpolation.history import CurrentStep
from ..problems.terms import as_terms


@dataclass(frozen=True)
class StoredInterpolant:
    """The wrapped method's interpolant over stored stages (extras included), so none are evaluated lazily."""
    dense_weights: tuple
    c_extra: tuple = ()
    a_extra: tuple = ()


class MethodOfSteps(Wrapped):
    """A delay differential equation method built on ``alg``: an explicit Runge–Kutta method (Tsit5, Vern7,
    DP5, BS3, RK4, ...) or a Rosenbrock method (Rodas5P, Rodas4, Rosenbrock23) for stiff DDEs.

    max_iters: passes of the fixed-point iteration on steps longer than the smallest lag; fixedpoint_tol:
    the change between passes (in units of rtol/atol) at which it stops."""


    def __init__(self, alg, max_iters: int = 10, fixedpoint_tol: float = 0.1):
        if isinstance(alg, type) and issubclass(alg, Algorithm):
            alg = alg()
        if not isinstance(alg, Algorithm):
            raise TypeError(f"MethodOfSteps: alg must be an ODE method such as pysciml.Tsit5(); got {alg!r}")
        if not isinstance(alg, NON_ITERATIVE):
            raise ValueError(f"MethodOfSteps: {alg!r} is not supported; wrap an explicit Runge–Kutta method "
                             "(Tsit5, Vern7, DP5, BS3, RK4, ...) or a Rosenbrock method (Rodas5P, Rodas4, "
                             "Rosenbrock23)")
        if not isinstance(max_iters, int) or isinstance(max_iters, bool) or max_iters < 1:
            raise ValueError(f"MethodOfSteps: max_iters must be a positive integer; got {max_iters!r}")
        if not isinstance(fixedpoint_tol, (int, float)) or not 0 < fixedpoint_tol < 1:
            raise ValueError(f"MethodOfSteps: fixedpoint_tol must be a number in (0, 1); got {fixedpoint_tol!r}")
        self.alg, self.max_iters, self.fixedpoint_tol = alg, max_iters, float(fixedpoint_tol)
        self.wrapped = (alg,)
        self.interpolant = StoredInterpolant(tuple(tuple(row) for row in alg.interpolant.dense_weights))
        self.n_extra = len(alg.interpolant.c_extra)

    def _config(self):
        return (("alg", self.alg), ("max_iters", self.max_iters), ("fixedpoint_tol", self.fixedpoint_tol))

    # --- properties of the wrapped method --------------------------------------------------------------
    order = property(lambda self: self.alg.order)
    dense_order = property(lambda self: self.alg.dense_order)
    adaptive = property(lambda self: self.alg.adaptive)
    controller_order = property(lambda self: self.alg.controller_order)
    initial_evals = property(lambda self: self.alg.initial_evals)

    @property
    def n_stages(self) -> int:
        return self.alg.n_stages + self.n_extra

    @property
    def evals_per_step(self) -> int:
        return self.alg.evals_per_step + self.n_extra

    # --- stepping ----------------------------------------------------------------------------------------
    def init(self, f, t0, u0, p):
        """Returns the method's state at (``t0``, ``u0``) for the right-hand side ``f`` and parameters ``p``: the
        wrapped method's state, the f-evaluation and fixed-point-pass counters, and the hints locating each lag in
        the history."""
        zero = jnp.zeros((), jnp.int32)
        hints = jnp.zeros(jax.eval_shape(f.lag_values, u0, p, t0).shape, jnp.int32)
        # method state, f evaluations, extra passes, the steps holding t − τ for each lag (see `locate`)
        return self.alg.init(f, t0, u0, p), zero, zero, hints

    def initial_derivative(self, f, t0, u0, p, state):
        """Returns f(``u0``, h, ``p``, ``t0``) from the wrapped method (its ``state`` is the first entry of this
        one's; ``f`` the DDE terms)."""
        return self.alg.initial_derivative(f, t0, u0, p, state[0])

    def step(self, f, t, u, dt, p, state, error_norm) -> StepResult:
        """One step of size ``dt`` from (``t``, ``u``) with parameters ``p`` and method ``state``; ``f`` is the
        right-hand side (`problems.Terms`, with ``f.mass`` the mass matrix or None) and ``error_norm(err, u, u_new)``
        the scaled norm of the tolerances. Returns a `StepResult` (new state, error estimate, stages for dense output,
        the method state after acceptance and after rejection).
        A step longer than the smallest lag reads its own interpolant: it is iterated to a fixed point (up to
        ``max_iters`` passes, to ``fixedpoint_tol``), and rejected when the iteration does not settle.
        """
        f = as_terms(f)
        mass = f.mass
        inner_state, n_evals, n_passes, hints = state
        lags = f.lag_values(u, p, t)
        hints = f.locate_lags(t - lags, hints)
        f = f.with_hints(hints)
        overlaps = jnp.abs(dt) > jnp.min(lags) * (1 + 1e-10)

        def run_pass(current):
            g = as_terms(f.with_current_step(current), mass)
            result = self.alg.step(g, t, u, dt, p, inner_state, error_norm)
            return result._replace(stages=full_stages(self.alg.interpolant, g, p, t, dt, u, result.stages))

        def more(carry):   # overlaps again: under vmap the cond becomes a select that runs the loop too
            k, _, change = carry
            return overlaps & (k <= self.max_iters) & (change > self.fixedpoint_tol)

        def again(carry):
            k, previous, _ = carry
            new = run_pass(CurrentStep(t, u, dt, previous.stages))
            change = error_norm(new.u - previous.u, u, new.u).astype(new.error.dtype)
            return k + 1, new, change

        # The first pass reads past the last accepted step by extrapolating it. Only a step longer than a
        # lag iterates, each pass reading the previous one's interpolant. The loop sits behind a cond: on
        # its own, even when it runs no pass, it costs about a pass per step (XLA hoists the loop-invariant
        # lookups out of it). One traced pass in the loop keeps the compiled program small.
        first = run_pass(f.last_step())
        start = (jnp.ones((), jnp.int32), first, jnp.asarray(jnp.inf, first.error.dtype))
        passes, result, change = lax.cond(overlaps, lambda: lax.while_loop(more, again, start), lambda: start)
        converged = ~overlaps | (change <= self.fixedpoint_tol)
        # A step whose iteration did not settle is rejected (and retried smaller by the controller).
        error = jnp.where(converged, result.error, jnp.maximum(result.error, 10.0))
        counted = (n_evals + passes * self.evals_per_step, n_passes + passes - 1, hints)
        return result._replace(error=error, state=(result.state,) + counted,
                               rejected_state=((inner_state if result.rejected_state is None
                                                else result.rejected_state),) + counted)

    def state_stats(self, state) -> dict:
        """Returns the exact counters in the final ``state``: ``nf_steps`` (f evaluations of the steps) and
        ``fixedpoint_passes``."""
        _, n_evals, n_passes, _ = state
        return {"nf_steps": n_evals, "fixedpoint_passes": n_passes}

    def extra_stats(self, n_steps, n_accepted) -> dict:
        """Returns the wrapped method's counters for ``n_steps`` attempted and ``n_accepted`` accepted steps."""
        return self.alg.extra_stats(n_steps, n_accepted)
