"""The shadowing sensitivity methods a user picks with ``solve(..., sensealg=...)`` for the derivative of a
long-time average ⟨g⟩ = (1/N) Σ_i g(u(t_i)) over the saved points of a chaotic solve.

In a chaotic system the derivative of the *finite-time* average (what AD, DiscreteAdjoint or any adjoint of
the trajectory computes) grows like exp(λ₁T) and says nothing about how the long-time average moves. These
methods instead differentiate along a *shadowing* trajectory: the perturbed trajectory that stays close to
the original one for all time (Wang 2014; Ni & Wang 2017; Ni & Talnikar 2019). The gradient is the
derivative of the infinite-time average, up to an error that decays like 1/√T. The gradient with respect to
u0 is zero (an ergodic average does not depend on where it starts), and so are those with respect to the
span's ends.

Cost of one gradient (m saved intervals, n states, P parameters). All four first differentiate the flow
map between consecutive save times by forward sensitivities (ForwardDiffSensitivity on each interval, all
intervals vmapped; n + P + 2 directions, since the interval solves see every input), then:

- ForwardLSS: a block-tridiagonal solve (m blocks of n×n) with P right-hand sides;
- AdjointLSS: the same solve with one right-hand side, then one VJP per interval;
- NILSS: nus + P tangents propagated; a dense KKT system of size (2·nseg − 1)·nus;
- NILSAS: M + 1 adjoints propagated; a dense KKT system of size (2·nseg − 1)·M; one VJP per interval.

Left at None, nus / M are counted at the first gradient of a problem from the Lyapunov exponents of the
solve's own trajectory (`unstable`): one more computation of the n-direction flow maps and n − 1 QR steps
per interval, then cached.

The interval Jacobians take nearly all of the run time for small systems (Lorenz), so the adjoint
forms pay off through the P right-hand sides and tangents they save, not yet through the Jacobians; they
suit systems of tens of states with few to moderate numbers of parameters (the Φ_i are dense n×n).
"""
from dataclasses import dataclass

from ..base import SensitivityAlgorithm
from . import lss, nilsas, nilss
from .common import shadowing_solve
from .regularizers import Cos2Windowing, CosWindowing, TimeDilation


def _check_observable(name, g):
    if g is not None and not callable(g):
        raise TypeError(f"{name}: g must be the observable g(u, p) of the time average, or None; got {g!r}")


def _check_count(name, field, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: {field} must be a positive integer; got {value!r}")


def _check_directions(alg, field):
    """``nus``/``M``: a count ≥ 0, or None / "auto" (estimated from the Lyapunov exponents, `unstable`)."""
    name, value = type(alg).__name__, getattr(alg, field)
    if isinstance(value, str) and value == "auto":
        object.__setattr__(alg, field, None)      # one spelling, so that equal methods hash equal
    elif value is not None:
        if isinstance(value, str) or isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}: {field} must be a non-negative integer (the number of unstable "
                             f"directions), or None / \"auto\" to estimate it from the Lyapunov exponents of "
                             f"the solve's trajectory; got {value!r}")


class ShadowingAlgorithm(SensitivityAlgorithm):
    """Base of the shadowing methods: the loss must be a time average over the saved points (see module)."""
    def check(self, alg, save_mode, has_mass, has_callbacks):
        """Refuse, before compiling, solves whose loss cannot be a time average over saved points (ValueError
        unless ``save_mode`` is "saveat", and for ``has_mass`` or ``has_callbacks``; ``alg`` unused). Returns
        None when the method serves the solve."""
        name = type(self).__name__
        if save_mode != "saveat":
            raise ValueError(f"sensealg={name}(...) differentiates a time average over the saved points: pass "
                             "saveat= an evenly spaced grid of times (and no save_everystep or dense)")
        if has_mass or has_callbacks:
            raise ValueError(f"sensealg={name}(...) serves ODEs without mass matrices or callbacks; use "
                             "ForwardDiffSensitivity() for those")

    def run(self, ctx, inputs):
        """The loop's outputs for ``inputs``, with the long-time-average gradient of this shadowing method
        attached (the solve through ``ctx``, the `SolveContext`). Returns the `LoopOutput`."""
        return shadowing_solve(self, ctx, inputs, type(self).gradient)


