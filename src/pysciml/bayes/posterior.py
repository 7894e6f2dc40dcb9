"""`Posterior`: draws of a model's parameters with their sampler statistics, summaries and diagnostics.

Draws are kept as unconstrained vectors θ (chains, draws, dim) and shown as named constrained values
(``post["p"]`` has shape (chains, draws, *shape)). ``to_dict()`` gives ArviZ's layout
(``arviz.from_dict(**post.to_dict())``) without depending on ArviZ; ``to_arviz()`` builds the InferenceData.
"""
import numpy as np

from . import diagnostics


class Posterior:
    """Posterior draws of ``model``.

    theta        (chains, draws, dim) unconstrained draws
    sample_stats name -> (chains, draws) sampler statistics (NUTS: diverging, acceptance_rate, tree_depth,
                 n_steps, lp, energy, step_size)
    method       how the draws were made ("NUTS", "Laplace", "MeanFieldVI", "SGLD", "pSGLD")
    info         method-specific extras (e.g. the mode and Hessian of a Laplace approximation; pSGLD: the
                 preconditioner G per chain)
    """

    def __init__(self, model, theta, sample_stats=None, method="NUTS", info=None):
        theta = np.asarray(theta, dtype=float)
        if theta.ndim != 3 or theta.shape[-1] != model.dim:
            raise ValueError(f"Posterior: theta must be (chains, draws, {model.dim}); got {theta.shape}")
        self.model, self.theta, self.method = model, theta, method
        self.sample_stats = {k: np.asarray(v) for k, v in (sample_stats or {}).items()}
        self.info = info or {}
        self._samples = None

    @property
    def samples(self):
        """name -> (chains, draws, *shape) constrained draws."""
        if self._samples is None:
            self._samples = {k: np.asarray(v) for k, v in self.model.values(self.theta).items()}
        return self._samples

    def __getitem__(self, name):
        if name not in self.samples:
            raise KeyError(f"Posterior: no variable {name!r}; variables are {list(self.samples)}")
        return self.samples[name]

    @property
    def num_chains(self):
        return self.theta.shape[0]

    @property
    def num_draws(self):
        return self.theta.shape[1]

    @property
    def divergences(self):
        """Number of divergent transitions after warmup (0 for methods that do not diverge)."""
        return int(np.sum(self.sample_stats.get("diverging", 0)))

    def mean(self, name):
        """Returns the posterior mean of the variable ``name`` over all chains and draws (shaped like the variable)."""
        return self[name].mean(axis=(0, 1))

    def std(self, name):
        """Returns the posterior standard deviation (ddof=1) of the variable ``name`` over all chains and draws."""
        return self[name].std(axis=(0, 1), ddof=1)

    def interval(self, name, level=0.9):
        """Returns the equal-tailed credible interval (lower, upper) at ``level`` (e.g. 0.9) of each element of
        ``name``."""
        if not 0 < level < 1:
            raise ValueError(f"interval: level must be in (0, 1); got {level!r}")
        q = (1 - level) / 2
        lo, hi = np.quantile(self[name], [q, 1 - q], axis=(0, 1))
        return lo, hi

    def rhat(self, name):
        """Returns the rank-normalised split R-hat of each element of ``name`` (near 1 when the chains agree)."""
        return self._per_element(name, diagnostics.rhat)

    def ess_bulk(self, name):
        """Returns the bulk effective sample size of each element of ``name``."""
        return self._per_element(name, diagnostics.ess_bulk)

    def ess_tail(self, name):
        """Returns the tail effective sample size (5% and 95% quantiles) of each element of ``name``."""
        return self._per_element(name, diagnostics.ess_tail)

    def shrinkage(self, name, scale):
        """Draws (chains, draws, *shape) of the horseshoe's shrinkage factors κ = 1 / (1 + τ²λ²/scale²) of the
        variable ``name`` (which must have a `Horseshoe` prior). ``scale`` is the size an effect would have to
        reach to be told from noise — for a linear regression the coefficient's standard error σ/‖x_j‖, which
        makes κ the weight of the prior's zero in the posterior mean (Carvalho, Polson & Scott 2010, Biometrika
        97, 465; Piironen & Vehtari 2017, Electron. J. Statist. 11, 5018): κ ≈ 0 a term left alone, κ ≈ 1 one shrunk
        away. Returns the draws of κ."""
        from .priors import Horseshoe
        blocks = [b for b in self.model._blocks if b.var == name]
        if not blocks:
            raise KeyError(f"shrinkage: no variable {name!r}; variables are {list(self.samples)}")
        if len(blocks) != 1 or not isinstance(blocks[0].prior, Horseshoe):
            raise ValueError(f"shrinkage: {name!r} needs one Horseshoe prior (it has "
                             f"{[type(b.prior).__name__ for b in blocks]})")
        b = blocks[0]
        scale = np.broadcast_to(np.asarray(scale, dtype=float), b.shape)
        if not np.all(scale > 0):
            raise ValueError(f"shrinkage: scale must be positive; got {scale!r}")
        tau, lam = b.prior.scales(self.theta[..., b.offset:b.offset + b.size], b.shape)
        r = np.asarray(tau)[..., None] * np.asarray(lam) / scale.ravel()
        return (1.0 / (1.0 + r ** 2)).reshape(self.theta.shape[:2] + b.shape)

    def inclusion_probability(self, name, scale):
        """Returns P(1 − κ > 1/2 | data) for each element of the horseshoe variable ``name``: the posterior probability that the
        term is more signal than shrinkage (τλ > scale), read as the probability that it belongs in the model
        (see `shrinkage`). For SINDy candidate terms, `bayes.inclusion_probabilities` gives exact ones."""
        return np.mean(self.shrinkage(name, scale) < 0.5, axis=(0, 1))

    def _per_element(self, name, fn):
        x = self[name]
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        return np.array([fn(flat[:, :, i]) for i in range(flat.shape[-1])]).reshape(x.shape[2:])

    def summary(self, names=None, level=0.9):
        """Returns rows (variable[index], mean, sd, credible interval at ``level``, R-hat, bulk and tail ESS) as a
        list of dicts, for the variables ``names`` (default all); ``print(post.summary_table())`` shows them.
        """
        rows = []
        q = (1 - level) / 2
        for name in names or self.samples:
            x = self[name]
            flat = x.reshape(x.shape[0], x.shape[1], -1)
            for i in range(flat.shape[-1]):
                d = flat[:, :, i]
                label = name if x.ndim == 2 else f"{name}[{','.join(map(str, np.unravel_index(i, x.shape[2:])))}]"
                lo, hi = np.quantile(d, [q, 1 - q])
                rows.append({"name": label, "mean": d.mean(), "sd": d.std(ddof=1), "lower": lo, "upper": hi,
                             "rhat": diagnostics.rhat(d), "ess_bulk": diagnostics.ess_bulk(d),
                             "ess_tail": diagnostics.ess_tail(d)})
        return rows

    def summary_table(self, names=None, level=0.9):
        """Returns `summary` (for ``names`` at ``level``) as a printable table, with the method, chains, draws and
        divergences."""
        lines = [f"{'':<18}{'mean':>11}{'sd':>10}{f'{(1-level)/2:.0%}':>10}{f'{(1+level)/2:.0%}':>10}"
                 f"{'r_hat':>8}{'ess_bulk':>10}{'ess_tail':>10}"]
        for r in self.summary(names, level):
            lines.append(f"{r['name']:<18}{r['mean']:>11.4g}{r['sd']:>10.3g}{r['lower']:>10.4g}{r['upper']:>10.4g}"
                         f"{r['rhat']:>8.3f}{r['ess_bulk']:>10.0f}{r['ess_tail']:>10.0f}")
        lines.append(f"{self.method}: {self.num_chains} chain(s) x {self.num_draws} draws"
                     + (f", {self.divergences} divergent" if "diverging" in self.sample_stats else ""))
        return "\n".join(lines)

    def __repr__(self):
        return (f"Posterior({self.method}, {self.num_chains} chains x {self.num_draws} draws, variables="
                f"{list(self.samples)}, divergences={self.divergences})")

    # --- ArviZ ---------------------------------------------------------------------------------------------------
    def to_dict(self):
        """ArviZ's layout: {"posterior": name -> (chain, draw, ...), "sample_stats": ..., "observed_data": ...};
        ``arviz.from_dict(**post.to_dict())`` builds InferenceData."""
        return {"posterior": dict(self.samples), "sample_stats": dict(self.sample_stats),
                "observed_data": {"y": np.asarray(self.model.data)}}

    def to_arviz(self):
        """Returns the draws as ArviZ InferenceData (needs ArviZ; `to_dict` gives the same data without it)."""
        try:
            import arviz
        except ImportError as e:        # ArviZ is optional: to_dict() needs nothing
            raise ImportError("to_arviz needs ArviZ (pip install arviz); to_dict() gives the same data") from e
        return arviz.from_dict(**self.to_dict())

    # --- persistence ---------------------------------------------------------------------------------------------
    def save(self, path):
        """Write the draws and sampler statistics to the .npz file ``path`` (`Posterior.load` reads them back with
        the model). Returns None."""
        np.savez(path, theta=self.theta, method=self.method,
                 **{f"stat_{k}": v for k, v in self.sample_stats.items()})

    @classmethod
    def load(cls, model, path):
        with np.load(path) as f:
            stats = {k[5:]: f[k] for k in f.files if k.startswith("stat_")}
            return cls(model, f["theta"], stats, str(f["method"]))

    # --- predictions -----------------------------------------------------------------------------------------
    def predict(self, times=None, draws=200, key=0, noise=False, ensemble_alg=None, linearized=None):
        """Returns the posterior predictive (`Predictive`) at ``times`` of ``draws`` draws (picked with ``key``),
        through an `EnsembleProblem` solved with ``ensemble_alg`` or linearised at the mode (``linearized``);
        ``noise=True`` for bands that new observations should fall in. See `bayes.posterior_predictive`."""
        from .predictive import posterior_predictive
        return posterior_predictive(self, times=times, draws=draws, key=key, noise=noise, ensemble_alg=ensemble_alg,
                                    linearized=linearized)
