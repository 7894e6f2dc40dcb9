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
from dataclasses import dataclass

from . import discrete


class SensitivityAlgorithm:
    """Base of every sensitivity method. Instances are frozen dataclasses, hashable and equal by value."""

    kind = "abstract"       # "forward" | "adjoint"


@dataclass(frozen=True)
class ForwardDiffSensitivity(SensitivityAlgorithm):
    """Forward-mode AD through the solver: the exact derivative of the discrete solution, all
    directions at once (the Jacobian is formed, so reverse mode works as well). Works with every save
    mode, dense output and mass matrices."""
    kind = "forward"


@dataclass(frozen=True)
class DiscreteAdjoint(SensitivityAlgorithm):
    """Reverse-mode differentiation of the solver's steps: the exact gradient of the discrete solution.
    ``checkpoints`` states are stored during the solve (default √max_steps); the reverse pass re-runs the
    steps between two checkpoints and pulls the cotangent back through them one step at a time."""
    checkpoints: int | None = None
    kind = "discrete"

    def __post_init__(self):
        if self.checkpoints is not None and (isinstance(self.checkpoints, bool) or not isinstance(
                self.checkpoints, int) or self.checkpoints < 1):
            raise ValueError(f"DiscreteAdjoint: checkpoints must be a positive integer or None; got "
                             f"{self.checkpoints!r}")


@dataclass(frozen=True)
class ForwardSensitivity(SensitivityAlgorithm):
    """The forward sensitivity equations S' = (∂f/∂u) S + ∂f/∂p solved alongside u (Jacobian–vector
    products, never the Jacobian), with error control on u and S together."""
    kind = "forward"


@dataclass(frozen=True)
class BacksolveAdjoint(SensitivityAlgorithm):
    """Adjoint ODE integrated backwards together with the state itself: O(1) memory."""
    seminorm: bool = False
    kind = "adjoint"


@dataclass(frozen=True)
class InterpolatingAdjoint(SensitivityAlgorithm):
    """Adjoint ODE backwards along the forward solution's dense output (``checkpointing=False``), or
    along local dense re-solves started from the states saved at the save points (``True``)."""
    checkpointing: bool = False
    seminorm: bool = False
    kind = "adjoint"


@dataclass(frozen=True)
class QuadratureAdjoint(SensitivityAlgorithm):
    """Adjoint ODE for λ only (n states, cheap for stiff problems with many parameters), stored with
    dense output; the parameter gradient ∫ λᵀ ∂f/∂p dt is then computed by Gauss–Legendre quadrature on
    every step of the adjoint solution."""
    kind = "adjoint"


@dataclass(frozen=True)
class GaussAdjoint(SensitivityAlgorithm):
    """Adjoint ODE for λ only; the parameter integral is accumulated step by step during the adjoint
    solve by Gauss–Legendre quadrature on each step's interpolant (no storage of λ)."""
    kind = "adjoint"


def check_sensealg(sensealg, save_mode, has_mass, alg=None, has_callbacks=False):
    """Refuse combinations a method cannot serve, before anything compiles."""
    if sensealg is None:
        return
    if not isinstance(sensealg, SensitivityAlgorithm) or type(sensealg) is SensitivityAlgorithm:
        raise TypeError(f"sensealg: expected a sensitivity method such as pysciml.InterpolatingAdjoint(); "
                        f"got {sensealg!r}")
    if isinstance(sensealg, ForwardDiffSensitivity):
        return
    name = type(sensealg).__name__
    if isinstance(sensealg, DiscreteAdjoint) and alg is not None and not discrete.supports(alg):
        raise ValueError(f"sensealg=DiscreteAdjoint() differentiates the solver's steps, which {alg!r} computes "
                         "by iteration (Newton, or an iterative linear solver); use an explicit or Rosenbrock "
                         "method with linsolve='lu' (e.g. Rodas5P()), or a continuous adjoint such as "
                         "GaussAdjoint() or InterpolatingAdjoint()")
    if has_callbacks:
        why = ("its replay of the accepted steps does not re-locate events" if isinstance(sensealg, DiscreteAdjoint)
               else "its continuous equations do not jump with the state at events")
        raise ValueError(f"sensealg={name}() cannot differentiate through callbacks ({why}); use "
                         "ForwardDiffSensitivity(), which differentiates the solver and its event times exactly")
    if isinstance(sensealg, DiscreteAdjoint):
        return     # every save mode, dense output and mass matrices (with Rosenbrock methods)
    if isinstance(sensealg, (BacksolveAdjoint, InterpolatingAdjoint)) and _needs_sparsity(alg):
        raise ValueError(f"sensealg={name}() integrates the parameter integral with the adjoint, which couples "
                         f"every state and gives the sparse linear solver of {alg!r} nothing to color; use "
                         "GaussAdjoint() or QuadratureAdjoint() (adjoint of the states only, transposed "
                         "sparsity), or linsolve='krylov'")
    if has_mass:
        raise ValueError(f"sensealg={name}() does not handle mass matrices (DAEs); use "
                         "ForwardDiffSensitivity(), or DiscreteAdjoint() with a Rosenbrock method")


def _needs_sparsity(alg):
    return alg is not None and bool(getattr(alg.linear_solver, "needs_sparsity", False))
