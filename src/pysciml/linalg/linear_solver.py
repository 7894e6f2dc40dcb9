"""The linear-solver strategy of implicit methods: how J = ∂f/∂u is formed, how W = M/(γh) − J is prepared
and how W x = b is solved. Steppers call only these three methods, so one stepper serves dense, sparse
and matrix-free linear algebra (`Rodas5P(linsolve=...)`); `as_linear_solver` reads the ``linsolve=``
option (an instance or a name).

Strategies are frozen dataclasses: hashable and equal by configuration, so compiled loops are shared by
equal methods. Their Jacobians and factors are pytrees, so they can live in solver state.
"""
import dataclasses

import jax.numpy as jnp

from .compensated import w_residual
from .jacobian import jacobian
from .w_matrix import factor_w, solve_w


class LinearSolver:
    """Interface: ``jacobian`` → ``factor`` → ``solve`` (see the module docstring)."""

    needs_sparsity = False    # True: the right-hand side must carry a sparsity pattern (f.sparsity)
    diagonal_mass_only = False   # True: only diagonal mass matrices are supported

    def jacobian(self, f, u, p, t):
        """Returns the Jacobian of ``f`` at (``u``, ``p``, ``t``) in this strategy's representation."""
        raise NotImplementedError

    def initial_jacobian(self, f, u, p, t):
        """Returns a placeholder shaped like `jacobian`'s result for ``f`` at (``u``, ``p``, ``t``), for solver
        states that start without one."""
        raise NotImplementedError

    def factor(self, jac, gamma_h, mass=None):
        """Returns W = M/(γh) − J prepared for solving, from ``jac`` and ``gamma_h`` = γh (M = I when ``mass`` is
        None)."""
        raise NotImplementedError

    def solve(self, factors, rhs):
        """Returns x with W x = ``rhs``, W given by ``factors`` (the result of `factor`)."""
        raise NotImplementedError

    def solve_accurately(self, factors, jac, gamma_h, mass, rhs, jvp=None):
        """Returns x with W x = ``rhs`` to about the working precision relative to x itself, where the
        strategy can (see `compensated`); by default the same as `solve`. ``factors`` is `factor`'s result for
        ``jac``, ``gamma_h`` and ``mass``; ``jvp`` (optional): x ↦ J x by f's own linearization, which a
        refinement then measures its residual with in place of the matrix ``jac`` (see `DenseLU`).
        """
        return self.solve(factors, rhs)


@dataclasses.dataclass(frozen=True)
class DenseLU(LinearSolver):
    """Dense J (user ``jac``, or forward-mode AD, compressed by coloring when the problem has a
    ``jac_prototype``) and an LU factorization of W: the default, best up to a few hundred states.

    ``refine=True``: `solve_accurately` (the stage solves of Rosenbrock methods and the Newton solves of
    ESDIRK methods) adds one refinement step with a double-double residual (see `compensated`), so that
    linear invariants and slow directions are not broken by the solve's rounding, amplified by γh. That is
    what E5 of the stiff test set needs at rtol 1e-4 … 1e-6; it costs 2–4× per step on small systems (HIRES,
    ROBER, a 64-state Brusselator; measured). ``refine=None`` (the default): automatic — `solve` switches it
    on when the absolute tolerance is below the rounding level of the initial state (the rule and its
    measurements: `solve.defaults.refine_below_rounding`), so ordinary tolerances pay nothing; ``False``
    never refines."""

    refine: bool | None = None

    def jacobian(self, f, u, p, t):
        """Returns the dense (n, n) Jacobian of ``f`` at (``u``, ``p``, ``t``): the user's ``jac`` or forward-mode AD
        (colored when sparse)."""
        return jacobian(f, u, p, t)

    def initial_jacobian(self, f, u, p, t):
        """Returns an (n, n) zero matrix of ``u``'s dtype (``f``, ``p``, ``t`` unused), a placeholder for a solver
        state."""
        return jnp.zeros((u.shape[0], u.shape[0]), u.dtype)

    def factor(self, jac, gamma_h, mass=None):
        """Returns the LU factors of W = M/(γh) − J from ``jac``, ``gamma_h`` = γh and ``mass`` (None: M = I)."""
        return factor_w(jac, gamma_h, mass)

    def solve(self, factors, rhs):
        """Returns x with W x = ``rhs`` by triangular solves with the LU ``factors``."""
        return solve_w(factors, rhs)

    def solve_accurately(self, factors, jac, gamma_h, mass, rhs, jvp=None):
        """Returns x with W x = ``rhs``; with ``refine=True`` one refinement step with a double-double residual
        of W (rebuilt from ``jac``, ``gamma_h``, ``mass``), otherwise the plain `solve` with ``factors``.
        With ``jvp`` (x ↦ J x, a Jacobian–vector product of f; Rosenbrock stages pass it when J is forward-mode
        AD's) the residual's J x is that product instead of ``jac`` @ x: the refined x then solves the
        system of f's own linearization, whose rounding keeps f's linear invariants to eps·|J x| (one rounding
        of the product), where the AD matrix breaks them entry by entry (each entry of a row formed as a
        difference of other rows' entries rounds apart: E5's cᵀJ ≈ 4e-13, see the Rosenbrock stepper).
        """
        x = solve_w(factors, rhs)
        if not self.refine:         # False, or None left unresolved (a method used outside `solve`)
            return x
        operator = jac if jvp is None else jvp
        return x + solve_w(factors, w_residual(rhs, x, operator, 1.0 / gamma_h, mass))


def _named():
    # The strategies defined beside this module import `LinearSolver` from it: looked up on use.
    from .krylov import KrylovGMRES
    from .sparse_w import SparseGMRES
    return {"lu": DenseLU, "dense": DenseLU, "sparse": SparseGMRES, "krylov": KrylovGMRES, "gmres": KrylovGMRES}


def as_linear_solver(linsolve) -> LinearSolver:
    """The linear solver for a method's ``linsolve``: None → `DenseLU()`; a name ('lu'/'dense', 'sparse',
    'krylov'/'gmres') → that strategy with its defaults; a `LinearSolver` class → an instance; a `LinearSolver`
    instance as is. Returns the `LinearSolver`."""
    if linsolve is None:
        return DenseLU()
    if isinstance(linsolve, LinearSolver):
        return linsolve
    if isinstance(linsolve, type) and issubclass(linsolve, LinearSolver):
        return linsolve()
    if isinstance(linsolve, str):
        names = _named()
        kind = names.get(linsolve.lower())
        if kind is None:
            raise ValueError(f"linsolve: unknown linear solver {linsolve!r}; use one of "
                             f"{sorted(names)} or an instance such as KrylovGMRES(tol=1e-6)")
        return kind()
    raise TypeError(f"linsolve: expected a name such as 'sparse' or a linear solver such as DenseLU(), "
                    f"SparseGMRES(), KrylovGMRES(); got {linsolve!r}")
