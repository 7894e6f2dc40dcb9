"""Posterior inclusion probabilities of SINDy candidate terms: "how probable is it that a mechanism is missing".

For UDE + SINDy (Rackauckas et al. 2020, §2.1) the network learns the unknown part of the right-hand side and
SINDy explains it by a few library terms Θ(u). Here each component of the missing term, y = Θ(u) ξ + ε, gets a
discrete spike-and-slab prior on ξ: term j is in (γ_j = 1) or exactly zero (γ_j = 0), and the inclusion
probability is P(γ_j = 1 | y) — the posterior probability that the mechanism "term j" is present.

Why the discrete spike-and-slab with the indicators marginalised exactly (not a horseshoe, not a continuous
relaxation): with a Zellner g-prior slab ξ_γ | σ² ~ N(0, g σ² (Θ_γᵀΘ_γ)⁻¹) and σ² ~ InvGamma(a, b) (Jeffreys
1/σ² by default, a = b = 0) the evidence of each inclusion pattern γ is closed form (Liang, Paulo, Molina,
Clyde & Berger 2008, JASA 103, eq. 5; George & McCulloch 1997 for the enumeration):

    log p(y | γ) = const − |γ|/2 · log(1 + g) − (a + N/2) · log(b + ½ (yᵀy − g/(1+g) · yᵀ P_γ y)),

P_γ the projection onto the columns in γ. A SINDy library has few terms per equation (a quadratic library in
two or three states: 6–10), so all 2^P patterns are enumerated in one vmapped batch of small Cholesky solves:
the probabilities are exact, with no Monte-Carlo error and no sampler tuning, and cost milliseconds. A
horseshoe's "inclusion" is a reading of a continuous shrinkage factor (1 − κ > 1/2) and needs NUTS on a funnel;
it remains available for network weights (`Horseshoe`, `Posterior.inclusion_probability`) and for libraries
too large to enumerate. Defaults: g = max(N, P²), the benchmark prior of Fernández, Ley & Steel (2001,
J. Econometrics 100); model prior beta-binomial(1, 1), which corrects for the number of candidate terms
(Scott & Berger 2010, Ann. Statist. 38): p(γ) = 1 / ((P + 1) · C(P, |γ|)).

The evidence is invariant to rescaling Θ's columns (P_γ is), so columns are normalised before the solves.

The network's uncertainty enters by averaging over posterior draws: P(γ_j | data) = E_w[P(γ_j | y(w))], the
inclusion probability given the missing term that draw w of the network predicts (a two-stage approximation:
the network's output is treated as the regression's data, as SINDy treats it).
"""
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..sindy.libraries import Library, default_names


@dataclass(frozen=True)
class InclusionResult:
    """probability  (n_terms, n_targets): P(term j in component k of the missing term | data)
    coefficients  (n_terms, n_targets): model-averaged posterior mean of the coefficients
    terms         the library's term names; targets: the components' names
    patterns      (2^n_terms, n_terms) every inclusion pattern γ, in the order of log_evidence
    log_evidence  (n_targets, 2^n_terms) log p(y | γ) + log p(γ), unnormalised (the last draw's, for inspection)
    """
    probability: np.ndarray
    coefficients: np.ndarray
    terms: tuple
    targets: tuple
    patterns: np.ndarray
    log_evidence: np.ndarray

    def table(self):
        """Returns a printable table, one line per term: its inclusion probability and mean coefficient in each
        component."""
        w = max(len(t) for t in self.terms) + 2
        head = "".join(f"{'P(' + k + ')':>12}{'coef':>11}" for k in self.targets)
        lines = [f"{'term':<{w}}{head}"]
        for j, t in enumerate(self.terms):
            lines.append(f"{t:<{w}}" + "".join(f"{self.probability[j, k]:>12.3f}{self.coefficients[j, k]:>11.4g}"
                                               for k in range(len(self.targets))))
        return "\n".join(lines)

    def included(self, threshold=0.5):
        """Returns component name -> the terms with inclusion probability above ``threshold`` (the median
        probability model of Barbieri & Berger 2004 at 0.5)."""
        return {k: [t for j, t in enumerate(self.terms) if self.probability[j, i] > threshold]
                for i, k in enumerate(self.targets)}


def _patterns(p):
    """(2^p, p) boolean matrix of every inclusion pattern."""
    return ((np.arange(2 ** p)[:, None] >> np.arange(p)[None, :]) & 1).astype(bool)


