"""`EnsembleSolution`: the stacked outputs of an ensemble and per-time statistics across trajectories."""
import jax
import jax.numpy as jnp
import numpy as np

from .._core.trees import host_slice
from ..solution import ODESolution, SDESolution


@jax.tree_util.register_pytree_node_class
class EnsembleSolution:
    """The result of solving an `EnsembleProblem`; a pytree, so it can be returned from `jax.jit`.

    u: with the default output_func, the states of every trajectory stacked like an array,
    (trajectories, len(t), *u0.shape) (``np.asarray(ens)`` gives the same); otherwise the stacked outputs of
    output_func, or the reduced value when the problem has a reduction. ens[i]: trajectory i's solution (or
    output); ens[a:b] or ens[index_array]: an `EnsembleSolution` of those trajectories; len(ens), iteration.
    outputs: the stacked outputs themselves (one `ODESolution` whose arrays have a leading trajectory axis).
    t, retcode, success: per trajectory. mean/var/std/quantile summarise the states across trajectories at each
    saved time — or, with ``t=...``, at any times, through each trajectory's dense output (NaN outside a
    trajectory's span). Without saveat every trajectory keeps max_steps + 1 entries, padded with its final
    time and state; ens[i] trims them to the steps taken.

    outputs: the stacked outputs (what `solve` builds; users do not construct this class). converged: with
    a reduction, whether its ``converged`` flag stopped the ensemble early.
    """

    def __init__(self, outputs, converged=False):
        self.outputs = outputs
        self.converged = converged

    # --- pytree protocol ------------------------------------------------------------------------------
    def tree_flatten(self):
        return (self.outputs,), bool(self.converged)

    @classmethod
    def tree_unflatten(cls, converged, children):
        return cls(children[0], converged)

    # --- array-like view -------------------------------------------------------------------------------
    @property
    def u(self):
        return self.outputs.u if isinstance(self.outputs, ODESolution) else self.outputs

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.u, dtype=dtype)

    def __len__(self):
        return jax.tree_util.tree_leaves(self.outputs)[0].shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __getitem__(self, i):
        if isinstance(i, (int, np.integer)) and not isinstance(i, bool):
            if not -len(self) <= i < len(self):
                raise IndexError(f"EnsembleSolution: index {i} out of range for {len(self)} trajectories")
            return _trimmed(jax.tree_util.tree_map(lambda x: x[i], self.outputs))
        return EnsembleSolution(jax.tree_util.tree_map(lambda x: x[i], self.outputs), self.converged)

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
        """Returns the states of every trajectory, (trajectories, len(t), ...): at the saved times when ``t`` is
        None, or interpolated at the times ``t`` through each trajectory's dense output.
        """
        sols = self._solutions()
        if t is None:
            return sols.u
        return jax.vmap(lambda s: s(jnp.atleast_1d(jnp.asarray(t))))(sols)

    def mean(self, t=None):
        """Returns the mean of the states across trajectories at each saved time (or, with ``t``, at the times
        ``t`` through each trajectory's dense output), shaped like one trajectory's states.
        """
        return jax.tree_util.tree_map(lambda x: jnp.mean(x, axis=0), self.states(t))

    def var(self, t=None):
        """Returns the sample variance (ddof=1) of the states across trajectories at each saved time (or, with ``t``,
        at the times
        ``t`` through each trajectory's dense output), shaped like one trajectory's states.
        """
        return jax.tree_util.tree_map(lambda x: jnp.var(x, axis=0, ddof=1), self.states(t))

    def std(self, t=None):
        """Returns the sample standard deviation (ddof=1) of the states across trajectories at each saved time (or,
        with ``t``, at the times
        ``t`` through each trajectory's dense output), shaped like one trajectory's states.
        """
        return jax.tree_util.tree_map(lambda x: jnp.std(x, axis=0, ddof=1), self.states(t))

    def quantile(self, q, t=None):
        """Returns the quantile(s) ``q`` ∈ [0, 1] of the states across trajectories at each saved time (or, with
        ``t``, at the times
        ``t`` through each trajectory's dense output), shaped like one trajectory's states, with a leading axis when
        ``q`` is an array.
        """
        return jax.tree_util.tree_map(lambda x: jnp.quantile(x, jnp.asarray(q), axis=0), self.states(t))

    def plot(self, ax=None, quantiles=(0.05, 0.95), idxs=None, trajectories=0, t=None, labels=None):
        """The mean of each state component over time with quantile bands across trajectories (matplotlib; returns
        the axes). ``ax``: the matplotlib axes to draw on (None: the current axes). ``quantiles``: one (lower,
        upper) pair or several, e.g. ((0.05, 0.95), (0.25, 0.75)), drawn nested; ``idxs``: the components (indices
        into the flattened state; default all); ``trajectories``: how many sample paths (the first ones) to draw
        thin; ``t``: times to evaluate at through the dense output (needed when the trajectories were saved at
        different times: adaptive steps without ``saveat``); ``labels``: one name per plotted component."""
        pairs = _quantile_pairs(quantiles)
        if isinstance(trajectories, bool) or not isinstance(trajectories, (int, np.integer)) or \
                not 0 <= trajectories <= len(self):
            raise ValueError(f"plot: trajectories must be an integer in [0, {len(self)}] (sample paths to draw); "
                             f"got {trajectories!r}")
        times = self._plot_times(t)
        n_t = times.shape[0]
        flat = lambda x: np.asarray(x).reshape(n_t, -1)
        n = flat(self.mean(t)).shape[1]
        idxs = list(range(n)) if idxs is None else list(np.atleast_1d(idxs))
        if not all(isinstance(i, (int, np.integer)) and -n <= i < n for i in idxs):
            raise ValueError(f"plot: idxs must be component indices in [0, {n}) of the flattened state; got {idxs!r}")
        if labels is not None and len(labels) != len(idxs):
            raise ValueError(f"plot: labels must name the {len(idxs)} plotted components; got {len(labels)}")
        names = list(labels) if labels is not None else [f"u[{i}]" for i in idxs]
        q = np.asarray(self.quantile(np.ravel(pairs), t)).reshape(len(pairs), 2, n_t, -1)[..., idxs]
        samples = None
        if trajectories:
            samples = np.asarray(self[:trajectories].states(t)).reshape(trajectories, n_t, -1)[..., idxs]
        from .plotting import plot_bands
        return plot_bands(ax, times, flat(self.mean(t))[:, idxs], [(lo, hi) for lo, hi in q], names, "mean", samples)

    def _plot_times(self, t):
        if t is not None:
            return np.atleast_1d(np.asarray(t))
        ts = np.asarray(self.t)
        if not np.all(ts == ts[:1]):
            raise ValueError("plot: the trajectories were saved at different times (adaptive steps without saveat); "
                             "pass t=... (evaluated through each trajectory's dense output) or solve with saveat")
        return ts[0]

    def _solutions(self) -> ODESolution:
        if not isinstance(self.outputs, ODESolution):
            raise TypeError("this ensemble kept custom outputs (output_func/reduction), not solutions: "
                            "summaries need the default output_func")
        return self.outputs

    def __repr__(self):
        return f"EnsembleSolution({len(self)} trajectories)" if isinstance(self.outputs, ODESolution) else \
            f"EnsembleSolution(u={type(self.outputs).__name__})"


