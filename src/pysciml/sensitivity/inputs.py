"""Which loop inputs a gradient flows to: u0, the span ends and the floating-point leaves of p.

Integer or boolean leaves of p (switches, sizes) and the leaves under a `_core.constant.Constant` node (an
SDE's Brownian path data) are carried along untouched; everything else in the loop inputs (tolerances,
save times, step bounds) is treated as a constant.
"""
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .._core.constant import Constant, is_constant


def _is_float(x):
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)


@dataclass(frozen=True)
class InputSplit:
    """Static description of where the differentiable leaves of p sit."""
    treedef: object
    mask: tuple

    @classmethod
    def of(cls, p):
        _, treedef = jax.tree_util.tree_flatten(p)
        # A Constant node's leaves are marked False; the marks flatten in the same order as p's leaves.
        marks = jax.tree_util.tree_map(
            lambda x: Constant(jax.tree_util.tree_map(lambda _: False, x.value)) if is_constant(x)
            else bool(_is_float(x)), p, is_leaf=is_constant)
        return cls(treedef, tuple(jax.tree_util.tree_leaves(marks)))

    def split_p(self, p):
        leaves = jax.tree_util.tree_leaves(p)
        diff = [x for x, m in zip(leaves, self.mask) if m]
        rest = [x for x, m in zip(leaves, self.mask) if not m]
        return diff, rest

    def merge_p(self, diff, rest):
        diff, rest = iter(diff), iter(rest)
        leaves = [next(diff) if m else next(rest) for m in self.mask]
        return jax.tree_util.tree_unflatten(self.treedef, leaves)

    def split(self, inputs):
        """(u0, t0, t1, p's float leaves) and the rest of the inputs."""
        p_diff, p_rest = self.split_p(inputs.p)
        diff = (inputs.u0, inputs.t0, inputs.t1, p_diff)
        rest = (inputs._replace(u0=None, t0=None, t1=None, p=None), p_rest)
        return diff, rest

    def merge(self, diff, rest):
        u0, t0, t1, p_diff = diff
        others, p_rest = rest
        return others._replace(u0=u0, t0=t0, t1=t1, p=self.merge_p(p_diff, p_rest))


def flat_size(tree) -> int:
    return sum(int(np.prod(jnp.shape(x))) for x in jax.tree_util.tree_leaves(tree))


def zero_cotangent(x):
    """A zero (co)tangent for ``x``: zeros for floats, float0 for integers and booleans."""
    if _is_float(x):
        return jnp.zeros_like(x)
    return np.zeros(jnp.shape(x), jax.dtypes.float0)


def leaf_shapes(leaves) -> tuple:
    """Static (shape, dtype) of each leaf, for `unflatten`."""
    return tuple((tuple(jnp.shape(x)), jnp.result_type(x)) for x in leaves)


def unflatten(vector, shapes):
    """Inverse of `ravel` for leaves described by `leaf_shapes`."""
    leaves, start = [], 0
    for shape, dtype in shapes:
        size = int(np.prod(shape))
        leaves.append(vector[start:start + size].reshape(shape).astype(dtype))
        start += size
    return leaves


def controlled_tolerance(tol, n, size, controlled, uncontrolled):
    """Tolerance of a backward state of ``size`` components: the forward state's (scalar or per state,
    repeated per block) on the first ``controlled`` components, ``uncontrolled`` on the rest (rtol 0 and
    atol ∞ leave a component out of the error norm). The controlled ones are then tightened so the RMS
    error norm still averages over them only."""
    tol = jnp.asarray(tol)
    per_state = tol if jnp.ndim(tol) == 1 else jnp.full((n,), tol)
    reps = -(-size // n)
    full = jnp.tile(per_state, reps)[:size]
    if controlled < size:
        full = jnp.where(jnp.arange(size) < controlled, full * math.sqrt(controlled / size), uncontrolled)
    elif jnp.ndim(tol) == 0:
        return tol
    return full
