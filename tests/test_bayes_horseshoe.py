"""The horseshoe prior (pysciml.bayes.Horseshoe): its log density against NumPyro's distributions and against
the closed-form marginal of Carvalho, Polson & Scott (2010), its draws against that marginal, and sampling
under it recovering the support of a sparse linear regression (read through `Posterior.inclusion_probability`)."""
import blackjax
import numpy as np
import pytest
import scipy.integrate
import scipy.special
import scipy.stats

import jax
import jax.numpy as jnp
import pysciml as ps
from pysciml import bayes

numpyro_dist = pytest.importorskip("numpyro.distributions")


def test_block_log_density_matches_numpyro():
    """θ = (z, log τ, log λ): N(0,1) on z, half-Cauchy(τ₀) on τ and half-Cauchy(1) on λ, with exp's Jacobian
    (NumPyro's ExpTransform) for the logs; weights w = z τ λ."""
    prior, shape = bayes.Horseshoe(0.3), (2, 3)
    rng = np.random.default_rng(0)
    for _ in range(5):
        theta = rng.normal(size=13) * 1.5
        w, logp = prior.constrain(jnp.asarray(theta), shape)
        z, log_tau, log_lam = theta[:6], theta[6], theta[7:]
        exp = numpyro_dist.transforms.ExpTransform()
        ref = (numpyro_dist.Normal(0.0, 1.0).log_prob(z).sum()
               + numpyro_dist.HalfCauchy(0.3).log_prob(np.exp(log_tau)) + exp.log_abs_det_jacobian(log_tau, None)
               + (numpyro_dist.HalfCauchy(1.0).log_prob(np.exp(log_lam))
                  + exp.log_abs_det_jacobian(log_lam, None)).sum())
        assert float(logp) == pytest.approx(float(ref), rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(np.asarray(w), (z * np.exp(log_tau) * np.exp(log_lam)).reshape(shape),
                                   rtol=1e-14)
        tau, lam = prior.scales(jnp.asarray(theta), shape)
        assert float(tau) == pytest.approx(np.exp(log_tau)) and np.allclose(lam, np.exp(log_lam))


def _marginal_given_tau(w, tau):
    """The horseshoe's marginal density of one weight given τ in closed form (Carvalho, Polson & Scott 2010,
    Biometrika 97, Thm 1 proof): p(w | τ = 1) = (2π³)^(−1/2) exp(w²/2) E₁(w²/2); scaled by τ."""
    x = (w / tau) ** 2 / 2
    return np.exp(x) * scipy.special.exp1(x) / np.sqrt(2 * np.pi ** 3) / tau


@pytest.mark.parametrize("w", [0.05, 0.3, 1.0, 2.5])
def test_the_block_density_integrates_to_the_closed_form_marginal(w):
    """Integrating the block's density (one weight) over log λ at fixed w and τ — z = w/(τλ), so dz = dw/(τλ) —
    and dividing by τ's own density gives p(w | τ), which must be the closed form above (scipy quad)."""
    prior, tau = bayes.Horseshoe(0.7), 0.4
    logp = jax.jit(lambda th: prior.constrain(th, (1,))[1])
    log_tau_density = scipy.stats.halfcauchy(scale=0.7).logpdf(tau) + np.log(tau)

    def integrand(log_lam):
        lam = np.exp(log_lam)
        th = jnp.array([w / (tau * lam), np.log(tau), log_lam])
        return np.exp(float(logp(th)) - log_tau_density) / (tau * lam)

    value, err = scipy.integrate.quad(integrand, -30, 30, limit=200, epsabs=0, epsrel=1e-10)
    assert value == pytest.approx(_marginal_given_tau(w, tau), rel=1e-7)


def test_prior_draws_follow_the_marginal():
    """`Horseshoe.sample` (τ₀ = 1): w = z·r with r = τλ, the product of two standard half-Cauchy variables, whose
    density is 4 log r / (π² (r² − 1)); KS test of the draws against P(w ≤ x) = 1/2 + ∫ (Φ(|x|/r) − 1/2) p(r) dr
    (scipy quad, tabulated). The weights of one draw share τ, so each of the 3000 draws is a separate call."""
    prior = bayes.Horseshoe(1.0)
    draws = np.asarray(jax.vmap(lambda k: prior.sample(k, ()))(jax.random.split(jax.random.key(1), 3000)))

    def p_r(r):
        return 4 / np.pi ** 2 * (np.log(r) / (r ** 2 - 1) if abs(r - 1) > 1e-8 else 0.5)

    def cdf(x):
        inner = scipy.integrate.quad(lambda r: (scipy.special.ndtr(abs(x) / r) - 0.5) * p_r(r), 0, np.inf,
                                     limit=200)[0]
        return 0.5 + np.sign(x) * inner
    assert scipy.integrate.quad(p_r, 0, np.inf, limit=200)[0] == pytest.approx(1.0, rel=1e-8)
    grid = np.concatenate([-np.logspace(4, -3, 50), [0.0], np.logspace(-3, 4, 50)])
    table = np.array([cdf(x) for x in grid])
    assert scipy.stats.kstest(np.clip(draws, -1e4, 1e4), lambda x: np.interp(x, grid, table)).pvalue > 1e-3
    # one call's weights share τ: their spread differs from call to call far more than independent draws' would
    spreads = [np.median(np.abs(prior.sample(k, (50,)))) for k in jax.random.split(jax.random.key(2), 20)]
    assert np.max(spreads) / np.min(spreads) > 20


# --- sampling under the horseshoe recovers a sparse regression's support -----------------------------------------

P, N, SIG = 10, 40, 0.1
XI = np.zeros(P)
XI[[1, 4]] = [1.0, -0.6]
KS = np.arange(P)
TS = (np.arange(N) + 0.5) * np.pi / N
X = np.cos(np.outer(TS, KS))                   # orthogonal columns on this grid
Y = X @ XI + SIG * np.random.default_rng(0).normal(size=N)
SE = SIG / np.linalg.norm(X, axis=0)           # the least-squares standard errors: the κ scale


@pytest.mark.slow
def test_sampling_under_the_horseshoe_recovers_a_sparse_regressions_support():
    """y = X ξ + noise with 2 of 10 coefficients non-zero; τ₀ = p₀/(P − p₀)·σ/√N (Piironen & Vehtari 2017).
    The regression is a `Model` (observe(u, p, t) = x(t)·p on a trivial ODE) so that the posterior is read through
    `Posterior.inclusion_probability`; it is sampled with BlackJAX's NUTS on the same log density written without
    the solve (asserted equal), which costs microseconds per gradient instead of a solve's ~0.1 ms."""
    prior = bayes.Horseshoe(2 / (P - 2) * SIG / np.sqrt(N))
    prob = ps.ODEProblem(lambda u, p, t: jnp.zeros_like(u), jnp.zeros(1), (0.0, np.pi), jnp.zeros(P))
    model = bayes.Model(prob, {"p": prior}, bayes.Gaussian(SIG), Y[:, None], TS,
                        observe=lambda u, p, t: jnp.atleast_1d(jnp.dot(jnp.cos(KS * t), p)))

    def logdensity(theta):
        w, lp = prior.constrain(theta, (P,))
        return lp + jnp.sum(jax.scipy.stats.norm.logpdf(Y, X @ w, SIG))
    probe = np.random.default_rng(1).normal(size=(3, model.dim))
    np.testing.assert_allclose([float(model.logdensity(t)) for t in probe],
                               [float(logdensity(jnp.asarray(t))) for t in probe], rtol=1e-9)

    def chain(key):
        adapt = blackjax.window_adaptation(blackjax.nuts, logdensity, target_acceptance_rate=0.95)
        (state, params), _ = adapt.run(key, model.unconstrain(), num_steps=200)
        kernel = blackjax.nuts(logdensity, **params)
        _, draws = jax.lax.scan(lambda s, k: (kernel.step(k, s)[0],) * 2, state, jax.random.split(key, 200))
        return draws.position
    run = jax.jit(chain)               # one chain compiled once and called twice (a vmapped pair compiles ~2x longer)
    theta = np.stack([np.asarray(run(k)) for k in jax.random.split(jax.random.key(0), 2)])
    post = bayes.Posterior(model, np.asarray(theta), method="NUTS (BlackJAX, direct)")
    pip = post.inclusion_probability("p", SE)
    print("inclusion probabilities", np.round(pip, 3))
    support = np.flatnonzero(XI)
    assert np.all(pip[support] > 0.9), pip
    assert np.all(np.delete(pip, support) < 0.5), pip
    # the nulls are shrunk towards zero (harder than least squares), the large signal is left nearly alone
    ols = np.linalg.lstsq(X, Y, rcond=None)[0]
    mean = post.mean("p")
    assert np.all(np.abs(np.delete(mean, support)) < 0.5 * np.abs(np.delete(ols, support)) + 0.1 * SE[0])
    assert abs(mean[1] - ols[1]) < 2 * SE[1]
    kappa = post.shrinkage("p", SE)
    assert kappa.shape == (2, 200, P) and np.all((kappa > 0) & (kappa < 1))
    with pytest.raises(ValueError, match="needs one Horseshoe prior"):
        bayes.Posterior(bayes.Model(prob, {"p": bayes.Normal()}, bayes.Gaussian(SIG), Y[:, None], TS),
                        np.zeros((1, 2, P))).shrinkage("p", SE)