def _quantile_pairs(quantiles):
    """((lower, upper), ...) from one pair or several, widest first; lower < upper in [0, 1]."""
    pairs = np.asarray(quantiles, dtype=float)
    pairs = pairs[None] if pairs.ndim == 1 else pairs
    if pairs.ndim != 2 or pairs.shape[1] != 2 or not np.all((0 <= pairs) & (pairs <= 1)) or \
            not np.all(pairs[:, 0] < pairs[:, 1]):
        raise ValueError("plot: quantiles must be a (lower, upper) pair or a sequence of pairs with 0 <= lower < "
                         f"upper <= 1, e.g. (0.05, 0.95); got {quantiles!r}")
    return pairs[np.argsort(pairs[:, 0] - pairs[:, 1])]


def _trimmed(member):
    """A member solution without the padding of the shared save-every-step buffer (when concrete)."""
    if not isinstance(member, ODESolution) or member.dense is None:
        return member
    dense = member.dense
    if member.t.shape[0] != dense.ts.shape[0] or isinstance(dense.n_steps, jax.core.Tracer):
        return member
    n = int(dense.n_steps) + 1
    trimmed = ODESolution(host_slice(member.t, 0, n), host_slice(member._u_flat, 0, n), member._retcode, member.stats,
                          dense, member.p, f=member.f, alg=member.alg, spec=member.spec, events=member.events,
                          saved_values=member.saved_values)
    return SDESolution.of(trimmed, host_slice(member.W, 0, n)) if isinstance(member, SDESolution) else trimmed
