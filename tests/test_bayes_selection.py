"""pysciml.bayes.selection: posterior inclusion probabilities of SINDy candidate terms (UDE + SINDy, "the
probability of a missing mechanism"). The closed-form evidence against scipy's multivariate t (an independent
implementation of the marginal likelihood), Lotka–Volterra's interaction terms found among a quadratic library,
the wiring from a UDE posterior, and bad input."""
import itertools

import numpy as np
import pytest
import scipy.stats

import jax
import jax.numpy as jnp
import pysciml as ps
from pysciml import bayes, sindy
from pysciml.bayes.selection import _evidence, _patterns

LIB = sindy.PolynomialLibrary(2)               # 1, x, y, x^2, x*y, y^2
ALPHA, BETA, GAMMA, DELTA = 1.3, 0.9, 0.8, 1.8   # the UDE paper's Lotka–Volterra (Rackauckas et al. 2020, §2.1)
U0 = jnp.array([0.44249296, 4.6280594])
T = np.linspace(0.1, 3.0, 30)


def _lv(u, p, t):
    x, y = u
    return jnp.array([ALPHA * x - BETA * x * y, GAMMA * x * y - DELTA * y])


@pytest.fixture(scope="module")
def lv_states():
    return np.asarray(ps.solve(ps.ODEProblem(_lv, U0, (0.0, 3.0)), ps.Vern9(), rtol=1e-12, atol=1e-12, saveat=T).u)


def test_the_evidence_of_every_pattern_matches_scipys_multivariate_t():
    """With ξ_γ | σ² ~ N(0, g σ² (X_γᵀX_γ)⁻¹) and σ² ~ InvGamma(a, b), y | γ ~ t_{2a}(0, (b/a)(I + g P_γ)):
    scipy's density of that t, up to one constant shared by all patterns (the code drops it)."""
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(12, 3)) * [1.0, 5.0, 0.2], rng.normal(size=12)
    a, b, g = 2.5, 1.3, 7.0
    patterns = _patterns(3)
    lp, _ = _evidence(jnp.asarray(X / np.linalg.norm(X, axis=0)), jnp.asarray(y), jnp.asarray(patterns), g, a, b,
                      jnp.zeros(len(patterns)))
    ref = []
    for m in patterns:
        P = X[:, m] @ np.linalg.pinv(X[:, m]) if m.any() else np.zeros((12, 12))
        ref.append(scipy.stats.multivariate_t(np.zeros(12), (b / a) * (np.eye(12) + g * P), df=2 * a).logpdf(y))
    diff = np.asarray(lp) - np.array(ref)
    np.testing.assert_allclose(diff - diff[0], 0.0, atol=1e-10)
    # and the inclusion probabilities with a uniform model prior are the normalised evidences summed per term
    res = bayes.inclusion_probabilities(sindy.PolynomialLibrary(1, include_bias=False),
                                        X, y[:, None], g=g, sigma_prior=(a, b), prior_inclusion=0.5)
    w = np.exp(np.array(ref) - max(ref))
    np.testing.assert_allclose(res.probability[:, 0], (w / w.sum()) @ patterns, rtol=1e-9)