@jax.jit
def _evidence(theta, y, patterns, g, a, b, log_prior):
    """log p(y | γ) + log p(γ) for every pattern γ, and the posterior mean coefficients given γ (normalised
    columns). theta (N, P) normalised, y (N,)."""
    n = y.shape[0]
    gram, rhs = theta.T @ theta, theta.T @ y
    yy = y @ y

    def one(mask):
        m = mask.astype(y.dtype)
        # the Gram matrix of the included columns, padded with the identity where a column is out: one fixed
        # shape for every pattern, and the excluded coefficients solve to zero
        g_m = gram * m[:, None] * m[None, :] + jnp.diag(1.0 - m)
        beta = jax.scipy.linalg.solve(g_m, rhs * m, assume_a="pos")
        explained = jnp.dot(rhs * m, beta)                  # yᵀ P_γ y
        resid = jnp.maximum(yy - g / (1 + g) * explained, 1e-300)
        k = jnp.sum(m)
        return -0.5 * k * jnp.log1p(g) - (a + 0.5 * n) * jnp.log(b + 0.5 * resid), g / (1 + g) * beta * m

    log_m, beta = jax.vmap(one)(patterns)
    return log_m + log_prior, beta


# every draw (axis 0) and every component of the missing term (y's last axis) in one compiled batch
_evidence_all = jax.jit(jax.vmap(jax.vmap(_evidence, in_axes=(None, 1, None, None, None, None, None)),
                                 in_axes=(0, 0, None, None, None, None, None)))


def _log_model_prior(patterns, prior_inclusion):
    k = patterns.sum(axis=1)
    p = patterns.shape[1]
    if prior_inclusion is None:                       # beta-binomial(1, 1): uniform on the number of terms
        log_binom = np.array([math.lgamma(p + 1) - math.lgamma(j + 1) - math.lgamma(p - j + 1) for j in k])
        return -np.log(p + 1) - log_binom
    q = float(prior_inclusion)
    return k * np.log(q) + (p - k) * np.log1p(-q)


