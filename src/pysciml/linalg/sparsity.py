"""Static Jacobian sparsity patterns and their column coloring.

A `SparsityPattern` is the set of positions (i, j) where ∂f_i/∂u_j may be non-zero, fixed before
compilation. Columns that share no row can be probed by one Jacobian–vector product: a greedy coloring of
the column-intersection graph (Coleman & Moré, SIAM J. Numer. Anal. 20, 1983) groups them, so the whole
Jacobian costs one jvp per color instead of one per column. Everything here is numpy, run once at set-up.
"""
import hashlib

import numpy as np
import scipy.sparse as sp


class SparsityPattern:
    """The structural non-zeros of an n×n Jacobian, sorted by row then column, with a column coloring.

    Hashable and equal by content, so it can key compiled loops. ``rows``, ``cols``: int32 arrays of the
    non-zero positions; ``colors``: the color of every column; ``n_colors``: the number of jvps per
    Jacobian. ``matrix``: any matrix scipy.sparse can read; its non-zeros are the pattern.
    """

    def __init__(self, matrix):
        csr = sp.csr_matrix(matrix, dtype=bool)
        csr.sum_duplicates()
        csr.eliminate_zeros()
        csr.sort_indices()
        if csr.shape[0] != csr.shape[1]:
            raise ValueError(f"a Jacobian sparsity pattern must be square; got shape {csr.shape}")
        self.n = csr.shape[0]
        coo = csr.tocoo()
        self.rows = _frozen(coo.row.astype(np.int32))
        self.cols = _frozen(coo.col.astype(np.int32))
        self.colors = _frozen(greedy_column_coloring(csr))
        self.n_colors = int(self.colors.max()) + 1 if self.n else 0
        digest = hashlib.sha1(self.rows.tobytes() + self.cols.tobytes()).hexdigest()
        self._key = (self.n, digest)
        self._cache = {}

    @property
    def nnz(self) -> int:
        return int(self.rows.size)

    def to_scipy(self):
        """Returns the pattern as a boolean `scipy.sparse.csr_matrix`."""
        return sp.csr_matrix((np.ones(self.nnz, bool), (self.rows, self.cols)), shape=(self.n, self.n))

    def cached(self, key, build):
        """Set-up data derived from the pattern (index arrays of the linear solvers), built once: returns the
        value stored under ``key``, calling ``build()`` the first time."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def __eq__(self, other):
        return isinstance(other, SparsityPattern) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        return f"SparsityPattern(n={self.n}, nnz={self.nnz}, colors={self.n_colors})"


def as_sparsity_pattern(prototype, n, name="jac_prototype"):
    """A `SparsityPattern` from an (n, n) numpy/jax array (non-zeros are the pattern), a scipy.sparse
    matrix or a `SparsityPattern` (``prototype``), checked to be n×n; raises a clear error naming ``name`` (the
    user's argument) otherwise. Returns the `SparsityPattern`."""
    if isinstance(prototype, SparsityPattern):
        pattern = prototype
    elif sp.issparse(prototype):
        pattern = SparsityPattern(prototype)
    else:
        try:
            array = np.asarray(prototype)
        except Exception as err:
            raise TypeError(f"{name}: expected an (n, n) array, a scipy.sparse matrix or 'auto'; "
                            f"got {type(prototype).__name__}") from err
        if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise TypeError(f"{name}: expected a numeric or boolean (n, n) array, a scipy.sparse matrix or "
                            f"'auto'; got {type(prototype).__name__} of dtype {array.dtype}")
        if array.ndim != 2:
            raise ValueError(f"{name} must have shape ({n}, {n}) for {n} states; got shape {array.shape}")
        pattern = SparsityPattern(array != 0)
    if pattern.n != n:
        raise ValueError(f"{name} must have shape ({n}, {n}) for {n} states; got shape ({pattern.n}, {pattern.n})")
    return pattern


def greedy_column_coloring(matrix) -> np.ndarray:
    """Colors of the columns of a sparse matrix such that no two columns of one color share a row.

    Greedy in natural order on the column-intersection graph AᵀA: each column takes the smallest color
    not used by a column it shares a row with. Stencil Jacobians get a small, size-independent count.
    Returns the color of each column (int array, colors 0, 1, ...).
    """
    csr = sp.csr_matrix(matrix, dtype=bool)
    n = csr.shape[1]
    ones = csr.astype(np.int32)
    conflicts = (ones.T @ ones).tocsr()
    colors = np.full(n, -1, np.int64)
    indptr, indices = conflicts.indptr, conflicts.indices
    for j in range(n):
        taken = colors[indices[indptr[j]:indptr[j + 1]]]
        taken = taken[taken >= 0]
        if taken.size == 0:
            colors[j] = 0
            continue
        used = np.zeros(taken.max() + 2, bool)
        used[taken] = True
        colors[j] = int(np.argmin(used))
    return colors.astype(np.int32)


def _frozen(array):
    array.setflags(write=False)
    return array
