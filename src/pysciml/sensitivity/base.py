"""The contract of a sensitivity method: what `solve` asks of the object passed as ``sensealg=``.

A new method is one subclass: `check` refuses, before anything compiles, the solves it cannot serve, and
`run` wraps the integration loop (handed over in a `SolveContext`) in a custom differentiation rule. Nothing
else in the package names the method: `solve` and `default_sensealg` only call these two.
"""
import abc


class SensitivityAlgorithm(abc.ABC):
    """Base of every sensitivity method. Subclasses are frozen dataclasses, hashable and equal by value
    (they are static arguments of the compiled backward passes)."""

    def check(self, alg, save_mode, has_mass, has_callbacks):
        """Raise a ValueError naming what to use instead when this method cannot differentiate the solve. The
        default suits methods built on the continuous sensitivity equations, which neither jump with the state at
        events nor handle mass matrices. ``alg``: the solver method (None when not known); ``save_mode``: how the
        solve saves ("ends", "saveat" or "steps"); ``has_mass``: whether the problem has a mass matrix;
        ``has_callbacks``: whether the solve has callbacks. Returns None when the method serves the solve."""
        name = type(self).__name__
        if has_callbacks:
            raise ValueError(f"sensealg={name}() cannot differentiate through callbacks (its continuous "
                             "equations do not jump with the state at events); use ForwardDiffSensitivity(), "
                             "which differentiates the solver and its event times exactly")
        if has_mass:
            raise ValueError(f"sensealg={name}() does not handle mass matrices (DAEs); use "
                             "ForwardDiffSensitivity(), or DiscreteAdjoint() with a Rosenbrock method")

    @abc.abstractmethod
    def run(self, ctx, inputs):
        """The loop's outputs for ``inputs`` (LoopInputs), differentiable with respect to (u0, t0, t1, p) by
        this method. ``ctx`` is the `SolveContext`: ``ctx.make_loop(rhs, alg, cfg)`` builds compiled loops.
        Returns the `LoopOutput`."""
