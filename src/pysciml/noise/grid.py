"""`NoiseGrid`: a Brownian path given by the user at grid times (e.g. ``sol.t, sol.W`` of another solve), so
that several methods can be run on the same path. Between grid points the path is a Brownian bridge
(with space-time Lévy area), evaluated as a virtual Brownian tree on each grid interval from the solve's
key (`bridge.descend`); at the grid points it is exactly the given W.
"""
import jax
import jax.numpy as jnp
import numpy as np

from .._core.trees import is_concrete
from . import bridge
from .gaussian import check_precision, standard_normal
from .path import BrownianPath, Noise


@jax.tree_util.register_pytree_node_class
class NoiseGrid(Noise):
    """The path W(t[i]) = W[i]. t: increasing times covering the solve's tspan, shape (K,); W: shape (K, m)
    (or (K,) for one process). The Lévy areas of the grid intervals and the bridges between grid points
    are drawn from `solve`'s key (PRNGKey(0) when none is given: a solve stepping on the grid points uses
    no randomness but the areas, which only strong-order-1.5 methods read). ``depth``: bisections of each
    grid interval and ``precision`` of the normals drawn (see `VirtualBrownianTree`)."""

    needs_key = False

    def __init__(self, t, W, depth: int = 16, precision: str = "float32"):
        t = jnp.asarray(t)
        W = jnp.asarray(W)
        if t.ndim != 1 or t.shape[0] < 2:
            raise ValueError(f"NoiseGrid: t must be a 1-D array of at least two times; got shape {t.shape}")
        if W.ndim == 1:
            W = W[:, None]
        if W.ndim != 2 or W.shape[0] != t.shape[0]:
            raise ValueError(f"NoiseGrid: W must have shape (len(t), m) = ({t.shape[0]}, m); got {W.shape}")
        if is_concrete(t) and not np.all(np.diff(np.asarray(t)) > 0):
            raise ValueError("NoiseGrid: t must be strictly increasing")
        if is_concrete(W) and not np.all(np.isfinite(np.asarray(W))):
            raise ValueError("NoiseGrid: W must be finite")
        self.t, self.W, self.depth = t, W, depth
        self.precision = check_precision(precision, "NoiseGrid")

    @property
    def m(self):
        return self.W.shape[1]

    def tree_flatten(self):   # a pytree (t and W its leaves), so problems holding it pass through jit/vmap
        return (self.t, self.W), (self.depth, self.precision)

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.t, obj.W = children
        obj.depth, obj.precision = aux
        return obj

    def prepare(self, key, t0, t1, m, dtype, dt=None):
        """Returns (a static `GridPath`, its data (t, W, running integrals, key)) for ``m`` processes on
        [t0, t1], drawing the grid intervals' areas from ``key`` (``dt`` is unused). ``dtype``: the float dtype
        the grid's times and values are cast to (the problem's)."""
        if m != self.m:
            raise ValueError(f"noise: NoiseGrid has {self.m} Wiener process(es) (W of shape {tuple(self.W.shape)}) "
                             f"but the problem's noise type needs m = {m}")
        t, W = self.t.astype(dtype), self.W.astype(dtype)
        if is_concrete(t, t0, t1):
            lo, hi = min(float(t0), float(t1)), max(float(t0), float(t1))
            if float(t[0]) > lo or float(t[-1]) < hi:
                raise ValueError(f"noise: NoiseGrid covers [{float(t[0])}, {float(t[-1])}] but tspan is "
                                 f"({float(t0)}, {float(t1)}): the grid must cover the span")
        areas_key, cells_key = jax.random.split(key)
        h = jnp.diff(t)
        K = jnp.sqrt(h ** 3 / 12)[:, None] * standard_normal(areas_key, (t.shape[0] - 1, self.m), dtype,
                                                                        self.precision)
        # running integral I(t_i) = ∫_{t_0}^{t_i} W: each interval adds its area plus the trapezoid
        I = jnp.concatenate([jnp.zeros((1, self.m), dtype),
                             jnp.cumsum(K + h[:, None] * (W[:-1] + W[1:]) / 2, axis=0)])
        return GridPath(self.m, t.shape[0], self.depth, self.precision), (t, W, I, cells_key)

    def __repr__(self):
        return f"NoiseGrid(t: {tuple(self.t.shape)}, W: {tuple(self.W.shape)})"


class GridPath(BrownianPath):
    """The path of a `NoiseGrid`: the user's W at ``size`` grid times (``m`` processes), refined between grid
    points by a Brownian bridge tree of ``depth`` levels whose normals are drawn in ``precision``."""
    def __init__(self, m, size, depth, precision="float32"):
        self.m, self.size, self.depth, self.precision = m, size, depth, precision

    def _at(self, data, tau):
        t, W, I, key = data
        i = jnp.clip(jnp.searchsorted(t, tau, side="right") - 1, 0, self.size - 2)
        return bridge.descend(jax.random.fold_in(key, i), t[i], t[i + 1], W[i], I[i], W[i + 1], I[i + 1], tau,
                              self.depth, self.precision)

    def increment(self, data, t, dt):
        """The increment over [``t``, ``t`` + ``dt``], both ends located on the grid (exact W at grid
        points, the bridge between them) from the path's ``data``. Returns the `BrownianIncrement` (ΔW, H)."""
        W, I = jax.vmap(lambda tau: self._at(data, tau))(jnp.stack([t, t + dt]))
        return bridge.increment(t, t + dt, W[0], I[0], W[1], I[1])

    def values(self, data, ts):
        """W at the times ``ts`` from the path's ``data`` (the given values at grid points, the bridge between
        them). Returns an array of shape (len(ts), m)."""
        return jax.vmap(lambda tau: self._at(data, tau)[0])(ts)
