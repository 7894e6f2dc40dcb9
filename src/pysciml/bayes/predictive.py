"""Posterior predictive: the model solved at posterior draws, through `ps.EnsembleProblem` (one member per draw,
vmapped), with credible bands over time and a plot."""
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .._core.retcode import ReturnCode
from ..ensembles import EnsembleProblem, EnsembleVmap
from ..ensembles.plotting import plot_bands
from ..sensitivity import ForwardDiffSensitivity
from ..solve import solve


class Predictive:
    """Predictions at ``t`` for ``draws.shape[0]`` posterior draws.

    draws       (n, len(t), *obs_shape): the observed quantity per draw (with observation noise if it was asked
                for); members whose solve failed are NaN and left out of the statistics
    retcode     (n,) return codes of the member solves
    data_times, data: the model's data, drawn by `plot`
    """

    def __init__(self, t, draws, retcode, data_times=None, data=None):
        self.t, self.draws, self.retcode = np.asarray(t), np.asarray(draws), np.asarray(retcode)
        self.data_times, self.data = data_times, data

    def band(self, level=0.9):
        """Returns the equal-tailed pointwise credible band (lower, upper) at ``level``, each shaped (len(t),
        *obs_shape)."""
        if not 0 < level < 1:
            raise ValueError(f"band: level must be in (0, 1); got {level!r}")
        q = (1 - level) / 2
        lo, hi = np.nanquantile(self.draws, [q, 1 - q], axis=0)
        return lo, hi

    def median(self):
        """Returns the pointwise median over the draws, shaped (len(t), *obs_shape)."""
        return np.nanmedian(self.draws, axis=0)

    def mean(self):
        """Returns the pointwise mean over the draws, shaped (len(t), *obs_shape)."""
        return np.nanmean(self.draws, axis=0)

    def coverage(self, truth, level=0.9):
        """Returns the fraction of the points of ``truth`` (shaped like one draw) inside the band at ``level``."""
        lo, hi = self.band(level)
        truth = np.asarray(truth)
        return float(np.mean((truth >= lo) & (truth <= hi)))

    def plot(self, ax=None, levels=(0.5, 0.9), truth=None, labels=None, show_data=True):
        """Plot the median and nested credible bands (``levels``) of each observed component on ``ax`` (default the
        current axes), named by ``labels``, with the data (``show_data``) and an optional ``truth``. Returns the axes.
        """
        n_t = len(self.t)
        med = self.median().reshape(n_t, -1)
        names = labels if labels else [f"y{j}" for j in range(med.shape[1])]
        bands = [tuple(b.reshape(n_t, -1) for b in self.band(level)) for level in sorted(levels, reverse=True)]

        def extra(ax, j, c):
            if truth is not None:
                ax.plot(self.t, np.asarray(truth).reshape(n_t, -1)[:, j], "--", color="k", lw=1)
            if show_data and self.data is not None:
                ax.plot(self.data_times, np.asarray(self.data).reshape(len(self.data_times), -1)[:, j], "o",
                        color=c, ms=3)

        return plot_bands(ax, self.t, med, bands, names, center_label="median", extra=extra)


def posterior_predictive(post, times=None, draws=200, key=0, noise=False, ensemble_alg=None, linearized=None):
    """Returns the `Predictive` of ``draws`` draws of the posterior ``post`` (picked without replacement with
    ``key``) solved at ``times`` (default: a fine grid over the span of the data times) as one `EnsembleProblem`
    (``ensemble_alg``, default `EnsembleVmap`).

    noise       True: add observation noise — a prediction band for new observations (what held-out data are
                compared with); False: the noise-free model output — a credible band of the mean curve, which
                new noisy data fall outside of by design
    linearized  push the draws through the model linearised at the mode, y(θ̂) + J(θ − θ̂) (one forward-mode
                Jacobian instead of a solve per draw). None: only for a Gauss–Newton Laplace posterior, whose
                covariance is exactly the linearised model's posterior; pushing its draws through the nonlinear
                network instead spreads them along directions the data never constrained, which gives bands
                orders of magnitude too wide (Immer, Korzepa & Bauer 2021, AISTATS, "Improving predictions of
                Bayesian neural nets via local linearization")
    """
    model = post.model
    times = jnp.linspace(model.times[0], model.times[-1], 200) if times is None else _check_times(times, model)
    key = jax.random.key(key) if isinstance(key, (int, np.integer)) else key
    k_pick, k_noise = jax.random.split(key)
    flat = post.theta.reshape(-1, model.dim)
    n = min(int(draws), flat.shape[0])
    pick = np.asarray(jax.random.choice(k_pick, flat.shape[0], (n,), replace=False))
    if linearized is None:
        linearized = post.method == "Laplace" and post.info.get("hessian_method") == "gauss-newton"
    if linearized:
        return _linearized(post, times, jnp.asarray(flat[pick]), noise, k_noise)
    p, u0, noise_values = _constrain_batch(model)(jnp.asarray(flat[pick]))
    if ensemble_alg is None or isinstance(ensemble_alg, EnsembleVmap):
        # compiled once per model and number of draws (a fresh prob_func closure would recompile every call)
        us, retcode = _ensemble_fn(model, n)(p, u0, times)
    else:
        ens = _ensemble_solve(model, p, u0, times, n, ensemble_alg)
        us, retcode = ens.u, ens.retcode
    ys = _observe_batch(model)(us, times, p)
    if noise:
        keys = jax.random.split(k_noise, n)
        ys = jax.vmap(model.likelihood.sample)(keys, ys, noise_values)
    retcode = np.asarray(retcode)
    ys = np.asarray(ys)
    failed = retcode != int(ReturnCode.Success)
    if failed.any():
        ys[failed] = np.nan
        warnings.warn(f"posterior_predictive: {int(failed.sum())} of {n} member solves failed; they are left out",
                      UserWarning, stacklevel=2)
    return Predictive(times, ys, retcode, np.asarray(model.times), np.asarray(model.data))


