"""`DelayRHS`: a DDE's f(u, h, p, t) as the flat right-hand side f(u, q, t) the integration loop runs.

The loop's parameters are q = (p, constant_lags). The loop binds its own accepted steps to the right-hand
side before every step (`with_history`, as for every `RightHandSide` that ``reads_history``); `MethodOfSteps` may add the step it
is iterating on (`with_current_step`) and the step indices near t − τ to start lookups from
(`with_hints`). Unbound (before the loop), h is the user's history function alone.
"""
import jax.numpy as jnp

from ..interpolation.history import CurrentStep, delayed_state, locate
from ..problems.dde import DDEProblem
from ..problems.terms import RightHandSide


class DelayRHS(RightHandSide):
    """f on flat state vectors with the delayed state supplied by `delayed_state`.

    Hashable by (f, h, dependent lags, state layout, interpolant) when unbound, so the compiled loop is
    reused across solves of the same problem functions."""

    jac = None          # implicit methods differentiate f with forward-mode AD (history held fixed)
    sparsity = None
    reads_history = True

    def __init__(self, prob: DDEProblem, spec, interpolant):
        self.f, self.h, self.dependent_lags = prob.f, prob.h, prob.dependent_lags
        self.spec, self.interpolant = spec, interpolant
        self.history = self.current = self.hints = None

    def _bound(self, **bindings):
        bound = object.__new__(DelayRHS)
        bound.__dict__.update(self.__dict__, **bindings)
        return bound

    def with_history(self, history):
        """This right-hand side reading the delayed state from the loop's accepted steps."""
        return self._bound(history=history, current=None, hints=None)

    def with_current_step(self, current):
        """... and, past the last accepted step, from the candidate step ``current`` (a `CurrentStep`)."""
        return self._bound(current=current)

    def with_hints(self, hints):
        """... searching the accepted steps from ``hints`` (from `locate_lags`; they only save work)."""
        return self._bound(hints=hints)

    def locate_lags(self, times, previous):
        """The indices of the accepted steps holding ``times`` (t − τ for each lag), searched from
        ``previous`` (the indices found at the last step)."""
        return locate(self.history, times, previous)

    def last_step(self):
        """The last accepted step as a `CurrentStep` (read past its end, it extrapolates); before the first
        step, the constant u0."""
        ts, us, stages, n = self.history
        i = jnp.maximum(n - 1, 0)
        dt = jnp.where(n > 0, ts[i + 1] - ts[i], 1.0)
        return CurrentStep(ts[i], us[i], dt, jnp.where(n > 0, stages[i], 0.0))

    def history_function(self):
        """h(p, s) as the user's f sees it: a u0-shaped state at time s."""
        spec = self.spec

        def h(p_, s):
            s = jnp.asarray(s, spec.dtype)
            if self.history is None:
                return self.h(p_, s)
            flat = delayed_state(self.interpolant, self.history, self.current,
                                 lambda x: spec.ravel(self.h(p_, x)), s, self.hints)
            return spec.unravel(flat)

        return h

    def __call__(self, u, q, t):
        p, _ = q
        return self.spec.ravel(self.f(self.spec.unravel(u), self.history_function(), p, t))

    def lag_values(self, u, q, t):
        """The delays at the flat state u and time t: the constant lags, then the state-dependent ones."""
        p, constant_lags = q
        return lag_values(constant_lags, self.dependent_lags, self.spec.unravel(u), p, t, self.spec.dtype)

    def _key(self):
        return (self.f, self.h, self.dependent_lags, self.spec, self.interpolant)

    def __eq__(self, other):
        return (isinstance(other, DelayRHS) and self.history is None and other.history is None
                and self._key() == other._key())

    def __hash__(self):
        return hash(self._key())


def lag_values(constant_lags, dependent_lags, u, p, t, dtype):
    """The delays at (u, t): the constant lags, then the state-dependent lags evaluated there."""
    values = [constant_lags.astype(dtype).reshape(-1)]
    values += [jnp.asarray(lag(u, p, t), dtype).reshape(1) for lag in dependent_lags]
    return jnp.concatenate(values)
