"""Posterior predictive: the model solved at posterior draws, through `ps.EnsembleProblem` (one member per draw,
vmapped), with credible bands over time and a plot."""
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .._core.retcode import ReturnCode
from ..ensembles import EnsembleProblem, EnsembleVmap
from ..solve import solve


class Predictive:
    """Predictions at ``t`` for ``draws.shape[0]`` posterior draws.

    draws    (n, len(t), *obs_shape): the observed quantity per draw (with observation noise if it was asked
             for); members whose solve failed are NaN and left out of the statistics
    retcode  (n,) return codes of the member solves
    """

    def __init__(self, t, draws, retcode, data_times=None, data=None):
        self.t, self.draws, self.retcode = np.asarray(t), np.asarray(draws), np.asarray(retcode)
        self.data_times, self.data = data_times, data

    def band(self, level=0.9):
        """Equal-tailed pointwise credible band (lower, upper), each shaped (len(t), *obs_shape)."""
        if not 0 < level < 1:
            raise ValueError(f"band: level must be in (0, 1); got {level!r}")
        q = (1 - level) / 2
        lo, hi = np.nanquantile(self.draws, [q, 1 - q], axis=0)
        return lo, hi

    def median(self):
        return np.nanmedian(self.draws, axis=0)

    def mean(self):
        return np.nanmean(self.draws, axis=0)

    def coverage(self, truth, level=0.9):
        """Fraction of the points of ``truth`` (shaped like one draw) inside the band."""
        lo, hi = self.band(level)
        truth = np.asarray(truth)
        return float(np.mean((truth >= lo) & (truth <= hi)))

    def plot(self, ax=None, levels=(0.5, 0.9), truth=None, labels=None, show_data=True):
        """Median and nested credible bands of each observed component, with the data and an optional truth."""
        import matplotlib.pyplot as plt
        ax = plt.gca() if ax is None else ax
        med = self.median().reshape(len(self.t), -1)
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for j in range(med.shape[1]):
            c = colors[j % len(colors)]
            name = labels[j] if labels else f"y{j}"
            for level in sorted(levels, reverse=True):
                lo, hi = (b.reshape(len(self.t), -1)[:, j] for b in self.band(level))
                ax.fill_between(self.t, lo, hi, color=c, alpha=0.15 + 0.15 * (level < max(levels)), lw=0)
            ax.plot(self.t, med[:, j], color=c, label=f"{name} median")
            if truth is not None:
                ax.plot(self.t, np.asarray(truth).reshape(len(self.t), -1)[:, j], "--", color="k", lw=1)
            if show_data and self.data is not None:
                ax.plot(self.data_times, np.asarray(self.data).reshape(len(self.data_times), -1)[:, j], "o",
                        color=c, ms=3)
        ax.set_xlabel("t")
        ax.legend(fontsize="small")
        return ax


def posterior_predictive(post, times=None, draws=200, key=0, noise=False, ensemble_alg=None):
    """`Predictive` of ``draws`` posterior draws (drawn without replacement) solved at ``times`` (default: a fine
    grid over the span of the data times) as one `EnsembleProblem`; ``noise=True`` adds observation noise
    (a prediction interval for new data) instead of the noise-free model output (a credible band)."""
    model = post.model
    times = jnp.linspace(model.times[0], model.times[-1], 200) if times is None else jnp.asarray(times, float)
    key = jax.random.key(key) if isinstance(key, (int, np.integer)) else key
    k_pick, k_noise = jax.random.split(key)
    flat = post.theta.reshape(-1, model.dim)
    n = min(int(draws), flat.shape[0])
    pick = np.asarray(jax.random.choice(k_pick, flat.shape[0], (n,), replace=False))
    p, u0, noise_values = _constrain_batch(model)(jnp.asarray(flat[pick]))
    eprob = EnsembleProblem(
        model.problem, prob_func=lambda prob, i, repeat: prob.remake(p=jax.tree_util.tree_map(lambda x: x[i], p),
                                                                     u0=u0[i]))
    ens = solve(eprob, model.alg, ensemble_alg or EnsembleVmap(), trajectories=n, saveat=times,
                   **model.solve_options)
    ys = _observe_batch(model)(ens.u, times, p)
    if noise:
        keys = jax.random.split(k_noise, n)
        ys = jax.vmap(model.likelihood.sample)(keys, ys, noise_values)
    retcode = np.asarray(ens.retcode)
    ys = np.asarray(ys)
    failed = retcode != int(ReturnCode.Success)
    if failed.any():
        ys[failed] = np.nan
        warnings.warn(f"posterior_predictive: {int(failed.sum())} of {n} member solves failed; they are left out",
                      UserWarning, stacklevel=2)
    return Predictive(times, ys, retcode, np.asarray(model.times), np.asarray(model.data))


def _constrain_batch(model):
    if "constrain-batch" not in model._cache:
        model._cache["constrain-batch"] = jax.jit(jax.vmap(lambda th: model.constrain(th)[:3]))
    return model._cache["constrain-batch"]


def _observe_batch(model):
    if "observe-batch" not in model._cache:
        model._cache["observe-batch"] = jax.jit(jax.vmap(
            lambda us, ts, p: jax.vmap(lambda u, t: model.observe(u, p, t))(us, ts), in_axes=(0, None, 0)))
    return model._cache["observe-batch"]
