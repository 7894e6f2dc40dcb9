"""`SDEProblem`: du = f(u, p, t) dt + g(u, p, t) ∘dW, and its right-hand side as the loop and the SDE
solvers see it (`SDERHS`, bound to `SDETerms`).

The loop's parameters for an SDE are q = (p, noise data): the Brownian path's traced data (its key, or the
bulk increments, or a noise grid) travels with p, as a DDE's lags do, so a solve is vmappable over its key.
A solver's step receives ``terms.control(t, dt, q)`` = (dt, `BrownianIncrement`(ΔW, H)).
"""
import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from ..noise import Noise, NoiseType, as_noise_type
from .ode import as_state, check_rhs_signature, check_tspan, check_u0, problem_pytree
from .terms import RightHandSide, Terms


class Interpretation:
    """How the stochastic integral is read: `Ito` or `Stratonovich` (types; the strings "ito" and
    "stratonovich" are accepted by `SDEProblem` only)."""

    def __repr__(self):
        return f"{type(self).__name__}()"

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))


class Ito(Interpretation):
    """Itô: g evaluated at the start of each increment (the default)."""


class Stratonovich(Interpretation):
    """Stratonovich (∘dW): the midpoint rule; the chain rule of ordinary calculus holds."""


def as_interpretation(value) -> Interpretation:
    """The `Interpretation` for SDEProblem's ``interpretation``: ``value`` is "ito" or "stratonovich" (any
    case), an `Ito`/`Stratonovich` class or instance. Returns an instance; ValueError otherwise."""
    if isinstance(value, Interpretation):
        return value
    if isinstance(value, type) and issubclass(value, Interpretation) and value is not Interpretation:
        return value()
    names = {"ito": Ito, "stratonovich": Stratonovich}
    if isinstance(value, str) and value.lower() in names:
        return names[value.lower()]()
    raise ValueError(f"interpretation: expected 'ito' or 'stratonovich' (or pysciml.problems.sde.Ito() / "
                     f"Stratonovich()); got {value!r}")


@problem_pytree(dynamic=("u0", "tspan", "p", "noise"), static=("f", "g", "noise_type", "interpretation"))
@dataclasses.dataclass(frozen=True)
class SDEProblem:
    """du = f(u, p, t) dt + g(u, p, t) dW (Itô, the default) or ∘dW (Stratonovich), u(t0) = u0.

    f, g: pure JAX functions, out of place. tspan: (t0, t1) with t1 > t0. u0: an array or pytree (as for `ODEProblem`). noise_type:
    "diagonal" (default: g shaped like u, one Wiener process per state), "scalar" (g shaped like u, one
    process shared by all), "general" (g returns an (n, m) matrix over the flattened state; m from
    ``noise_rate_prototype``, an (n, m) array), "additive" (g independent of u, shaped as diagonal noise, or
    (n, m) with a noise_rate_prototype), or a `pysciml.noise.NoiseType`. noise: None (`solve` picks the
    path: increments drawn in bulk for fixed steps, a `VirtualBrownianTree` otherwise), a
    `VirtualBrownianTree(depth)`, or a `NoiseGrid(t, W)` (a given path). interpretation: "ito" or
    "stratonovich" (or `Ito()`/`Stratonovich()`). The path is drawn from ``solve(..., key=...)``.
    """
    f: Callable
    g: Callable
    u0: Any
    tspan: tuple
    p: Any = None
    noise_type: Any = "diagonal"
    noise_rate_prototype: dataclasses.InitVar[Any] = None
    noise: Any = None
    interpretation: Any = "ito"

    def __post_init__(self, noise_rate_prototype):
        for name in ("f", "g"):
            fn = getattr(self, name)
            if not callable(fn):
                raise TypeError(f"SDEProblem: {name} must be callable as {name}(u, p, t); got {type(fn).__name__}")
            check_rhs_signature(fn, name, f"{name}(u, p, t)")
        object.__setattr__(self, "tspan", check_tspan(self.tspan))
        object.__setattr__(self, "u0", as_state(self.u0))
        check_u0(self.u0)
        object.__setattr__(self, "noise_type", as_noise_type(self.noise_type, noise_rate_prototype))
        object.__setattr__(self, "interpretation", as_interpretation(self.interpretation))
        if self.noise is not None and not isinstance(self.noise, Noise):
            raise TypeError(f"SDEProblem: noise must be None, a pysciml.VirtualBrownianTree or a pysciml.NoiseGrid; "
                            f"got {type(self.noise).__name__}")


