"""Convergence diagnostics of MCMC draws (numpy, after sampling): rank-normalised split R-hat and bulk/tail
effective sample sizes, as defined by Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021), "Rank-normalization,
folding, and localization: an improved R-hat", Bayesian Analysis 16(2). The same definitions as Stan and ArviZ
(the tests compare with ArviZ). Every function takes draws shaped (chains, draws) for one scalar quantity.
"""
import numpy as np
from scipy import stats


def _autocovariance(x):
    """Biased autocovariance of each row at every lag, by FFT."""
    n = x.shape[-1]
    size = 2 ** int(np.ceil(np.log2(2 * n)))
    centred = x - x.mean(axis=-1, keepdims=True)
    f = np.fft.rfft(centred, n=size)
    return np.fft.irfft(f * np.conj(f), n=size)[..., :n] / n


def _ess_raw(draws):
    """ESS of (chains, draws) by Geyer's initial monotone sequence over the multi-chain autocorrelation."""
    chains, n = draws.shape
    if n < 4:
        return np.nan
    if np.ptp(draws) == 0:
        return np.nan
    acov = _autocovariance(draws)
    chain_mean = draws.mean(axis=1)
    mean_var = acov[:, 0].mean() * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if chains > 1:
        var_plus += chain_mean.var(ddof=1)
    rho = np.zeros(n)
    rho_even, rho_odd = 1.0, 1.0 - (mean_var - acov[:, 1].mean()) / var_plus
    rho[0], rho[1] = rho_even, rho_odd
    t = 1
    while t < n - 3 and rho_even + rho_odd > 0:        # Geyer's initial positive sequence
        rho_even = 1.0 - (mean_var - acov[:, t + 1].mean()) / var_plus
        rho_odd = 1.0 - (mean_var - acov[:, t + 2].mean()) / var_plus
        if rho_even + rho_odd >= 0:
            rho[t + 1], rho[t + 2] = rho_even, rho_odd
        t += 2
    max_t = t - 2
    if rho_even > 0:                                    # the last even lag improves the estimate (Stan)
        rho[max_t + 1] = rho_even
    t = 1
    while t <= max_t - 2:                               # ... made monotone
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = rho[t + 2] = (rho[t - 1] + rho[t]) / 2.0
        t += 2
    total = chains * n
    tau = -1.0 + 2.0 * rho[:max_t + 1].sum() + rho[max_t + 1]
    tau = max(tau, 1.0 / np.log10(total))
    return total / tau


def _split(draws):
    n = draws.shape[1] // 2
    return np.concatenate([draws[:, :n], draws[:, -n:]], axis=0)


def _rank_normalise(draws):
    ranks = stats.rankdata(draws, method="average").reshape(draws.shape)
    return stats.norm.ppf((ranks - 3.0 / 8.0) / (draws.size + 1.0 / 4.0))


def _rhat_raw(draws):
    chains, n = draws.shape
    between = n * draws.mean(axis=1).var(ddof=1)
    within = draws.var(axis=1, ddof=1).mean()
    return np.sqrt(((n - 1.0) / n * within + between / n) / within)


def _as_draws(draws):
    d = np.asarray(draws, dtype=float)
    if d.ndim == 1:
        d = d[None]
    if d.ndim != 2:
        raise ValueError(f"expected draws shaped (chains, draws) for one quantity; got shape {d.shape}")
    return d


def rhat(draws):
    """Rank-normalised split R-hat: the larger of the bulk and folded (tail) versions; ≈ 1 when chains agree."""
    d = _as_draws(draws)
    if not np.all(np.isfinite(d)) or np.ptp(d) == 0:
        return np.nan
    s = _split(d)
    bulk = _rhat_raw(_rank_normalise(s))
    tail = _rhat_raw(_rank_normalise(np.abs(s - np.median(s))))
    return max(bulk, tail)


def ess_bulk(draws):
    """Bulk effective sample size: ESS of the rank-normalised split chains (how well the centre is estimated)."""
    d = _as_draws(draws)
    return _ess_raw(_rank_normalise(_split(d))) if np.all(np.isfinite(d)) else np.nan


def ess_tail(draws, prob=0.05):
    """Tail effective sample size: the smaller ESS of the indicators of the prob and 1 − prob quantiles."""
    d = _as_draws(draws)
    if not np.all(np.isfinite(d)):
        return np.nan
    s = _split(d)
    lo, hi = np.quantile(s, [prob, 1 - prob])
    return min(_ess_raw((s <= lo).astype(float)), _ess_raw((s <= hi).astype(float)))


def ess_mean(draws):
    """ESS for the mean of the raw (split) draws: the Monte Carlo standard error of the mean is sd/√ESS."""
    d = _as_draws(draws)
    return _ess_raw(_split(d))


def mcse_mean(draws):
    d = _as_draws(draws)
    return d.std(ddof=1) / np.sqrt(ess_mean(d))


__all__ = ["ess_bulk", "ess_mean", "ess_tail", "mcse_mean", "rhat"]
