"""The sensitivity methods a user picks with ``solve(..., sensealg=...)``, and which solves they accept.

Every method is reached through `jax.grad` / `jax.vjp` / `jax.jacrev`; the forward methods also through
`jax.jvp` / `jax.jacfwd`. They differ in cost and memory (n states, m parameters, S steps):

| method                         | cost of a gradient            | memory            | exact for the discrete solve |
|--------------------------------|-------------------------------|-------------------|------------------------------|
| ForwardDiffSensitivity()       | one solve with n+m+2 tangents | O(1) in S         | yes                          |
| DiscreteAdjoint(checkpoints=C) | forward + re-run + one VJP per step | C + S/C states | yes                       |
| ForwardSensitivity()           | one solve of n(n+m+1) states  | O(1) in S         | no (continuous equations)    |
| BacksolveAdjoint()             | forward + backward of 2n+m    | O(1) in S         | no; unstable for some f      |
| InterpolatingAdjoint()         | forward + backward of n+m     | O(S) dense output | no                           |
| InterpolatingAdjoint(checkpointing=True) | + one re-solve      | one segment       | no                           |
| QuadratureAdjoint()            | forward + backward of n, then quadrature | O(S) twice | no                      |
| GaussAdjoint()                 | forward + backward of n with the parameter integral accumulated per step | O(S) | no |

Forward methods win for few states and parameters (≲ 100 together); adjoints win for many parameters
(neural networks). DiscreteAdjoint is the exact gradient of what was computed, at a fixed cost per step
and without a backward solve whose own error could mislead an optimizer; it needs methods without Newton
iterations (explicit Runge–Kutta, Rosenbrock, and switches between them). The continuous adjoints also
serve ESDIRK, Radau and BDF solves of stiff problems. `seminorm=True` leaves the parameter integral out of the adjoint's error control
(fewer steps; the integral is still computed by the method's quadrature on each step). BacksolveAdjoint
re-integrates the state backwards, which is unstable for dissipative or chaotic systems; it resets the
state to the forward values at every save point to limit the drift.

Every method accepts every save mode, the default one included (every accepted step saved, dense output).
There the save points of the continuous adjoints are the forward solve's own accepted steps: λ jumps by
the cotangent of each saved state at its step's time, and the cotangent of a dense-output value sol(t)
reaches the stored stages of its step, which `stages` pulls back exactly through that step to its start
state (the continuous adjoint carries it on from there). Step times are chosen by the controller and are
not differentiated, except the first (t0) and the last (t1).
"""
import abc
from dataclasses import dataclass

from . import discrete
from .adjoint import adjoint_solve, backsolve_segment, gauss_segment, interpolating_segment, quadrature_segment
from .base import SensitivityAlgorithm
from .discrete import discrete_adjoint_solve
from .sde_adjoint import sde_backsolve
from .forward import ad_jacobian, forward_solve, sensitivity_equations_jacobian


class ForwardMethod(SensitivityAlgorithm):
    """A forward method: a `jax.custom_jvp` rule (see `forward`) that computes the whole sensitivity matrix
    of the outputs; a subclass says how (`jacobian`)."""

    def run(self, ctx, inputs):
        """The loop's outputs for ``inputs``, differentiable by forward sensitivities (the solve carries
        the tangents; loops built through ``ctx``, the `SolveContext`). Returns the `LoopOutput`."""
        return forward_solve(self, ctx, inputs)

    @abc.abstractmethod
    def jacobian(self, ctx, split, diff, rest):
        """Returns (outputs, {field: Jacobian of that float output field, trailing axis the flat inputs}) of
        the loop for ``ctx`` (the `SolveContext`); ``split``, ``diff``, ``rest`` separate the differentiated inputs
        from the others. A subclass says how.
        """


@dataclass(frozen=True)
class ForwardDiffSensitivity(ForwardMethod):
    """Forward-mode AD through the solver: the exact derivative of the discrete solution, all
    directions at once (the Jacobian is formed, so reverse mode works as well). Works with every save
    mode, dense output, mass matrices and callbacks."""

    def check(self, alg, save_mode, has_mass, has_callbacks):
        """Raise a ValueError naming what to use instead when this method cannot differentiate the solve by
        ``alg`` in ``save_mode`` (``has_mass``: a mass matrix; ``has_callbacks``: events or callbacks). Returns None.
        Forward-mode AD through the solver serves every solve, so nothing is refused.
        """
        pass

    def jacobian(self, ctx, split, diff, rest):
        """Returns (outputs, {field: Jacobian of that float output field, trailing axis the flat inputs}) of
        the loop for ``ctx`` (the `SolveContext`); ``split``, ``diff``, ``rest`` separate the differentiated inputs
        from the others. Here by forward-mode AD through the solver (all directions at once).
        """
        return ad_jacobian(ctx, split, diff, rest)


