"""`EnsembleSolution`: the stacked outputs of an ensemble and per-time statistics across trajectories."""
import jax
import jax.numpy as jnp

from ..integrate import ODESolution


class EnsembleSolution:
    """u: the outputs (stacked solutions: ``sol.u`` has shape (trajectories, len(t), ...)) or the reduced
    value. mean/var/std/quantile summarise the states across trajectories at each saved time — or, with
    ``t=...``, at any times, through each trajectory's dense output."""

    def __init__(self, u, converged=False):
        self.u = u
        self.converged = converged

    def __len__(self):
        return jax.tree_util.tree_leaves(self.u)[0].shape[0]

    def __getitem__(self, i):
        return jax.tree_util.tree_map(lambda x: x[i], self.u)

    @property
    def t(self):
        return self._solutions().t

    @property
    def retcode(self):
        return self._solutions()._retcode

    @property
    def success(self):
        return self._solutions().success

    def states(self, t=None):
        """States of every trajectory, (trajectories, len(t), ...): at the saved times, or interpolated at t."""
        sols = self._solutions()
        if t is None:
            return sols.u
        return jax.vmap(lambda s: s(jnp.atleast_1d(jnp.asarray(t))))(sols)

    def mean(self, t=None):
        return jax.tree_util.tree_map(lambda x: jnp.mean(x, axis=0), self.states(t))

    def var(self, t=None):
        return jax.tree_util.tree_map(lambda x: jnp.var(x, axis=0, ddof=1), self.states(t))

    def std(self, t=None):
        return jax.tree_util.tree_map(lambda x: jnp.std(x, axis=0, ddof=1), self.states(t))

    def quantile(self, q, t=None):
        """Quantile(s) q in [0, 1] across trajectories at each time."""
        return jax.tree_util.tree_map(lambda x: jnp.quantile(x, jnp.asarray(q), axis=0), self.states(t))

    def _solutions(self) -> ODESolution:
        if not isinstance(self.u, ODESolution):
            raise TypeError("this ensemble kept custom outputs (output_func/reduction), not solutions: "
                            "summaries need the default output_func")
        return self.u

    def __repr__(self):
        return f"EnsembleSolution({len(self)} trajectories)" if isinstance(self.u, ODESolution) else \
            f"EnsembleSolution(u={type(self.u).__name__})"