def _check_times(times, model):
    t = np.asarray(times, dtype=float)
    lo, hi = sorted(float(np.asarray(x)) for x in model.problem.tspan)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
        raise ValueError(f"predict: times must be a non-empty 1-D array of finite times; got shape {t.shape}")
    if np.any((t < lo) | (t > hi)):
        raise ValueError(f"predict: times must lie inside the problem's tspan ({lo}, {hi}); got [{t.min()}, "
                         f"{t.max()}] (remake the problem with a longer tspan to extrapolate)")
    return jnp.asarray(t)


def _linearized(post, times, thetas, noise, key):
    """Draws of the model linearised at the mode: y(θ̂) + J (θ − θ̂), J by forward mode through the solve."""
    model = post.model
    mode = post.info.get("mode")
    center = jnp.asarray(mode.theta if mode is not None else post.theta.reshape(-1, model.dim).mean(0))
    jac, (y0, retcode) = _jacobian_fn(model)(center, times)                     # (times, *obs, dim)
    if int(retcode) != int(ReturnCode.Success):
        raise ValueError(f"predict: the solve at the posterior mode fails ({ReturnCode(int(retcode)).name}) at "
                         "these times; use linearized=False")
    ys = y0 + jnp.tensordot(thetas - center, jnp.moveaxis(jac, -1, 0), axes=1)
    if noise:
        noise_values = jax.vmap(lambda th: model.constrain(th)[2])(thetas)
        ys = jax.vmap(model.likelihood.sample)(jax.random.split(key, thetas.shape[0]), ys, noise_values)
    return Predictive(times, np.asarray(ys), np.full(thetas.shape[0], int(ReturnCode.Success)),
                      np.asarray(model.times), np.asarray(model.data))


def _jacobian_fn(model):
    """(θ, times) -> (d observed / dθ, (observed, return code)), compiled once per model (times are traced)."""
    if "linearized-jacobian" not in model._cache:
        def observed(th, times):
            p, u0, _, _ = model.constrain(th)
            sol = solve(model.problem.remake(p=p, u0=u0), model.alg, saveat=times,
                        sensealg=ForwardDiffSensitivity(), **model.solve_options)
            y = jax.vmap(lambda u, t: model.observe(u, p, t))(sol.u, sol.t)
            return y, (y, sol.retcode)
        model._cache["linearized-jacobian"] = jax.jit(jax.jacfwd(observed, has_aux=True))
    return model._cache["linearized-jacobian"]


def _ensemble_solve(model, p, u0, times, n, ensemble_alg):
    """The model solved at each draw's (p, u0): one `EnsembleProblem` member per draw."""
    eprob = EnsembleProblem(
        model.problem, prob_func=lambda prob, i, repeat: prob.remake(p=jax.tree_util.tree_map(lambda x: x[i], p),
                                                                     u0=u0[i]))
    return solve(eprob, model.alg, ensemble_alg, trajectories=n, saveat=times, **model.solve_options)


def _ensemble_fn(model, n):
    key = ("predict-ensemble", n)
    if key not in model._cache:
        def run(p, u0, times):
            ens = _ensemble_solve(model, p, u0, times, n, EnsembleVmap())
            return ens.u, ens.retcode
        model._cache[key] = jax.jit(run)
    return model._cache[key]


def _constrain_batch(model):
    if "constrain-batch" not in model._cache:
        model._cache["constrain-batch"] = jax.jit(jax.vmap(lambda th: model.constrain(th)[:3]))
    return model._cache["constrain-batch"]


def _observe_batch(model):
    if "observe-batch" not in model._cache:
        model._cache["observe-batch"] = jax.jit(jax.vmap(
            lambda us, ts, p: jax.vmap(lambda u, t: model.observe(u, p, t))(us, ts), in_axes=(0, None, 0)))
    return model._cache["observe-batch"]
