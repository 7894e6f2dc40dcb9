"""`SplitODEProblem`: du/dt = f1(u, p, t) + f2(u, p, t), f1 stiff and f2 not, for IMEX methods.

An IMEX method (KenCarp4) treats f1 implicitly (Newton with ∂f1/∂u only) and f2 explicitly (never
differentiated), which pays off when f1 is cheap to solve with (diffusion, linear damping) and f2 is
expensive or not differentiable. Every other method integrates the sum f1 + f2 as one ODE.
"""
import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from .ode import as_state, check_rhs_signature, check_tspan, check_u0, problem_pytree


class SplitFunction:
    """f = stiff + nonstiff as one right-hand side f(u, p, t), with the parts kept for IMEX methods.

    ``jac`` is the Jacobian of the sum when the stiff part carries one (as ``stiff.jac``; the non-stiff
    part is then differentiated by forward-mode AD), else None. Equal when both parts are equal, so
    compiled solves are reused across problems built from the same functions.
    """

    def __init__(self, stiff: Callable, nonstiff: Callable):
        self.stiff, self.nonstiff = stiff, nonstiff
        stiff_jac = getattr(stiff, "jac", None)
        self.jac = None if stiff_jac is None else (
            lambda u, p, t: stiff_jac(u, p, t) + jax.jacfwd(lambda x: nonstiff(x, p, t))(u))

    def __call__(self, u, p, t):
        return jax.tree_util.tree_map(jnp.add, self.stiff(u, p, t), self.nonstiff(u, p, t))

    def __eq__(self, other):
        return isinstance(other, SplitFunction) and (self.stiff, self.nonstiff) == (other.stiff, other.nonstiff)

    def __hash__(self):
        return hash((self.stiff, self.nonstiff))


@problem_pytree(dynamic=("u0", "tspan", "p", "mass_matrix"), static=("f1", "f2", "jac"))
@dataclasses.dataclass(frozen=True)
class SplitODEProblem:
    """An initial value problem M du/dt = f1(u, p, t) + f2(u, p, t), u(t0) = u0, for t in tspan.

    f1: the stiff part (implicit in IMEX methods), f2: the non-stiff part (explicit), both pure JAX
    functions returning arrays (or pytrees) shaped like u0. jac: optional ∂f1/∂u as jac(u, p, t) -> (n, n).
    u0, tspan, p, mass_matrix: as in `ODEProblem` (IMEX methods take no mass matrix). ``f`` is the sum as a
    `SplitFunction`.
    """
    f1: Callable
    f2: Callable
    u0: Any
    tspan: tuple
    p: Any = None
    jac: Callable | None = None
    mass_matrix: Any = None

    def __post_init__(self):
        for name in ("f1", "f2"):
            if not callable(getattr(self, name)):
                raise TypeError(f"SplitODEProblem: {name} must be callable as {name}(u, p, t); "
                                f"got {type(getattr(self, name)).__name__}")
            check_rhs_signature(getattr(self, name), name, f"{name}(u, p, t)")
        if self.jac is not None and not callable(self.jac):
            raise TypeError(f"SplitODEProblem: jac must be callable as jac(u, p, t); got {type(self.jac).__name__}")
        object.__setattr__(self, "tspan", check_tspan(self.tspan))
        object.__setattr__(self, "u0", as_state(self.u0))
        check_u0(self.u0)

    @property
    def f(self) -> SplitFunction:
        return SplitFunction(self.f1, self.f2)
