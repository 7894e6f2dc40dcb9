"""DeepNLME: network weights (`nlme.NetworkWeights`) as fixed effects.

A clearance that depends on body weight through a saturating (Hill) function, simulated by `nlme.simulate`, is
recovered by a network in ``pre`` fitted by FOCE: its OFV is lower than that of the log-linear covariate model and
its CL(WT) curve follows the truth over the data's weights. `nlme.JointMAP` reaches the minimum that scipy finds
for the same penalised joint objective written out here independently (Bateman-free IV bolus, the MLP by hand).
A UDE term in ODE dynamics: JointMAP's gradient through the solver against finite differences (the same model's
FOCEI gradient check, whose compile takes ~100 s, is `benchmarks/nlme_deep_ude.py`).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import pysciml as ps
from pysciml import nlme, nn
from pysciml.nlme import reference

N, DOSE, TIMES = 40, 100.0, (0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0)
WT = np.round(np.random.default_rng(1).uniform(40.0, 120.0, N), 1)


design = reference.iv_bolus_design
cl_true = reference.cl_saturating
TRUTH = reference.saturating_clearance_truth()
POP = nlme.simulate(TRUTH, design(N, TIMES, WT), {}, jax.random.key(0))[0]
LINEAR, NETWORK, MLP, W0 = reference.clearance_models()


@pytest.fixture(scope="module")
def fits():
    joint = nlme.fit(NETWORK, POP, nlme.JointMAP())
    # FOCE from the JointMAP estimates (the fast route's use), Ω from the spread of the joint modes
    start = dict(joint.params, omega=np.diag([np.var(joint.eta)]))
    return {"linear": nlme.fit(LINEAR, POP, nlme.FOCE(), se=False), "joint": joint,
            "network": nlme.fit(NETWORK, POP, nlme.FOCE(), init=start)}


typical_cl = reference.typical_clearance


def test_network_weights_domain_round_trip_and_errors():
    d = nlme.NetworkWeights(W0, prior_sd=2.0)
    assert d.size == 16
    free = np.asarray(d.to_free(W0))
    back = d.from_free(jnp.asarray(free))
    for a, b in zip(jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(W0)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(d.precision(), np.full(16, 0.25))
    space = NETWORK.space
    u = np.asarray(space.to_free(space.arrays(space.initial())))
    w = u[space.slices["w"]]
    assert space.penalty(u) == pytest.approx(w @ w)          # prior_sd 1: Σ w²
    with pytest.raises(ValueError, match="prior_sd"):
        nlme.NetworkWeights(W0, prior_sd=0.0)
    with pytest.raises(ValueError, match="empty"):
        nlme.NetworkWeights(())
    with pytest.raises(ValueError, match="structure and shapes"):
        space.initial({"w": MLP.init(jax.random.key(0))[:1]})
    with pytest.raises(TypeError, match="optimizers"):
        nlme.JointMAP(optimizers=("lbfgs",))
    with pytest.raises(ValueError, match="SAEM's M-step"):
        nlme.fit(NETWORK, POP, nlme.SAEM())
    with pytest.raises(ValueError, match="fix names 'nope'"):
        nlme.fit(NETWORK, POP, nlme.JointMAP(fix=("nope",)))


def test_network_in_pre_recovers_a_saturating_covariate_effect(fits):
    linear, network = fits["linear"], fits["network"]
    assert linear.converged and network.converged
    # the network's FOCE OFV (−2LL, the weights' prior penalty apart) is far below the log-linear model's
    # (measured −482.5 against −460.3, 16 more parameters)
    assert network.ofv < linear.ofv - 15.0
    assert network.objective == pytest.approx(network.ofv + network.penalty)
    wt = np.sort(WT)
    err_net = typical_cl(NETWORK, network.params, wt) / cl_true(wt) - 1
    err_lin = typical_cl(LINEAR, linear.params, wt) / cl_true(wt) - 1
    # over the subjects' weights: measured max 10.7 %, rms 4.4 % (the linear model: 27.7 %, 13.9 %); the
    # individual CLs scatter by ω = 14 % around the curve, 40 subjects
    assert np.max(np.abs(err_net)) < 0.12 and np.sqrt(np.mean(err_net ** 2)) < 0.06
    assert np.max(np.abs(err_lin)) > 0.25
    # standard errors for the other fixed effects (conditional on the weights), none for the weights
    weights = np.array([n.startswith("w[") for n in network.names])
    assert weights.sum() == 16 and np.all(np.isnan(network.se[weights]))
    assert np.all(np.isfinite(network.se[~weights])) and np.all(network.se[~weights] > 0)
    se = dict(zip(network.names, network.se))
    assert 0.1 < se["v"] < 0.3 and 0.003 < se["prop"] < 0.008       # measured 0.17, 0.005 (the linear model's too)
    assert "16 network weights" in network.summary()


def joint_by_hand(x, t, y, mask, wt, omega):
    """−2 log p(y, η | θ) without constants + Σ w² (prior sd 1), from x = [tcl, W1 (5), b1 (5), W2 (5), b2,
    log V, log prop, η (N)]: IV bolus C = D/V·exp(−CL/V·t), proportional error."""
    tcl, W1, b1, W2, b2, logv, logprop, eta = x[0], x[1:6], x[6:11], x[11:16], x[16], x[17], x[18], x[19:]
    h = jnp.tanh(((wt - 80.0) / 40.0)[:, None] * W1[None, :] + b1)
    cl = jnp.exp(tcl + h @ W2 + b2 + eta)
    v = jnp.exp(logv)
    c = DOSE / v * jnp.exp(-(cl / v)[:, None] * t)
    var = (jnp.exp(logprop) * c) ** 2
    data = jnp.sum(mask * ((y - c) ** 2 / var + jnp.log(var)))
    weights = jnp.sum(W1 ** 2) + jnp.sum(b1 ** 2) + jnp.sum(W2 ** 2) + b2 ** 2
    return data + jnp.sum(eta ** 2) / omega + eta.size * jnp.log(omega) + weights


def test_joint_map_matches_scipy_on_the_same_objective(fits):
    joint = fits["joint"]
    assert joint.converged and np.isnan(joint.ofv)
    s = POP.subjects
    data = (jnp.asarray(s.obs_time), jnp.asarray(s.dv), jnp.asarray(s.obs_mask), jnp.asarray(WT), 0.03)
    flat = lambda p: np.concatenate([[p["tcl"]], np.ravel(p["w"][0][0]), p["w"][0][1], np.ravel(p["w"][1][0]),
                                     p["w"][1][1], [np.log(p["v"]), np.log(p["prop"])]])
    x_joint = np.concatenate([flat(joint.params), joint.eta[:, 0]])
    f = jax.jit(jax.value_and_grad(lambda x: joint_by_hand(x, *data)))
    # the same objective: J at JointMAP's estimates, by hand, equals the value JointMAP reports
    assert float(f(x_joint)[0]) == pytest.approx(joint.objective, abs=1e-8)
    start = {n: np.asarray(v) for n, v in NETWORK.space.initial().items() if n != "w"} | {"w": W0}
    x0 = np.concatenate([flat(start), np.zeros(N)])
    res = scipy.optimize.minimize(lambda x: tuple(np.asarray(a) for a in f(x)), x0, jac=True, method="L-BFGS-B",
                                  options={"maxiter": 20000, "maxcor": 50, "gtol": 1e-9, "ftol": 1e-16})
    # both stop at the round-off floor of the gradient (J ≈ −761, Hessian eigenvalues 0.32 to 4.5e5); measured
    # |x − x_scipy| 8.4e-7, |J − J_scipy| 1e-13
    assert np.max(np.abs(res.jac)) < 1e-4
    assert joint.objective == pytest.approx(res.fun, abs=1e-8)
    np.testing.assert_allclose(x_joint, res.x, atol=1e-5)


# --- a UDE term inside ODE dynamics ---------------------------------------------------------------------------
UDE_NET = nn.MLP(1, (3,), 1, activation="tanh")
UDE_W = jax.tree_util.tree_map(lambda a: 0.5 * a, UDE_NET.init(jax.random.key(0)))


def ude_rhs(A, ind, t):
    c = A[0] / ind["v"]
    # known linear elimination plus a learned, concentration-dependent (saturable-looking) extra loss
    return jnp.array([-ind["cl"] * c - UDE_NET(jnp.array([c / 5.0]), ind["w"])[0] ** 2 * c])


UDE = nlme.Model(fixed={"cl": nlme.Positive(1.0), "v": nlme.Positive(10.0), "w": nlme.NetworkWeights(UDE_W),
                        "omega": nlme.DiagonalCov([0.05]), "sd": nlme.Positive(0.1)}, omega="omega",
                 pre=lambda th, eta, cov: {"cl": th["cl"] * jnp.exp(eta[0]), "v": th["v"], "w": th["w"]},
                 dynamics=nlme.ODE(ude_rhs, 1, ps.Tsit5(), rtol=1e-8, atol=1e-10), error=nlme.Proportional("sd"),
                 observe=lambda ind, A, cov: A[0] / ind["v"])


@pytest.mark.slow
def test_joint_map_gradient_through_ode_dynamics():
    # ODE dynamics differentiate forward only: JointMAP's reverse-mode gradient is assembled from per-subject
    # forward tangents (custom_vjp); against central differences in a weight, a typical value and one η
    from pysciml.nlme.jointmap import joint_objective
    pop = nlme.simulate(UDE, design(4, TIMES[:-1]), {}, jax.random.key(1))[0]
    space = UDE.space
    u = jnp.asarray(space.to_free(space.arrays(space.initial())))
    etas = jnp.full((4, 1), 0.1)
    value = jax.jit(lambda u, e: joint_objective(UDE, u, e, pop.subjects))
    gu, ge = jax.jit(jax.grad(lambda u, e: joint_objective(UDE, u, e, pop.subjects), argnums=(0, 1)))(u, etas)
    for j in (0, space.slices["w"].start + 3):
        e = jnp.zeros(u.size).at[j].set(1e-6)
        assert float((value(u + e, etas) - value(u - e, etas)) / 2e-6) == pytest.approx(float(gu[j]), rel=1e-6)
    e = jnp.zeros((4, 1)).at[2, 0].set(1e-6)
    assert float((value(u, etas + e) - value(u, etas - e)) / 2e-6) == pytest.approx(float(ge[2, 0]), rel=1e-6)