def inclusion_probabilities(library, states, targets, *, variables=None, target_names=None, g=None,
                            prior_inclusion=None, sigma_prior=(0.0, 0.0), max_terms=16):
    """Posterior inclusion probability of each candidate term of ``library`` in each component of ``targets``.

    library          a `pysciml.sindy` library Θ (e.g. ``sindy.PolynomialLibrary(2)``)
    states           (N, n) states u at which the missing term was evaluated, or (D, N, n) for D posterior draws
    targets          (N, m) the missing term at those states (e.g. a UDE network's output), or (D, N, m); with
                     draws the probabilities are averaged over them (the network's uncertainty)
    g                the g-prior's scale (default max(N, P²), Fernández, Ley & Steel 2001)
    prior_inclusion  None: beta-binomial(1, 1) over patterns (Scott & Berger 2010); or a number in (0, 1): each
                     term independently in with that probability
    sigma_prior      (a, b) of the InvGamma prior on the residual variance; (0, 0) is Jeffreys' 1/σ²
    max_terms        refuse libraries with more terms (2^P patterns are enumerated)
    variables        names of the state variables (for the term names; default x0, x1, ...)
    target_names     names of the components of the missing term (default y0, y1, ...)

    Returns an `InclusionResult`.
    """
    if not isinstance(library, Library):
        raise TypeError(f"inclusion_probabilities: library must be a pysciml.sindy library; got "
                        f"{type(library).__name__}")
    x, y = np.asarray(states, dtype=float), np.asarray(targets, dtype=float)
    if x.ndim == 2:
        x = x[None]
    if y.ndim == 2:
        y = y[None]
    if x.ndim != 3 or y.ndim != 3 or x.shape[:2] != y.shape[:2]:
        raise ValueError(f"inclusion_probabilities: states (N, n) or (draws, N, n) and targets (N, m) or (draws, "
                         f"N, m) with the same N (and draws); got {np.shape(states)} and {np.shape(targets)}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("inclusion_probabilities: states and targets must be finite (a failed solve in a draw? "
                         "drop that draw)")
    a, b = (float(v) for v in sigma_prior)
    if a < 0 or b < 0:
        raise ValueError(f"inclusion_probabilities: sigma_prior (a, b) must be ≥ 0; got {sigma_prior!r}")
    if prior_inclusion is not None and not 0 < float(prior_inclusion) < 1:
        raise ValueError(f"inclusion_probabilities: prior_inclusion must be None or in (0, 1); got "
                         f"{prior_inclusion!r}")
    variables = tuple(variables) if variables is not None else default_names(x.shape[-1])
    terms = library.names(variables)
    n_terms, n_obs = len(terms), x.shape[1]
    if n_terms > max_terms:
        raise ValueError(f"inclusion_probabilities: the library has {n_terms} terms (2^{n_terms} patterns to "
                         f"enumerate), more than max_terms={max_terms}; use a smaller library per equation or "
                         "raise max_terms")
    if n_obs <= n_terms:
        raise ValueError(f"inclusion_probabilities: need more points than terms; got {n_obs} points for "
                         f"{n_terms} terms")
    g = float(max(n_obs, n_terms ** 2) if g is None else g)
    if g <= 0:
        raise ValueError(f"inclusion_probabilities: g must be positive; got {g}")
    patterns = _patterns(n_terms)
    log_prior = jnp.asarray(_log_model_prior(patterns, prior_inclusion))
    thetas = np.asarray(jax.vmap(library.features)(jnp.asarray(x.reshape(-1, x.shape[-1])))).reshape(
        x.shape[0], n_obs, n_terms)
    scale = np.linalg.norm(thetas, axis=1)                              # (draws, terms)
    if np.any(scale == 0):
        dead = sorted({terms[j] for j in np.argwhere(scale == 0)[:, 1]})
        raise ValueError(f"inclusion_probabilities: term(s) {dead} vanish at every state; drop them from the library")
    lp, beta = _evidence_all(jnp.asarray(thetas / scale[:, None, :]), jnp.asarray(y), jnp.asarray(patterns), g, a, b,
                             log_prior)
    lp, beta = np.asarray(lp), np.asarray(beta)                         # (draws, m, patterns), (..., terms)
    w = np.exp(lp - lp.max(axis=-1, keepdims=True))
    w /= w.sum(axis=-1, keepdims=True)
    prob = np.einsum("dkg,gj->jk", w, patterns.astype(float)) / x.shape[0]
    coef = np.einsum("dkg,dkgj->jk", w, beta / scale[:, None, None, :]) / x.shape[0]
    m = y.shape[-1]
    log_ev = lp[-1]
    names = tuple(target_names) if target_names is not None else tuple(f"y{k}" for k in range(m))
    return InclusionResult(prob, coef, tuple(terms), names, patterns, log_ev)


def missing_term_inclusion(post, library, times=None, draws=100, key=0, variables=None, **options):
    """Inclusion probabilities of ``library``'s terms in the network term of a UDE posterior: for each of
    ``draws`` posterior draws, the model is solved at ``times`` (default: the data times), the network's output
    is evaluated along that trajectory, and the probabilities are averaged over the draws.

    post       a `Posterior` of a model whose right-hand side is a `pysciml.ude.UDE`
    key        seed or key for picking the draws; variables: the state variables' names
    options    go to `inclusion_probabilities` (g, prior_inclusion, sigma_prior, max_terms, target_names)

    Returns an `InclusionResult`."""
    from ..ude import UDE
    from .predictive import _constrain_batch
    from ..ensembles import EnsembleProblem, EnsembleVmap
    from ..solve import solve
    from .._core.retcode import ReturnCode

    model = post.model
    ude = model.problem.f if isinstance(model.problem.f, UDE) else getattr(model.problem.f, "f", None)
    if not isinstance(ude, UDE):
        raise TypeError("missing_term_inclusion: the posterior's problem must have a pysciml.ude.UDE right-hand "
                        f"side (whose network term is explained); got {type(model.problem.f).__name__}")
    times = model.times if times is None else jnp.asarray(times, float)
    key = jax.random.key(key) if isinstance(key, (int, np.integer)) else key
    flat = post.theta.reshape(-1, model.dim)
    n = min(int(draws), flat.shape[0])
    pick = np.asarray(jax.random.choice(key, flat.shape[0], (n,), replace=False))
    p, u0, _ = _constrain_batch(model)(jnp.asarray(flat[pick]))
    eprob = EnsembleProblem(model.problem, prob_func=lambda prob, i, repeat: prob.remake(
        p=jax.tree_util.tree_map(lambda x: x[i], p), u0=u0[i]))
    ens = solve(eprob, model.alg, EnsembleVmap(), trajectories=n, saveat=times, **model.solve_options)
    us = ens.u                                                          # (n, len(times), state)
    ys = jax.vmap(lambda u, pi: jax.vmap(lambda ui, t: ude.network_term(ui, pi, t))(u, times))(us, p)
    ok = np.asarray(ens.retcode) == int(ReturnCode.Success)
    if not ok.any():
        raise ValueError("missing_term_inclusion: every member solve failed")
    return inclusion_probabilities(library, np.asarray(us)[ok], np.asarray(ys)[ok], variables=variables,
                                   **options)


__all__ = ["InclusionResult", "inclusion_probabilities", "missing_term_inclusion"]
