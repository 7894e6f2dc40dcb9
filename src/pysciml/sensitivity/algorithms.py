"""The sensitivity methods a user picks with ``solve(..., sensealg=...)``, and which solves they accept.

Every method is reached through `jax.grad` / `jax.vjp` / `jax.jacrev`; the forward methods also through
`jax.jvp` / `jax.jacfwd`. They differ in cost and memory (n states, m parameters, S steps):

| method                         | cost of a gradient            | memory            | exact for the discrete solve |
|--------------------------------|-------------------------------|-------------------|------------------------------|
| ForwardDiffSensitivity()       | one solve with n+m+2 tangents | O(1) in S         | yes                          |
| ForwardSensitivity()           | one solve of n(n+m+1) states  | O(1) in S         | no (continuous equations)    |
| BacksolveAdjoint()             | forward + backward of 2n+m    | O(1) in S         | no; unstable for some f      |
| InterpolatingAdjoint()         | forward + backward of n+m     | O(S) dense output | no                           |
| InterpolatingAdjoint(checkpointing=True) | + one re-solve      | one segment       | no                           |
| QuadratureAdjoint()            | forward + backward of n, then quadrature | O(S) twice | no                      |
| GaussAdjoint()                 | forward + backward of n with the parameter integral accumulated per step | O(S) | no |

Forward methods win for few states and parameters (≲ 100 together); adjoints win for many parameters
(neural networks). `seminorm=True` leaves the parameter integral out of the adjoint's error control
(fewer steps; the integral is still computed by the method's quadrature on each step). BacksolveAdjoint
re-integrates the state backwards, which is unstable for dissipative or chaotic systems; it resets the
state to the forward values at every save point to limit the drift.
"""
from dataclasses import dataclass


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


def check_sensealg(sensealg, save_mode, has_mass, has_callbacks=False):
    """Refuse combinations a method cannot serve, before anything compiles."""
    if sensealg is None:
        return
    if not isinstance(sensealg, SensitivityAlgorithm) or type(sensealg) is SensitivityAlgorithm:
        raise TypeError(f"sensealg: expected a sensitivity method such as pysciml.InterpolatingAdjoint(); "
                        f"got {sensealg!r}")
    if isinstance(sensealg, ForwardDiffSensitivity):
        return
    name = type(sensealg).__name__
    if has_callbacks:
        raise ValueError(f"sensealg={name}() cannot differentiate through callbacks (its continuous equations "
                         "do not jump with the state at events); use ForwardDiffSensitivity(), which "
                         "differentiates the solver and its event times exactly")
    if save_mode == "steps":
        raise ValueError(f"sensealg={name}() differentiates states at given times: pass saveat=... (or "
                         "save_everystep=False for the final state); save_everystep and dense output are "
                         "differentiable with ForwardDiffSensitivity()")
    if has_mass:
        raise ValueError(f"sensealg={name}() does not handle mass matrices (DAEs); use "
                         "ForwardDiffSensitivity()")
