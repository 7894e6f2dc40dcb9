"""Matrix-free Newton–Krylov linear algebra: W x = b solved by restarted GMRES with W v = M v/(γh) − J v, where
J v is a Jacobian–vector product of f (`jax.linearize`, once per solve); no matrix is ever formed.

Rosenbrock methods use the linear solves directly in their stages (no Newton iteration corrects them), so
the default GMRES tolerance is tight (relative residual 1e-8, well below usual ODE tolerances); the
Newton iteration of ESDIRK methods tolerates looser solves (e.g. ``tol=1e-4``), which save iterations.
A GMRES run that stops at ``maxiter`` restarts leaves a larger residual: the step's error estimate or
Newton test then rejects the step.
"""
import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

from .linear_solver import LinearSolver


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Linearization:
    """The point (u, p, t) at which J = ∂f/∂u is applied; the matrix-free "Jacobian"."""
    u: jnp.ndarray
    p: object
    t: jnp.ndarray
    f: Callable = dataclasses.field(metadata=dict(static=True))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class MatrixFreeW:
    jac: Linearization
    gamma_h: jnp.ndarray
    mass: object            # None or the (n, n) mass matrix


@dataclasses.dataclass(frozen=True)
class KrylovGMRES(LinearSolver):
    """Matrix-free GMRES on W = M/(γh) − J with Jacobian–vector products.

    tol: relative residual of each solve. restart: Krylov basis size. maxiter: restart cycles.
    preconditioner: optional ``preconditioner(v, u, p, t, gamma_h) -> z ≈ W⁻¹ v`` (pure JAX), with
    (u, p, t) the linearization point.
    """
    tol: float = 1e-8
    restart: int = 30
    maxiter: int = 10
    preconditioner: Callable | None = None

    def __post_init__(self):
        check_krylov_options(self)
        if self.preconditioner is not None and not callable(self.preconditioner):
            raise TypeError(f"linsolve: preconditioner must be callable as preconditioner(v, u, p, t, gamma_h); "
                            f"got {type(self.preconditioner).__name__}")

    def jacobian(self, f, u, p, t):
        """Returns the linearization point (``u``, ``p``, ``t``, ``f``): Jacobian–vector products are formed
        on demand, no matrix is built. Also serves as ``initial_jacobian``.
        """
        return Linearization(u, p, t, f)

    initial_jacobian = jacobian

    def factor(self, jac, gamma_h, mass=None):
        """Returns the matrix-free W = M/(γh) − J (nothing is factored): ``jac``'s linearization, ``gamma_h`` and
        ``mass``."""
        return MatrixFreeW(jac, jnp.asarray(gamma_h), mass)

    def solve(self, factors, rhs):
        """Returns x with W x = ``rhs`` by restarted GMRES on Jacobian–vector products of the linearization in
        ``factors``."""
        lin, gamma_h, mass = factors.jac, factors.gamma_h, factors.mass
        _, jvp = jax.linearize(lambda x: lin.f(x, lin.p, lin.t), lin.u)

        def matvec(v):
            return (v if mass is None else mass @ v) / gamma_h - jvp(v)

        precond = None
        if self.preconditioner is not None:
            precond = lambda v: self.preconditioner(v, lin.u, lin.p, lin.t, gamma_h)  # noqa: E731
        return run_gmres(self, matvec, rhs, precond)


def check_krylov_options(options):
    if not (isinstance(options.tol, (int, float)) and 0 < options.tol < 1):
        raise ValueError(f"linsolve: tol must be a number in (0, 1); got {options.tol!r}")
    for name in ("restart", "maxiter"):
        value = getattr(options, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"linsolve: {name} must be a positive integer; got {value!r}")


def run_gmres(options, matvec, rhs, precond=None):
    """x with ‖rhs − A x‖ ≤ tol ‖rhs‖ (A = ``matvec``), by restarted GMRES right-preconditioned with
    ``precond`` ≈ A⁻¹, using the strategy's tol, restart length and number of restart cycles.

    Right preconditioning keeps the monitored residual the true one, whatever the scale of the
    preconditioner. Arnoldi uses classical Gram–Schmidt applied twice (vectorized); the Givens rotations
    that reduce the Hessenberg matrix are accumulated in one small orthogonal matrix Q, so each iteration is
    a few dense products without an inner loop (small compiled programs). See Saad, Iterative Methods for
    Sparse Linear Systems, 6.5.
    """
    n, dtype = rhs.shape[0], rhs.dtype
    m = min(options.restart, n)
    apply_m = (lambda v: v) if precond is None else precond
    target = options.tol * jnp.linalg.norm(rhs)
    tiny = jnp.finfo(dtype).tiny
    rows = jnp.arange(m + 1)

    def arnoldi_step(carry):
        j, basis, r, q, beta, _ = carry
        w = matvec(apply_m(basis[j]))
        below = rows <= j
        h = jnp.where(below, basis @ w, 0.0)
        w = w - h @ basis
        h2 = jnp.where(below, basis @ w, 0.0)
        w, h = w - h2 @ basis, h + h2
        h_next = jnp.linalg.norm(w)
        basis = basis.at[j + 1].set(w / jnp.maximum(h_next, tiny))
        col = q @ h.at[j + 1].set(h_next)              # the previous rotations applied to column j
        d = jnp.hypot(col[j], col[j + 1])
        c = jnp.where(d > 0, col[j] / jnp.maximum(d, tiny), 1.0)
        s = jnp.where(d > 0, col[j + 1] / jnp.maximum(d, tiny), 0.0)
        q = q.at[j].set(c * q[j] + s * q[j + 1]).at[j + 1].set(c * q[j + 1] - s * q[j])
        r = r.at[:, j].set(col.at[j].set(d).at[j + 1].set(0.0)[:m])
        return j + 1, basis, r, q, beta, jnp.abs(beta * q[j + 1, 0])

    def cycle(state):
        x, _, count = state
        residual = rhs - matvec(x)
        beta = jnp.linalg.norm(residual)
        basis = jnp.zeros((m + 1, n), dtype).at[0].set(residual / jnp.maximum(beta, tiny))
        start = (0, basis, jnp.eye(m, dtype=dtype), jnp.eye(m + 1, dtype=dtype), beta, beta)
        j, basis, r, q, _, res = lax.while_loop(lambda c: (c[0] < m) & (c[5] > target), arnoldi_step, start)
        y = _back_substitution(r, jnp.where(rows[:m] < j, beta * q[:m, 0], 0.0))
        return x + apply_m(y @ basis[:m]), res, count + 1

    def unfinished(state):
        return (state[2] < options.maxiter) & (state[1] > target)

    x0 = jnp.zeros_like(rhs)
    x, _, _ = lax.while_loop(unfinished, cycle, (x0, jnp.linalg.norm(rhs), jnp.zeros((), jnp.int32)))
    return x


def _back_substitution(upper, g):
    """y with upper @ y = g for an upper-triangular matrix (a loop: XLA's triangular solve is slow to
    compile, and this system is only `restart` long)."""
    m = g.shape[0]

    def row(k, y):
        i = m - 1 - k
        return y.at[i].set((g[i] - upper[i] @ y) / upper[i, i])

    return lax.fori_loop(0, m, row, jnp.zeros_like(g))
