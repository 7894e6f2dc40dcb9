"""The λ sweep: fit the same data at many thresholds in one compiled, vmapped call and choose a model by
an information criterion.

For m = N·n residuals r (all equations together), RSS = Σ r² and k active terms (non-zero coefficients):

    AIC  = m ln(RSS/m) + 2k                  (Akaike, IEEE Trans. Autom. Control 19, 716, 1974)
    AICc = AIC + 2k(k + 1)/(m − k − 1)       (Hurvich & Tsai, Biometrika 76, 297, 1989)
    BIC  = m ln(RSS/m) + k ln m              (Schwarz, Ann. Stat. 6, 461, 1978)

the Gaussian log-likelihood with the noise variance at its maximum-likelihood value RSS/m, constants
dropped. RSS is floored at (1e-10·‖Ẋ‖)², the level of round-off in Θ Ξᵀ, so that models that fit exact
derivatives equally well are ranked by their number of terms rather than by round-off.
"""
import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_data, check_names, check_x_dot
from .derivatives import FiniteDifference
from .model import SINDy, check_library, check_optimizer
from .optimizers import STLSQ, prepare

RSS_FLOOR = 1e-10
CRITERIA = ("aic", "aicc", "bic")


class SweepRow(NamedTuple):
    """One row of a `lambda_sweep` table: threshold (λ), n_active (nonzero coefficients), dominant (the
    largest contributions as "eq:term", e.g. "y':x*z"), error (‖Ẋ − ΘΞᵀ‖ / ‖Ẋ‖) and the information criteria
    aic, aicc, bic of the regression.
    """
    threshold: float
    n_active: int
    dominant: str        # the largest contributions, "eq:term" (e.g. "y':x*z")
    error: float         # ‖Ẋ − ΘΞᵀ‖ / ‖Ẋ‖
    aic: float
    aicc: float
    bic: float


@dataclasses.dataclass(frozen=True, eq=False)
class LambdaSweep:
    """The sweep's table (`rows`, one per threshold), every fitted Ξ (`coefficients`, (n_λ, n, p)) and
    the model chosen by ``criterion`` (`best`, a fitted `SINDy`; `best_index` its row)."""
    rows: tuple
    coefficients: jax.Array
    criterion: str
    best_index: int
    best: SINDy

    def __str__(self):
        header = f"{'λ':>10}  {'active':>6}  {'error':>9}  {'AIC':>11}  {'BIC':>11}  dominant terms"
        lines = [header, "-" * len(header)]
        for i, r in enumerate(self.rows):
            mark = "  <- best (" + self.criterion.upper() + ")" if i == self.best_index else ""
            lines.append(f"{r.threshold:10.4g}  {r.n_active:6d}  {r.error:9.3g}  {r.aic:11.5g}  {r.bic:11.5g}  "
                         f"{r.dominant}{mark}")
        return "\n".join(lines)


def information_criteria(rss, k, m):
    """Returns (AIC, AICc, BIC) for residual sum of squares ``rss`` over ``m`` residuals with ``k`` active terms
    (AICc is inf when m − k − 1 ≤ 0)."""
    fit = m * jnp.log(rss / m)
    aic = fit + 2 * k
    aicc = jnp.where(m - k - 1 > 0, aic + 2 * k * (k + 1) / jnp.maximum(m - k - 1, 1), jnp.inf)
    return aic, aicc, fit + k * math.log(m)


def extended_bic(bic, k, p, gamma=1.0):
    """Extended BIC (Chen & Chen 2008, "Extended Bayesian information criteria for model selection with large
    model spaces", Biometrika 95(3), 759–771): returns ``bic + 2 gamma log C(p, k)`` for ``k`` active terms chosen
    among ``p`` candidates. Plain BIC's prior counts every model size alike, so a search over the C(p, k) models of
    each size (forward selection, a λ sweep) admits a spurious term whenever the best of the p − k left improves
    the fit by log m, far likelier than for one term given in advance; the binomial term charges for that search.
    ``gamma`` = 1 is their choice, consistent for any p growing polynomially in m.
    """
    if not 0 <= k <= p:
        raise ValueError(f"k must be between 0 and p = {p} active terms; got {k}")
    return bic + 2.0 * gamma * (math.lgamma(p + 1) - math.lgamma(k + 1) - math.lgamma(p - k + 1))


