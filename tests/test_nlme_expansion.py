"""`nlme.expansion`: the second-order expansion of the dynamics in the individual parameters, against the
analytic derivatives of an IV bolus one-compartment model, A = D·exp(−CL/V·t); and the expansion the EBE search
returns is taken at the η̂ it returns (the search's last pass evaluates without stepping), so the objective's
pieces at η̂ are the dynamics' own values there."""
import jax
import jax.numpy as jnp
import numpy as np

from pysciml import nlme
from pysciml.nlme import approx, expansion

D, TIMES = 100.0, (0.5, 1.0, 2.0, 4.0, 8.0, 12.0)
ROWS = [dict(ID=1, TIME=0.0, AMT=D, DV=".", EVID=1, CMT=1)] + [
    dict(ID=1, TIME=t, AMT=".", DV=float(D / 11.0 * np.exp(-0.1 * t) * (1 + 0.07 * (-1) ** j)), EVID=0, CMT=1)
    for j, t in enumerate(TIMES)]
POP = nlme.Population.from_dataframe({k: [str(r[k]) for r in ROWS] for k in ROWS[0]})
SUBJECT = jax.tree_util.tree_map(lambda x: x[0], POP.subjects)
MODEL = nlme.Model(fixed={"cl": nlme.Positive(1.2), "v": nlme.Positive(11.0), "omega": nlme.DiagonalCov([0.08]),
                          "sd": nlme.Positive(0.07)}, omega="omega",
                   pre=lambda th, eta, cov: {"cl": th["cl"] * jnp.exp(eta[0]), "v": th["v"]},
                   dynamics=nlme.OneCompartment(oral=False), error=nlme.Proportional("sd"))
THETA = MODEL.space.arrays(MODEL.space.initial())


def test_expansion_has_the_analytic_derivatives():
    eta = jnp.array([0.3])
    x0, A0, J, T = jax.jit(lambda th, e: expansion.expand(MODEL, th, e, SUBJECT))(THETA, eta)
    cl, v = 1.2 * np.exp(0.3), 11.0
    np.testing.assert_allclose(x0, [cl, v], rtol=1e-15)         # the flat table: its keys in sorted order
    t = np.asarray(SUBJECT.obs_time)
    A = D * np.exp(-cl / v * t)
    dcl, dv = -t / v * A, cl * t / v ** 2 * A
    dclcl = (t / v) ** 2 * A
    dclv = t / v ** 2 * (1 - cl * t / v) * A
    dvv = (-2 * cl * t / v ** 3 + (cl * t / v ** 2) ** 2) * A
    np.testing.assert_allclose(A0[:, 0], A, rtol=1e-13)
    np.testing.assert_allclose(J[:, 0], np.stack([dcl, dv], axis=1), rtol=1e-12)
    np.testing.assert_allclose(T[:, 0], np.stack([np.stack([dclcl, dclv], 1), np.stack([dclv, dvv], 1)], 1),
                               rtol=1e-11, atol=1e-14)
    # the polynomial: exact at the point, and second-order accurate around it
    poly = expansion.polynomial((x0, A0, J, T))
    table = lambda c: {"cl": jnp.array([c]), "v": jnp.array([v])}
    np.testing.assert_array_equal(poly(table(cl)), A0)
    h = 1e-3 * cl
    exact = D * np.exp(-(cl + h) / v * t)
    assert np.max(np.abs(np.asarray(poly(table(cl + h)))[:, 0] / exact - 1)) < 10 * (h * t.max() / v) ** 3


def test_ebe_search_returns_the_expansion_at_its_optimum():
    for method in (nlme.FOCEI(),):      # (FOCE's search is the same code; one compile is enough)
        def search(th):
            eta_hat, converged, amounts = approx.ebe(MODEL, method, th, SUBJECT, jnp.zeros(1))
            return eta_hat, converged, MODEL.predict(th, eta_hat, SUBJECT, amounts)
        eta_hat, converged, expanded = jax.jit(search)(THETA)
        assert bool(converged) and abs(float(eta_hat[0])) > 0.01
        np.testing.assert_allclose(expanded, MODEL.predict(THETA, eta_hat, SUBJECT), rtol=1e-14)
        # and the gradient of the conditional objective vanishes there
        l = approx.conditional_objective(MODEL, method, THETA, SUBJECT)
        assert float(jnp.abs(jax.grad(l)(eta_hat)[0])) < 1e-8