@dataclass(frozen=True)
class DiscreteAdjoint(SensitivityAlgorithm):
    """Reverse-mode differentiation of the solver's steps: the exact gradient of the discrete solution.
    ``checkpoints`` states are stored during the solve (default √max_steps); the reverse pass re-runs the
    steps between two checkpoints and pulls the cotangent back through them one step at a time."""
    checkpoints: int | None = None

    def __post_init__(self):
        if self.checkpoints is not None and (isinstance(self.checkpoints, bool) or not isinstance(
                self.checkpoints, int) or self.checkpoints < 1):
            raise ValueError(f"DiscreteAdjoint: checkpoints must be a positive integer or None; got "
                             f"{self.checkpoints!r}")

    def check(self, alg, save_mode, has_mass, has_callbacks):
        # Every save mode, dense output and mass matrices (with Rosenbrock methods) are served.
        """Raise a ValueError naming what to use instead when this method cannot differentiate the solve by
        ``alg`` in ``save_mode`` (``has_mass``: a mass matrix; ``has_callbacks``: events or callbacks). Returns None.
        Refused: methods that iterate (Newton, iterative linear solvers). Callbacks are checked when the solve
        runs (`discrete.check_callbacks`: affects at preset, periodic or discrete times are replayed; continuous
        events, SavingCallbacks and affects that change p are refused).
        """
        if alg is not None and not discrete.supports(alg):
            raise ValueError(f"sensealg=DiscreteAdjoint() differentiates the solver's steps, which {alg!r} "
                             "computes by iteration (Newton, or an iterative linear solver); use an explicit or "
                             "Rosenbrock method with linsolve='lu' (e.g. Rodas5P()), or a continuous adjoint "
                             "such as GaussAdjoint() or InterpolatingAdjoint()")

    def run(self, ctx, inputs):
        """Returns the loop's outputs for ``inputs`` (LoopInputs), differentiable with respect to (u0, t0, t1, p)
        by reverse-mode differentiation of the solver's steps, replayed from checkpoints. ``ctx`` is the `SolveContext`.
        """
        return discrete_adjoint_solve(self, ctx, inputs)


@dataclass(frozen=True)
class ForwardSensitivity(ForwardMethod):
    """The forward sensitivity equations S' = (∂f/∂u) S + ∂f/∂p solved alongside u (Jacobian–vector
    products, never the Jacobian), with error control on u and S together."""

    def jacobian(self, ctx, split, diff, rest):
        """Returns (outputs, {field: Jacobian of that float output field, trailing axis the flat inputs}) of
        the loop for ``ctx`` (the `SolveContext`); ``split``, ``diff``, ``rest`` separate the differentiated inputs
        from the others. Here by solving the forward sensitivity equations alongside u.
        """
        return sensitivity_equations_jacobian(ctx, split, diff, rest)


class ContinuousAdjoint(SensitivityAlgorithm):
    """An adjoint ODE solved backwards from save point to save point (see `adjoint`). A subclass says how
    one segment is carried back (`segment`) and whether the forward pass keeps its dense trajectory."""

    keeps_trajectory = False      # the forward pass stores its dense output for the backward solves
    adjoint_has_parameters = False  # the parameter integral is a block of the adjoint state (couples all states)

    def check(self, alg, save_mode, has_mass, has_callbacks):
        """Raise a ValueError naming what to use instead when this adjoint cannot differentiate the solve: the base
        checks (no callbacks, no mass matrix), and no parameter integral carried with the adjoint when the method's
        sparse linear solver needs the adjoint's sparsity. ``alg``: the solver method (None when not known);
        ``save_mode``: how the solve saves ("ends", "saveat" or "steps"); ``has_mass``: whether the problem has a
        mass matrix; ``has_callbacks``: whether the solve has callbacks. Returns None when the adjoint serves the
        solve."""
        name = type(self).__name__
        if has_callbacks:
            super().check(alg, save_mode, has_mass, has_callbacks)
        if self.adjoint_has_parameters and _needs_sparsity(alg):
            raise ValueError(f"sensealg={name}() integrates the parameter integral with the adjoint, which "
                             f"couples every state and gives the sparse linear solver of {alg!r} nothing to "
                             "color; use GaussAdjoint() or QuadratureAdjoint() (adjoint of the states only, "
                             "transposed sparsity), or linsolve='krylov'")
        super().check(alg, save_mode, has_mass, has_callbacks)

    def run(self, ctx, inputs):
        """The loop's outputs for ``inputs``, differentiable by this adjoint: the forward solve, then the
        adjoint equations backwards (loops built through ``ctx``, the `SolveContext`). Returns the `LoopOutput`."""
        return adjoint_solve(self, ctx, inputs)

    @abc.abstractmethod
    def segment(self, backward, lam, mu, t_hi, t_lo, u_hi, u_lo):
        """Carry the adjoint (``lam`` = λ, ``mu`` = μ, the parameter integral) from ``t_hi`` back to ``t_lo``
        (``u_hi``, ``u_lo``: the forward states there) with the pieces of ``backward`` (an `adjoint._Backward`).
        Returns (λ, μ, success).
        """