@functools.partial(jax.jit, static_argnums=0)
def _sweep(library, optimizer, X, x_dot, thresholds):
    reg = prepare(library(X), x_dot)
    coefficients = jax.vmap(lambda th: dataclasses.replace(optimizer, threshold=th).regress(reg))(thresholds)
    fitted = jnp.einsum("tp,knp->ktn", reg.theta, coefficients)
    total = jnp.sum(x_dot ** 2)
    rss = jnp.sum((x_dot - fitted) ** 2, axis=(1, 2))
    k = jnp.sum(coefficients != 0, axis=(1, 2))
    contributions = jnp.abs(coefficients) / jnp.where(reg.scale > 0, reg.scale, jnp.inf)   # |ξ_ij|·‖θ_j‖
    criteria = information_criteria(jnp.maximum(rss, RSS_FLOOR ** 2 * total), k, x_dot.size)
    return coefficients, k, jnp.sqrt(rss / total), contributions, criteria


def lambda_sweep(X, x_dot=None, library=None, thresholds=None, names=None, criterion="aic", optimizer=None,
                 t=None, derivative=None, n_dominant=3) -> LambdaSweep:
    """Fit ``library`` (default `PolynomialLibrary(2)`) to (X, x_dot) at every threshold of ``thresholds``
    (default 20 values log-spaced in [1e-3, 1]) and pick the model with the smallest ``criterion`` ("aic", "aicc"
    or "bic"). ``names``: the variable names (default x, y, z, …). optimizer: `STLSQ` (default, alpha 0) or `SR3`,
    whose threshold is replaced by each λ. Without x_dot, ``derivative`` (default `FiniteDifference()`) estimates
    it from t. ``n_dominant``: how many of the largest terms (by |ξ|·‖θ‖) each row lists. Returns a
    `LambdaSweep` (the table, every fitted Ξ and the chosen model).
    """
    from .libraries import PolynomialLibrary

    X = check_data(X)
    names = check_names(names, X.shape[1])
    library = PolynomialLibrary(2) if library is None else library
    terms = check_library(library, names)
    optimizer = check_optimizer(STLSQ() if optimizer is None else optimizer)
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}; got {criterion!r}")
    if x_dot is None:
        x_dot = (FiniteDifference() if derivative is None else derivative)(X, t)
    x_dot = check_x_dot(x_dot, X)
    thresholds = np.logspace(-3, 0, 20) if thresholds is None else np.asarray(thresholds, X.dtype)
    if thresholds.ndim != 1 or thresholds.size == 0:
        raise ValueError(f"thresholds must be a non-empty 1-D array; got shape {thresholds.shape}")
    if not np.all(thresholds >= 0):
        raise ValueError("thresholds must be non-negative")

    coefficients, k, error, contributions, (aic, aicc, bic) = _sweep(library, optimizer, X, x_dot, thresholds)
    if not np.all(np.isfinite(np.asarray(coefficients))):
        raise ValueError("lambda_sweep: the regression produced non-finite coefficients; the library's columns "
                         "are linearly dependent on these data")
    contributions = np.asarray(contributions)
    rows = tuple(SweepRow(float(th), int(ki), _dominant(c, names, terms, n_dominant), float(e), float(a),
                          float(ac), float(b))
                 for th, ki, c, e, a, ac, b in zip(np.asarray(thresholds), np.asarray(k), contributions,
                                                   np.asarray(error), np.asarray(aic), np.asarray(aicc),
                                                   np.asarray(bic)))
    best = int(np.argmin({"aic": aic, "aicc": aicc, "bic": bic}[criterion]))
    model = SINDy(library, dataclasses.replace(optimizer, threshold=float(thresholds[best])), names=names,
                  coefficients=jnp.asarray(np.asarray(coefficients)[best]))
    return LambdaSweep(rows, coefficients, criterion, best, model)


def _dominant(contribution, names, terms, count):
    """The ``count`` largest non-zero terms of one fitted Ξ as "x':y, y':x*z, ..."."""
    order = np.argsort(-contribution, axis=None)[:count]
    picked = [np.unravel_index(i, contribution.shape) for i in order]
    return ", ".join(f"{names[i]}':{terms[j]}" for i, j in picked if contribution[i, j] > 0) or "–"
