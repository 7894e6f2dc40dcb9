"""Tree helpers, one copy each: flattening of pytree states to one vector (so every solver works on a flat
array), `ravel` of any tree, `select` between two trees under a traced flag.

`FlatSpec` is hashable (it holds only shapes, dtypes and the tree structure), so functions built from it
can be static arguments of `jax.jit` and repeated solves reuse compiled code.
"""
from dataclasses import dataclass
from math import prod

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class FlatSpec:
    treedef: object
    shapes: tuple
    dtype: object

    @classmethod
    def of(cls, tree, dtype):
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        return cls(treedef, tuple(tuple(jnp.shape(x)) for x in leaves), jnp.dtype(dtype))

    @property
    def size(self) -> int:
        return sum(prod(s) for s in self.shapes)

    @property
    def is_single_array(self) -> bool:
        return self.treedef == jax.tree_util.tree_structure(0)

    def ravel(self, tree):
        """The leaves of ``tree`` concatenated into one vector of the spec's dtype."""
        return ravel(tree, self.dtype)

    def unravel(self, vector):
        """Inverse of `ravel` on the last axis; leading (batch or time) axes are kept."""
        lead = vector.shape[:-1]
        if self.is_single_array and lead + self.shapes[0] == vector.shape:
            return vector
        if isinstance(vector, jax.Array) and not isinstance(vector, jax.core.Tracer):
            # Outside jit, reshape and slice on the host: eager slices and reshapes compile one XLA program
            # per shape, i.e. per step count of a solve.
            host = np.asarray(vector)
            return jax.tree_util.tree_unflatten(self.treedef, [jax.device_put(leaf) for leaf in self._split(host, lead)])
        return jax.tree_util.tree_unflatten(self.treedef, self._split(vector, lead))

    def _split(self, vector, lead):
        if self.is_single_array:
            return [vector.reshape(lead + self.shapes[0])]
        leaves, start = [], 0
        for shape in self.shapes:
            size = prod(shape)
            leaves.append(vector[..., start:start + size].reshape(lead + shape))
            start += size
        return leaves


def ravel(tree, dtype):
    """The leaves of ``tree`` as one vector of ``dtype`` (an empty tree gives an empty vector). Unlike
    `jax.flatten_util.ravel_pytree` it builds no unravel closure: the hot paths only need the vector."""
    flat = [jnp.ravel(jnp.asarray(x)).astype(dtype) for x in jax.tree_util.tree_leaves(tree)]
    if not flat:
        return jnp.zeros((0,), dtype)
    return flat[0] if len(flat) == 1 else jnp.concatenate(flat)


def select(flag, new, old):
    """``new`` where the traced boolean ``flag`` holds, else ``old``, leaf by leaf (trees of one structure)."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(flag, a, b), new, old)


def linear_combination(base, h, coeffs, vectors):
    """base + h·Σ_j coeffs[j]·vectors[j] with the (Python float) coefficients unrolled at trace time.

    Zero coefficients are skipped; with ``base=None`` the bare sum Σ_j coeffs[j]·vectors[j] is returned.
    """
    terms = [float(c) * v for c, v in zip(coeffs, vectors) if c != 0.0]
    if not terms:
        return base if base is not None else jnp.zeros_like(vectors[0])
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total if base is None else base + h * total


def is_concrete(*values) -> bool:
    """True when no value is a JAX tracer, i.e. we are outside jit/vmap/grad and may inspect values."""
    return not any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(values))


def host_slice(x, start, stop):
    """``x[start:stop]`` along the first axis; a concrete array is sliced on the host and put back on the
    device. Slicing a `jax.Array` outside jit compiles one XLA program per result shape, so trimming the
    fixed-size output buffers of a solve to the number of saved steps this way would recompile (tens of ms)
    on every solve with a new step count; a host slice and a device put compile nothing."""
    if x is None:
        return None
    if isinstance(x, jax.core.Tracer):   # e.g. states under jax.jvp while the times are concrete
        return x[start:stop]
    return jax.device_put(np.asarray(x)[start:stop])