class SDERHS(RightHandSide):
    """f and g on flat states, reading the user's p from the loop's q = (p, noise data), with the Brownian
    path (a static `noise.BrownianPath`). Hashable by (f, g, layout, noise type, interpretation, path), so
    solves that differ in u0, p, key or tspan share a compiled loop. ``spec``: the flattening of the user's
    state (ravel/unravel); ``noise_type``: the problem's `NoiseType`; ``interpretation``: its `Interpretation`;
    ``path``: the static Brownian path."""

    jac = None
    sparsity = None

    def __init__(self, f, g, spec, noise_type: NoiseType, interpretation, path):
        self.f, self.g_user, self.spec = f, g, spec
        self.noise_type, self.interpretation, self.path = noise_type, interpretation, path

    def __call__(self, u, q, t):
        return self.spec.ravel(self.f(self.spec.unravel(u), q[0], t))

    def g(self, u, q, t):
        """g on the flat state ``u`` at time ``t``, the user's p read from ``q`` = (p, noise data): returns (n,) for
        diagonal and scalar noise, (n, m) for general noise."""
        out = self.g_user(self.spec.unravel(u), q[0], t)
        if len(self.noise_type.g_shape(self.spec.size)) == 2:
            return jnp.asarray(out, self.spec.dtype)
        return self.spec.ravel(out)

    def bind(self, mass=None) -> "SDETerms":
        """The terms a step receives: returns `SDETerms` over this right-hand side with the mass matrix ``mass``
        (None: the identity)."""
        return SDETerms(self, mass)

    def _key(self):
        return (id(self.f), id(self.g_user), self.spec, self.noise_type, self.interpretation, self.path)

    def __eq__(self, other):
        return (isinstance(other, SDERHS) and self.f is other.f and self.g_user is other.g_user
                and self._key()[2:] == other._key()[2:])

    def __hash__(self):
        return hash(self._key())


class SDETerms(Terms):
    """What an SDE solver's step receives: called as f (the drift), with ``g(u, q, t)`` (the flat
    diffusion), ``noise(g_value, dW)`` (the (n,) noise term g·ΔW for the problem's noise type),
    ``noise_type``, ``interpretation``, ``m`` (Wiener processes), and ``control(t, dt, q)`` = (dt,
    `BrownianIncrement`(W=ΔW, H)) over [t, t + dt]. ``mass``: as for `Terms` (None: the identity)."""

    __slots__ = ()

    def g(self, u, q, t):
        """The flat diffusion at the state ``u``, the loop's parameters ``q`` = (p, noise data) and the time ``t``:
        returns (n,) for diagonal and scalar noise, (n, m) for general noise."""
        return self.f.g(u, q, t)

    def noise(self, g_value, dW):
        """The noise term of the diffusion value ``g_value`` and the Brownian increment ``dW``: returns the
        (n,) vector the problem's noise type forms (g ⊙ ΔW, g·ΔW[0] or g @ ΔW)."""
        return self.f.noise_type.product(g_value, dW)

    @property
    def m(self):
        return self.f.path.m

    def control(self, t, dt, q):
        """What drives the step from ``t`` of size ``dt``: returns (dt, `BrownianIncrement`(W=ΔW, H)) over
        [t, t + dt], read from the path's data in ``q`` = (p, noise data); the times carry no tangent (a
        Brownian path has no time derivative)."""
        # A Brownian path has no time derivative: the times it is queried at carry no tangent (else the
        # bridge's √(τ − a) at a node gives NaN tangents, which forward mode multiplies by zero into NaN).
        stop = jax.lax.stop_gradient
        return dt, self.f.path.increment(q[1].value, stop(t), stop(dt))   # (q[1]: the path data, a Constant)
