"""`VirtualBrownianTree`: a Brownian path (with space-time Lévy area) evaluated anywhere in [t0, t1] from a
key, without storing anything (Gaines & Lyons 1997; Li et al. 2020, "Scalable gradients for SDEs"; with
Lévy area as in diffrax). Every value is a pure function of (key, t): a step rejected and retried
smaller, or a solve at another tolerance, sees the same path at the same times.
"""
import jax
import jax.numpy as jnp

from . import bridge
from .gaussian import check_precision, standard_normal
from .path import BrownianPath, Noise


@jax.tree_util.register_pytree_node_class
class VirtualBrownianTree(Noise):
    """The adaptive-step noise (the default when steps are adaptive or land on tstops). ``depth``: the
    bisections of [t0, t1] before the last bridge; the path is exact in law on the dyadic points of that
    level and bridged within them (an interval shorter than (t1 − t0)/2^depth shares its leaf's normals,
    so keep steps above it; the default 24 gives 6e-8 of the span). Cost: depth + 1 draws of 4m normals
    per evaluated time, two times per step. ``precision``: of the normals drawn (`noise.gaussian`)."""

    def __init__(self, depth: int = 24, precision: str = "float32"):
        if not isinstance(depth, int) or isinstance(depth, bool) or not 0 <= depth <= 30:
            raise ValueError(f"VirtualBrownianTree: depth must be an integer in [0, 30]; got {depth!r}")
        self.depth = depth
        self.precision = check_precision(precision, "VirtualBrownianTree")

    def prepare(self, key, t0, t1, m, dtype, dt=None):
        """Returns (a static `TreePath`, its data (key, t0, t1)) for ``m`` processes on [``t0``, ``t1``],
        the tree's root drawn from ``key``; ``dtype``: the float dtype of t0 and t1 (the problem's); ``dt`` is
        unused."""
        return TreePath(m, self.depth, self.precision), (key, jnp.asarray(t0, dtype), jnp.asarray(t1, dtype))

    def tree_flatten(self):   # no leaves: problems holding it pass through jit/vmap
        return (), (self.depth, self.precision)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*aux)

    def __repr__(self):
        return f"VirtualBrownianTree(depth={self.depth})"


class TreePath(BrownianPath):
    """The path of a `VirtualBrownianTree`: ``m`` processes, W evaluated by descending a Brownian bridge tree of
    ``depth`` levels, its normals drawn in ``precision``."""
    def __init__(self, m, depth, precision="float32"):
        self.m, self.depth, self.precision = m, depth, precision

    def _at(self, data, tau):
        key, t0, t1 = data
        root, tree = jax.random.split(key)
        z = standard_normal(root, (2, self.m), t0.dtype, self.precision)   # W(t1) and the whole span's area
        T = t1 - t0
        W1 = jnp.sqrt(T) * z[0]
        I1 = jnp.sqrt(T ** 3 / 12) * z[1] + T * W1 / 2
        zero = jnp.zeros((self.m,), t0.dtype)
        return bridge.descend(tree, t0, t1, zero, zero, W1, I1, tau, self.depth, self.precision)

    def increment(self, data, t, dt):
        """The increment over [``t``, ``t`` + ``dt``]: W and its running integral at both ends, found by
        descending the tree seeded by the path's ``data``. Returns the `BrownianIncrement` (ΔW, H)."""
        W, I = jax.vmap(lambda tau: self._at(data, tau))(jnp.stack([t, t + dt]))
        return bridge.increment(t, t + dt, W[0], I[0], W[1], I[1])

    def values(self, data, ts):
        """W at the times ``ts``, each by a descent of the tree seeded by the path's ``data``. Returns an
        array of shape (len(ts), m)."""
        return jax.vmap(lambda tau: self._at(data, tau)[0])(ts)