def test_lotka_volterra_interaction_terms_are_included_and_the_rest_excluded(lv_states):
    """The missing term of a UDE with known growth and decay is (−β x y, γ x y); 20 draws of it with 5% noise
    (a network's error and its posterior spread) along the trajectory: x*y gets inclusion probability > 0.9 in
    both components, every other term of the quadratic library < 0.2."""
    rng = np.random.default_rng(0)
    missing = np.stack([-BETA * lv_states[:, 0] * lv_states[:, 1], GAMMA * lv_states[:, 0] * lv_states[:, 1]], 1)
    scale = np.abs(missing).mean(0)
    draws = missing + 0.05 * scale * rng.normal(size=(20, *missing.shape))
    res = bayes.inclusion_probabilities(LIB, np.broadcast_to(lv_states, draws.shape), draws, variables=("x", "y"),
                                        target_names=("dx", "dy"))
    print(res.table())
    xy = res.terms.index("x*y")
    assert res.terms == ("1", "x", "y", "x^2", "x*y", "y^2")
    assert np.all(res.probability[xy] > 0.9), res.probability
    assert np.all(np.delete(res.probability, xy, axis=0) < 0.2), res.probability
    # the model-averaged coefficients are the rates, shrunk by g/(1+g) (g = max(N, P²) = 36)
    np.testing.assert_allclose(res.coefficients[xy], np.array([-BETA, GAMMA]) * 36 / 37, rtol=0.03)
    assert res.included() == {"dx": ["x*y"], "dy": ["x*y"]}
    # a mechanism that is there is found: add 0.3 x² to the first component and x^2 is included there
    more = draws.copy()
    more[..., 0] += 0.3 * lv_states[:, 0] ** 2
    res2 = bayes.inclusion_probabilities(LIB, lv_states, more[0], variables=("x", "y"))
    assert res2.probability[3, 0] > 0.9 and res2.probability[3, 1] < 0.2, res2.probability


def test_missing_term_inclusion_reads_the_network_of_each_posterior_draw(lv_states):
    """The wiring from a UDE posterior: a network linear in the library's features, its weight draws spread
    around the true interaction (+ noise on every weight); each draw is solved and its network term explained."""
    ude = ps.ude.UDE(lambda u, p, t: jnp.array([ALPHA * u[0], -DELTA * u[1]]), ps.nn.MLP(6, (), 2),
                     inputs=lambda u, t: LIB.features(u))
    W = np.zeros((6, 2))
    W[4] = [-BETA, GAMMA]
    p = {"physics": None, "network": ((jnp.asarray(W), jnp.zeros(2)),)}
    prob = ps.ODEProblem(ude, U0, (0.0, 3.0), p)
    data = lv_states + 0.05 * np.random.default_rng(2).normal(size=lv_states.shape)
    model = bayes.Model(prob, {"p.network": bayes.Normal(0.0, 1.0)}, bayes.Gaussian(0.05), data, T)
    theta0 = np.asarray(model.unconstrain())
    rng = np.random.default_rng(3)
    theta = theta0 + 0.005 * rng.normal(size=(1, 40, model.dim))
    post = bayes.Posterior(model, theta, method="handmade")
    res = bayes.missing_term_inclusion(post, LIB, draws=10, variables=("x", "y"))
    assert np.all(res.probability[4] > 0.9) and np.all(np.delete(res.probability, 4, axis=0) < 0.2), res.table()
    with pytest.raises(TypeError, match="UDE"):
        lv = bayes.Model(ps.ODEProblem(lambda u, p, t: -p * u, U0, (0.0, 3.0), jnp.ones(2)),
                         {"p": bayes.LogNormal()}, bayes.Gaussian(0.05), data, T)
        bayes.missing_term_inclusion(bayes.Posterior(lv, np.zeros((1, 3, 2))), LIB)


def test_inclusion_probabilities_refuse_bad_input(lv_states):
    y = lv_states[:, :1]
    with pytest.raises(ValueError, match="more than max_terms=4"):
        bayes.inclusion_probabilities(LIB, lv_states, y, max_terms=4)
    with pytest.raises(ValueError, match="same N"):
        bayes.inclusion_probabilities(LIB, lv_states, y[:-1])
    with pytest.raises(ValueError, match="must be finite"):
        bayes.inclusion_probabilities(LIB, lv_states, np.where(np.arange(30)[:, None] == 4, np.nan, y))
    with pytest.raises(ValueError, match="prior_inclusion"):
        bayes.inclusion_probabilities(LIB, lv_states, y, prior_inclusion=1.0)
    with pytest.raises(ValueError, match="more points than terms"):
        bayes.inclusion_probabilities(LIB, lv_states[:5], y[:5])
    with pytest.raises(TypeError, match="sindy library"):
        bayes.inclusion_probabilities(lambda u: u, lv_states, y)
    with pytest.raises(ValueError, match=r"'x1', 'x1\^2'\] vanish"):
        bayes.inclusion_probabilities(LIB, np.c_[lv_states[:, :1], np.zeros(30)], y)