@dataclass(frozen=True)
class BacksolveAdjoint(ContinuousAdjoint):
    """Adjoint ODE integrated backwards together with the state itself: O(1) memory.

    seminorm: leave the parameter integral out of the adjoint's error control (fewer steps; the integral is
    still computed by the method's quadrature on each step).
    """
    seminorm: bool = False
    adjoint_has_parameters = True

    def segment(self, backward, lam, mu, t_hi, t_lo, u_hi, u_lo):
        """Carry the adjoint (``lam`` = λ, ``mu`` = μ, the parameter integral) from ``t_hi`` back to ``t_lo``
        (``u_hi``, ``u_lo``: the forward states there) with the pieces of ``backward`` (an `adjoint._Backward`),
        integrating the state backwards with the adjoint from u_hi.
        Returns (λ, μ, success).
        """
        return backsolve_segment(backward, lam, mu, t_hi, t_lo, u_hi)

    def run(self, ctx, inputs):
        """Returns the loop's outputs for ``inputs`` (LoopInputs), differentiable with respect to (u0, t0, t1, p)
        by the adjoint ODE backwards (see `ContinuousAdjoint.run`); for an SDE (a right-hand side carrying a Brownian
        path), by the adjoint SDE backwards on the same path (`sde_adjoint`). ``ctx`` is the `SolveContext`.
        """
        if getattr(ctx.rhs, "path", None) is not None:
            return sde_backsolve(self, ctx, inputs)
        return super().run(ctx, inputs)


@dataclass(frozen=True)
class InterpolatingAdjoint(ContinuousAdjoint):
    """Adjoint ODE backwards along the forward solution's dense output (``checkpointing=False``), or
    along local dense re-solves started from the states saved at the save points (``True``).

    seminorm: leave the parameter integral out of the adjoint's error control (fewer steps; the integral is
    still computed by the method's quadrature on each step).
    """
    checkpointing: bool = False
    seminorm: bool = False
    adjoint_has_parameters = True

    @property
    def keeps_trajectory(self):
        return not self.checkpointing

    def segment(self, backward, lam, mu, t_hi, t_lo, u_hi, u_lo):
        """Carry the adjoint (``lam`` = λ, ``mu`` = μ, the parameter integral) from ``t_hi`` back to ``t_lo``
        (``u_hi``, ``u_lo``: the forward states there) with the pieces of ``backward`` (an `adjoint._Backward`),
        reading the state from the forward dense output, or with ``checkpointing`` from a dense re-solve started at
        u_lo.
        Returns (λ, μ, success).
        """
        return interpolating_segment(backward, lam, mu, t_hi, t_lo, u_lo, self.checkpointing)


@dataclass(frozen=True)
class QuadratureAdjoint(ContinuousAdjoint):
    """Adjoint ODE for λ only (n states, cheap for stiff problems with many parameters), stored with
    dense output; the parameter gradient ∫ λᵀ ∂f/∂p dt is then computed by Gauss–Legendre quadrature on
    every step of the adjoint solution."""
    keeps_trajectory = True

    def segment(self, backward, lam, mu, t_hi, t_lo, u_hi, u_lo):
        """Carry the adjoint (``lam`` = λ, ``mu`` = μ, the parameter integral) from ``t_hi`` back to ``t_lo``
        (``u_hi``, ``u_lo``: the forward states there) with the pieces of ``backward`` (an `adjoint._Backward`): λ
        only, then ∫ λᵀ ∂f/∂p dt by Gauss–Legendre quadrature on every adjoint step.
        Returns (λ, μ, success).
        """
        return quadrature_segment(backward, lam, mu, t_hi, t_lo)


@dataclass(frozen=True)
class GaussAdjoint(ContinuousAdjoint):
    """Adjoint ODE for λ only; the parameter integral is accumulated step by step during the adjoint
    solve by Gauss–Legendre quadrature on each step's interpolant (no storage of λ)."""
    keeps_trajectory = True

    def segment(self, backward, lam, mu, t_hi, t_lo, u_hi, u_lo):
        """Carry the adjoint (``lam`` = λ, ``mu`` = μ, the parameter integral) from ``t_hi`` back to ``t_lo``
        (``u_hi``, ``u_lo``: the forward states there) with the pieces of ``backward`` (an `adjoint._Backward`): λ
        only, the parameter integral accumulated step by step.
        Returns (λ, μ, success).
        """
        return gauss_segment(backward, lam, mu, t_hi, t_lo)


def check_sensealg(sensealg, save_mode, has_mass, alg=None, has_callbacks=False):
    """Refuse combinations a method cannot serve, before anything compiles: ``sensealg`` (None: the default,
    nothing to check; else a `SensitivityAlgorithm`, TypeError otherwise) is asked with ``save_mode``,
    ``has_mass``, ``alg`` and ``has_callbacks`` as in `SensitivityAlgorithm.check`. Returns None; raises
    ValueError naming what to use instead."""
    if sensealg is None:
        return
    if not isinstance(sensealg, SensitivityAlgorithm):
        raise TypeError(f"sensealg: expected a sensitivity method such as pysciml.InterpolatingAdjoint(); "
                        f"got {sensealg!r}")
    sensealg.check(alg, save_mode, has_mass, has_callbacks)


def _needs_sparsity(alg):
    return alg is not None and bool(getattr(alg.linear_solver, "needs_sparsity", False))
