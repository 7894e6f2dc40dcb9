"""Sparse W = M/(γh) − J, never formed densely: J by compressed forward-mode AD on the problem's
sparsity pattern, W kept as values on the static pattern ∪ diagonal, and W x = b solved by GMRES
preconditioned with block Jacobi (the inverses of the diagonal blocks of W, all blocks at once: applying
them is one batched matrix product, cheap to run and to compile).

Block Jacobi holds every coupling within ``block_size`` consecutive states exactly: with the usual
ordering of grid problems (species fastest, then one grid line) it inverts the reaction and one direction
of the stencil, leaving GMRES the rest. A system of at most ``block_size`` states is one block, solved
exactly. The GMRES tolerance and the caveats for Rosenbrock methods are those of `KrylovGMRES`.
Mass matrices must be diagonal here.
"""
import dataclasses
import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from .jacobian import compressed_jacobian
from .krylov import check_krylov_options, run_gmres
from .linear_solver import LinearSolver
from .sparsity import SparsityPattern


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SparseJacobian:
    """∂f/∂u as its values at (pattern.rows, pattern.cols)."""
    values: jnp.ndarray
    pattern: SparsityPattern = dataclasses.field(metadata=dict(static=True))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SparseW:
    values: jnp.ndarray         # W at (layout.rows, layout.cols)
    block_inverses: jnp.ndarray  # (n_blocks, b, b) inverses of the diagonal blocks
    layout: "_Layout" = dataclasses.field(metadata=dict(static=True))


@dataclasses.dataclass(frozen=True, eq=False)
class _Layout:
    """Static index arrays of W for one pattern and block size (built once; compared by identity)."""
    n: int
    rows: np.ndarray            # W's pattern: J's pattern ∪ the diagonal, sorted by row then column
    cols: np.ndarray
    jac_position: np.ndarray    # where J's entries sit in W's list
    diag_position: np.ndarray   # where the diagonal sits
    block: int
    n_blocks: int
    in_block: np.ndarray        # W entries inside a diagonal block ...
    block_index: np.ndarray     # ... and their flat index in the (n_blocks, b, b) array
    padding: np.ndarray         # (n_blocks, b, b) identity on the padded states beyond n


@dataclasses.dataclass(frozen=True)
class SparseGMRES(LinearSolver):
    """Sparse J and W with block-Jacobi-preconditioned GMRES; needs a sparsity pattern
    (``ODEProblem(..., jac_prototype=...)``, detected automatically when absent).

    block_size: states per diagonal block of the preconditioner. tol, restart, maxiter: as in
    `KrylovGMRES`.
    """
    block_size: int = 128
    tol: float = 1e-8
    restart: int = 30
    maxiter: int = 10

    needs_sparsity = True
    diagonal_mass_only = True

    def __post_init__(self):
        check_krylov_options(self)
        if not isinstance(self.block_size, int) or isinstance(self.block_size, bool) or self.block_size < 1:
            raise ValueError(f"linsolve: block_size must be a positive integer; got {self.block_size!r}")

    def jacobian(self, f, u, p, t):
        """Returns the Jacobian of ``f`` at (``u``, ``p``, ``t``) as values on the problem's sparsity pattern (user
        ``jac`` or colored AD)."""
        pattern = _pattern_of(f)
        user = getattr(f, "jac", None)
        if user is not None:
            return SparseJacobian(user(u, p, t)[pattern.rows, pattern.cols], pattern)
        return SparseJacobian(compressed_jacobian(f, u, p, t, pattern), pattern)

    def initial_jacobian(self, f, u, p, t):
        """Returns zero values on the sparsity pattern of ``f`` (``u`` gives the dtype; ``p``, ``t`` unused): a
        placeholder."""
        pattern = _pattern_of(f)
        return SparseJacobian(jnp.zeros(pattern.nnz, u.dtype), pattern)

    def factor(self, jac, gamma_h, mass=None):
        """Returns sparse W = M/(γh) − J (from ``jac``, ``gamma_h``, diagonal ``mass``) with the inverses of
        its diagonal blocks (``block_size`` states each) as block-Jacobi preconditioner.
        """
        pattern = jac.pattern
        lay = pattern.cached(("sparse_w", self.block_size), lambda: _layout(pattern, self.block_size))
        dtype = jac.values.dtype
        diagonal = jnp.ones(lay.n, dtype) if mass is None else jnp.diagonal(mass).astype(dtype)
        values = (jnp.zeros(lay.rows.size, dtype).at[lay.jac_position].set(-jac.values)
                  .at[lay.diag_position].add(diagonal / gamma_h))
        b = lay.block
        blocks = (jnp.zeros(lay.n_blocks * b * b, dtype).at[lay.block_index].set(values[lay.in_block])
                  .reshape(lay.n_blocks, b, b) + lay.padding.astype(dtype))
        return SparseW(values, jnp.linalg.inv(blocks), lay)

    def solve(self, factors, rhs):
        """Returns x with W x = ``rhs`` by block-Jacobi preconditioned GMRES on the sparse W in ``factors``."""
        lay = factors.layout
        b, padded = lay.block, lay.n_blocks * lay.block

        def matvec(v):
            return jax.ops.segment_sum(factors.values * v[lay.cols], lay.rows, num_segments=lay.n,
                                       indices_are_sorted=True)

        def block_jacobi(v):
            chunks = jnp.pad(v, (0, padded - lay.n)).reshape(lay.n_blocks, b)
            return jnp.einsum("kij,kj->ki", factors.block_inverses, chunks).reshape(padded)[:lay.n]

        return run_gmres(self, matvec, rhs, block_jacobi)


def _pattern_of(f):
    pattern = getattr(f, "sparsity", None)
    if pattern is None:
        raise ValueError("linsolve: the sparse linear solver needs a Jacobian sparsity pattern; pass "
                         "ODEProblem(..., jac_prototype=pattern) or jac_prototype='auto'")
    return pattern


def _layout(pattern, block_size):
    n = pattern.n
    w = (pattern.to_scipy() + sp.identity(n, dtype=bool, format="csr")).tocoo()
    order = np.lexsort((w.col, w.row))
    rows, cols = w.row[order].astype(np.int32), w.col[order].astype(np.int32)
    keys = rows.astype(np.int64) * n + cols
    jac_position = np.searchsorted(keys, pattern.rows.astype(np.int64) * n + pattern.cols)
    diag_position = np.searchsorted(keys, np.arange(n, dtype=np.int64) * (n + 1))
    b = min(block_size, n)
    n_blocks = -(-n // b)
    in_block = np.nonzero(rows // b == cols // b)[0]
    block_index = (rows[in_block] // b) * b * b + (rows[in_block] % b) * b + cols[in_block] % b
    padding = np.zeros((n_blocks * b,), np.float64)
    padding[n:] = 1.0
    padding = (np.eye(b)[None] * padding.reshape(n_blocks, b)[:, :, None])
    return _Layout(n, rows, cols, jac_position, diag_position, b, n_blocks, in_block, block_index, padding)
