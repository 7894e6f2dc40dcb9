"""`PINNSolution`: the trained field, callable on points and grids, with diagnostics and loss history."""
import jax
import jax.numpy as jnp
import numpy as np

from .losses import term_residuals


class PINNSolution:
    """A trained physics-informed network.

    sol(points)              dependent variables at points (N, n_vars) or one point → (N, n_dep) / (n_dep,)
    sol(points, "u")         one dependent variable → (N,)
    sol.grid(xs, ys, ...)    values on the tensor grid of the axes → (len(xs), len(ys), ..., n_dep)
    sol.parameters           learned parameters {name: value} (inverse problems)
    sol.residuals(points)    residual of every equation and condition term at points
    sol.relative_l2(exact, points)   ‖u − exact‖₂ / ‖exact‖₂ for a known solution exact(points)
    sol.history              per-step loss of every term ("terms") and their total with the given weights ("total")
    sol.plot(...)            solution (and error) heatmaps for 2-D problems, curves for 1-D ones

    Built by `train` from the ``system``, the network ``field`` (x, θ) -> u, its trained parameters ``theta``, the
    loss ``history``, the final ``weights`` and training ``points``.
    """

    def __init__(self, system, field, theta, history, weights, points):
        self.system, self.field, self.theta = system, field, theta
        self.history, self.weights, self.points = history, weights, points
        self._batched = jax.jit(jax.vmap(field, in_axes=(0, None)))

    @property
    def parameters(self):
        return {name: float(v) for name, v in zip(self.system.param_names, self.theta["p"])}

    @property
    def loss(self):
        return float(self.history["total"][-1]) if len(self.history["total"]) else float("nan")

    def __call__(self, points, variable=None):
        points = jnp.asarray(points, dtype=jnp.float64)
        single = points.ndim == 1 and (self.system.n_vars > 1 or points.shape == (1,))
        if self.system.n_vars == 1 and points.ndim == 1 and not single:
            points = points[:, None]
        batch = points[None] if single else points
        if batch.ndim != 2 or batch.shape[1] != self.system.n_vars:
            raise ValueError(f"points must have shape (N, {self.system.n_vars}) or ({self.system.n_vars},), "
                             f"got {points.shape}")
        out = np.asarray(self._batched(batch, self.theta))
        if variable is not None:
            if variable not in self.system.dv_names:
                raise ValueError(f"variable must be one of {list(self.system.dv_names)}, got {variable!r}")
            out = out[:, self.system.dv_names.index(variable)]
        return out[0] if single else out

    def grid(self, *axes):
        """Returns the values on the grid spanned by one 1-D array per independent variable (``axes``,
        ``indexing="ij"``): shape (len(xs), len(ys), ..., n_dep)."""
        if len(axes) != self.system.n_vars:
            raise ValueError(f"grid needs {self.system.n_vars} axes ({list(self.system.iv_names)}), got "
                             f"{len(axes)}")
        mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
        out = self(mesh.reshape(-1, self.system.n_vars))
        return out.reshape(mesh.shape[:-1] + (self.system.n_outputs,))

    def residuals(self, points):
        """Returns {term name: residuals (N,) or (N, m)} of every equation/condition term at ``points`` (N, n_vars),
        with each term's fixed variables set.
        """
        points = jnp.asarray(points, dtype=jnp.float64)
        out = {}
        for term in self.system.terms:
            placed = points
            for index, value in term.fixed:
                placed = placed.at[:, index].set(value)
            out[term.name] = np.asarray(term_residuals(term, self.field, self.theta, placed,
                                                       self.system.param_names))
        return out

    def relative_l2(self, exact, points):
        """Returns the relative L2 error ‖u − exact‖₂ / ‖exact‖₂ at ``points`` against ``exact(points)`` (shape (N,)
        or (N, n_dep))."""
        u = self(points)
        ref = np.asarray(exact(np.asarray(points)), dtype=np.float64).reshape(len(u), -1)
        return float(np.linalg.norm(u - ref) / np.linalg.norm(ref))

    def plot(self, exact=None, variable=None, resolution=101, path=None):
        """Solution (and, with ``exact``, absolute error) as heatmaps over a 2-D domain or curves over a 1-D one,
        for the dependent ``variable`` (default all), sampled at ``resolution`` points per axis; saved to ``path``
        when given. Returns the matplotlib figure.
        """
        from .plotting import plot_solution
        return plot_solution(self, exact, variable, resolution, path)