@dataclass(frozen=True)
class ForwardLSS(ShadowingAlgorithm):
    """Least-squares shadowing, forward (tangent) form: min Σ|v_i|² + α²Σ η_i² subject to the linearised
    flow map between saved points, v_{i+1} = Φ_i v_i + ∂φ_i/∂p + η_i Δt f(u_{i+1}), one column per
    parameter, solved through the block-tridiagonal Schur complement. ``regularizer``: `TimeDilation` (α),
    `CosWindowing` or `Cos2Windowing` (no time dilation; a windowed average). ``g``: the observable g(u, p), when
    given the backward pass checks that the loss is its time average (a ValueError if not; NaN gradient and a
    warning when the check can only run traced, under jax.jit)."""
    regularizer: object = TimeDilation()
    g: object = None
    gradient = staticmethod(lss.forward_gradient)

    def __post_init__(self):
        if not isinstance(self.regularizer, (TimeDilation, CosWindowing, Cos2Windowing)):
            raise TypeError(f"{type(self).__name__}: regularizer must be TimeDilation(alpha), CosWindowing() or "
                            f"Cos2Windowing(); got {self.regularizer!r}")
        _check_observable(type(self).__name__, self.g)


@dataclass(frozen=True)
class AdjointLSS(ForwardLSS):
    """Least-squares shadowing, adjoint form: the same discrete least-squares problem as `ForwardLSS`
    (equal gradients up to round-off), solved once for the loss instead of once per parameter;
    ``regularizer`` and ``g`` as for `ForwardLSS`."""
    gradient = staticmethod(lss.adjoint_gradient)


@dataclass(frozen=True)
class NILSS(ShadowingAlgorithm):
    """Non-intrusive least-squares shadowing (Ni & Wang 2017): the saved points form ``nseg`` segments of
    ``nstep`` intervals (len(saveat) = nseg·nstep + 1); ``nus`` homogeneous tangents (at least the number of
    positive Lyapunov exponents, the neutral one of an autonomous flow not counted: see
    `pysciml.lyapunov_spectrum`) and one inhomogeneous tangent per parameter are propagated,
    re-orthogonalised (and projected off f) at segment ends, and the shadowing tangent is the combination
    minimising Σ ∫|v⊥|² dt subject to continuity: a small dense KKT system. ``nus=None`` (or "auto") counts
    the positive exponents transverse to f along the solve's own trajectory at the first gradient (see
    `shadowing.unstable`; Lorenz-63: 1); ``nus=0`` leaves only the inhomogeneous tangent, an ordinary
    forward sensitivity projected off f, for systems without unstable directions. ``seed``: the random
    start of the homogeneous tangents (and of the estimate's QR). ``g``: the observable g(u, p), as for
    `ForwardLSS`."""
    nseg: int
    nstep: int
    nus: int | None = None
    seed: int = 0
    g: object = None
    gradient = staticmethod(nilss.gradient)
    count_field = "nus"

    def __post_init__(self):
        _check_count("NILSS", "nseg", self.nseg)
        _check_count("NILSS", "nstep", self.nstep)
        _check_directions(self, "nus")
        _check_observable("NILSS", self.g)


@dataclass(frozen=True)
class NILSAS(ShadowingAlgorithm):
    """Non-intrusive least-squares adjoint shadowing (Ni & Talnikar 2019): ``M`` homogeneous adjoints (at
    least the number of positive Lyapunov exponents; orthogonal to f here, at most n − 1 of them) and one
    inhomogeneous adjoint driven by the loss, integrated backwards over ``nseg`` segments of ``nstep``
    intervals with their component along f fixed by the time-average condition; cost independent of the
    number of parameters. ``M=None`` (or "auto") takes the paper's M = (positive exponents) + 1, the
    unstable and neutral adjoint subspace, capped at n − 1, counted along the solve's own trajectory at the
    first gradient (see `shadowing.unstable`; Lorenz-63: 2). ``seed``: the random terminal values of the
    homogeneous adjoints. ``g``: the observable g(u, p), as for `ForwardLSS`."""
    nseg: int
    nstep: int
    M: int | None = None
    seed: int = 0
    g: object = None
    gradient = staticmethod(nilsas.gradient)
    count_field = "M"

    def __post_init__(self):
        _check_count("NILSAS", "nseg", self.nseg)
        _check_count("NILSAS", "nstep", self.nstep)
        _check_directions(self, "M")
        _check_observable("NILSAS", self.g)
