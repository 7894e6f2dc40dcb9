"""The right-hand side as the integration loop and the solvers see it.

A problem type hands the loop a `RightHandSide`: f(u, p, t) on flat state vectors, with the Jacobian
(``jac``) and its sparsity pattern where known. It is static (hashable: it keys the compiled loop). The
loop binds it to the solve's traced data (`RightHandSide.bind`: `Terms` with the mass matrix; a right-hand
side with noise returns its own terms type), and a solver's `step` receives those terms and a *control*,
``terms.control(t, dt, p)``: dt for ODE terms, (dt, BrownianIncrement(ΔW, H)) for terms with noise
(`problems.sde.SDETerms`, whose path, stateless like a virtual Brownian tree, reads its data from the loop's
parameters, as a DDE's lags travel in p). A right-hand side that reads the solution's own
past (delay equations) says so with ``reads_history``; the loop then binds it to its accepted steps
before every step (``with_history``). Nothing in the loop or the solvers is specific to one problem type.
"""
import jax.numpy as jnp

from .._core.trees import FlatSpec


class RightHandSide:
    """Base of the right-hand sides the loop runs (a plain callable f(u, p, t) also serves)."""

    jac = None              # ∂f/∂u on flat vectors, or None (forward-mode AD)
    sparsity = None         # the Jacobian's sparsity pattern, or None
    reads_history = False   # True: f reads the solution's past; the loop calls with_history before each step

    def __call__(self, u, p, t):
        raise NotImplementedError

    def with_history(self, history):
        """This right-hand side reading the solution's accepted steps ``history`` (an
        `integrate.loop.StepHistory`): returns the new right-hand side; TypeError here, for one that reads no
        history (delay equations override it)."""
        raise TypeError(f"{type(self).__name__} does not read the solution's history")

    def bind(self, mass=None) -> "Terms":
        """This right-hand side bound to the solve's traced data, as the solvers receive it: returns `Terms`
        with the mass matrix ``mass`` (None: the identity)."""
        return Terms(self, mass)


class Terms:
    """What a solver's `step` receives: the right-hand side ``f`` bound to the solve's traced data (the mass
    matrix M of M du/dt = f; None is the identity). Called as f; its other attributes are f's (jac,
    sparsity, the parts of a split f, the lags of a delay equation)."""

    __slots__ = ("f", "mass")

    def __init__(self, f, mass=None):
        self.f, self.mass = f, mass

    def __call__(self, u, p, t):
        return self.f(u, p, t)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def control(self, t, dt, p):
        """What drives the step from ``t`` of size ``dt`` with the loop's parameters ``p``: returns dt for an ODE
        (terms with noise return (dt, the increment ΔW over [t, t + dt]))."""
        return dt


def as_terms(f, mass=None) -> Terms:
    """``f`` bound to ``mass`` (`RightHandSide.bind`; a plain callable as `Terms`); terms as they are. Returns
    the `Terms`."""
    if isinstance(f, Terms):
        return f
    return f.bind(mass) if isinstance(f, RightHandSide) else Terms(f, mass)


class FlatRHS(RightHandSide):
    """An ODE's f on flat state vectors: unravel → f → ravel (a reshape for array states), with the user's
    Jacobian, if any, as ``jac`` on flat vectors and the Jacobian's sparsity pattern, if known, as
    ``sparsity``. ``spec``: the flattening of the user's state; ``user_jac``: the user's Jacobian jac(u, p, t) on
    their state (None: none given). Hashable by (f, jac, spec, sparsity)."""

    def __init__(self, f, spec: FlatSpec, user_jac=None, sparsity=None):
        self.f, self.spec, self.user_jac, self.sparsity = f, spec, user_jac, sparsity
        self.jac = None if user_jac is None else self._flat_jac

    def __call__(self, u, p, t):
        return self.spec.ravel(self.f(self.spec.unravel(u), p, t))

    def _flat_jac(self, u, p, t):
        n = self.spec.size
        return jnp.reshape(jnp.asarray(self.user_jac(self.spec.unravel(u), p, t), self.spec.dtype), (n, n))

    def __eq__(self, other):
        return (isinstance(other, FlatRHS) and self.f is other.f and self.user_jac is other.user_jac
                and self.spec == other.spec and self.sparsity == other.sparsity)

    def __hash__(self):
        return hash((id(self.f), id(self.user_jac), self.spec, self.sparsity))
