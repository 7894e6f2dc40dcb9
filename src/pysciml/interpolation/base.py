"""The base of every interpolant: stored Runge–Kutta steps read at any time with the method's own
continuous extension (`local`).

A subclass says which step holds a time s (`step_at`); `evaluate` then reads the state there. Three kinds
exist: `DenseOutput` (a whole solution's steps, `sol(t)` and the adjoints), `StepHistory` (the loop's
accepted steps so far, read by delay equations) and `CurrentStep` (one candidate step). Subclasses are
NamedTuples of arrays (pytrees) that also derive from `Interpolant`.
"""
import jax.numpy as jnp

from .local import evaluate_step, full_stages


class Interpolant:
    """Steps that can be evaluated at any time they cover. ``method`` is the interpolant of the method
    (``alg.interpolant``: dense weights and extra stages)."""
    __slots__ = ()

    def step_at(self, s, hints=None):
        """Returns (start time, start state, step size, stages) of the step holding time ``s``; ``hints``: step
        indices near s to search from (for interpolants that use them), or None."""
        raise NotImplementedError

    def evaluate(self, method, s, f=None, p=None, hints=None):
        """The state at time ``s``. With ``f`` and ``p`` the stored stages are completed by the extra stages
        the interpolant needs (evaluated lazily, only for the step read); without, they must be complete.
        ``method``: the method's interpolant (weights and extra stages); ``hints``: as for `step_at`. Returns the
        flat state."""
        start, u, h, stages = self.step_at(s, hints)
        if f is not None:
            stages = full_stages(method, f, p, start, h, u, stages)
        return evaluate_step(method, u, h, stages, (s - start) / jnp.where(h == 0, 1.0, h))
