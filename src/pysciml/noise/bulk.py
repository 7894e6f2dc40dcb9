"""`BulkIncrements`: the fixed-step path. Every increment of a fixed-step solve is drawn in one call before
the loop; step k (found from t) reads row k. Only valid when the steps are t0 + k·dt (the last one cut at
t1), which `solve` guarantees by choosing it only for fixed-step solves without tstops or callbacks.
"""
import math

import jax
import jax.numpy as jnp

from .gaussian import check_precision, standard_normal
from .increment import BrownianIncrement
from .path import BrownianPath, Noise


@jax.tree_util.register_pytree_node_class
class BulkIncrements(Noise):
    """The fixed-step path (chosen by `solve` for fixed-step solves without stops). ``precision``: of the normals
    drawn (see `noise.gaussian`; 'float32' is the fast default, 'float64' for full-resolution normals).
    ``levy_area``: also draw the space-time Lévy areas H (for methods that read them); without, H is NaN,
    so that a method reading it by mistake fails loudly. The normals dominate the cost of a small fixed-step
    solve, so H is only drawn when needed."""

    def __init__(self, precision: str = "float32", levy_area: bool = True):
        self.precision = check_precision(precision, "BulkIncrements")
        self.levy_area = bool(levy_area)

    def tree_flatten(self):   # no leaves: problems holding it pass through jit/vmap
        return (), (self.precision, self.levy_area)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*aux)

    def with_levy_area(self, levy_area: bool) -> "BulkIncrements":
        """Returns this noise drawing the Lévy areas or not (solve asks for what the method reads):
        ``levy_area`` True draws H beside ΔW, False draws ΔW only."""
        return BulkIncrements(self.precision, levy_area)

    def prepare(self, key, t0, t1, m, dtype, dt=None):
        """Draws the normals of every step at once: ``m`` processes on [``t0``, ``t1``] with the fixed step ``dt``
        (required), from ``key``, in ``dtype``. Returns (the static `BulkPath`, its data (normals, t0, t1, dt))."""
        t0, t1, dt = float(t0), float(t1), float(dt)
        # The loop lands on t1 when the remainder is within 1e-8·dt of a step: at most ceil(T/dt) steps
        # (one spare row covers rounding in the accumulated times).
        n = max(math.ceil((t1 - t0) / dt - 1e-8), 1) + 1
        z = standard_normal(key, (n, 2 if self.levy_area else 1, m), dtype, self.precision)
        return BulkPath(m, n), (z, jnp.asarray(t0, dtype), jnp.asarray(t1, dtype), jnp.asarray(dt, dtype))


class BulkPath(BrownianPath):
    """The path of `BulkIncrements`: ``m`` processes, ``n`` pre-drawn standard normal rows (one per step of the
    fixed-step solve, with the Lévy area's normal beside ΔW's when drawn)."""
    def __init__(self, m, n):
        self.m, self.n = m, n

    def increment(self, data, t, dt):
        """The increment of the step starting at ``t`` (the step index read from t and the fixed step in
        ``data``), scaled to |``dt``|. Returns the `BrownianIncrement` (ΔW, H); H is NaN when the Lévy areas were
        not drawn."""
        z, t0, _, step = data
        k = jnp.clip(jnp.round((t - t0) / step).astype(jnp.int32), 0, self.n - 1)
        h = jnp.abs(dt)
        H = jnp.sqrt(h / 12) * z[k, 1] if z.shape[1] == 2 else jnp.full((self.m,), jnp.nan, z.dtype)
        return BrownianIncrement(jnp.sqrt(h) * z[k, 0], H)

    def values(self, data, ts):
        """W at ``ts``, linear between the grid points t0 + k·dt (exact at the steps of the solve), from the path's
        ``data``. Returns an array of shape (len(ts), m)."""
        z, t0, t1, step = data
        k = jnp.arange(self.n + 1, dtype=t0.dtype)
        grid = jnp.minimum(t0 + k * step, t1)
        h = jnp.diff(grid)
        W = jnp.concatenate([jnp.zeros((1, self.m), z.dtype), jnp.cumsum(jnp.sqrt(h)[:, None] * z[:, 0], axis=0)])
        return jax.vmap(lambda w: jnp.interp(ts, grid, w), in_axes=1, out_axes=1)(W)
