"""Time-varying covariates (last value carried forward): a clearance proportional to a weight that changes
during the dosing history, against closed forms worked out by hand piece by piece (bolus, infusion across the
change, oral doses before and after it), for the closed-form and the ODE dynamics; the objective's gradient
against finite differences."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml import nlme

TCL, V, KA = 1.4, 20.0, 1.0
K70, K90 = TCL / V, TCL * 90 / 70 / V          # elimination rate at 70 kg and at 90 kg


def rows(ID, events):
    """events: (TIME, EVID, AMT, RATE, CMT, WT or '.')"""
    return [dict(ID=ID, TIME=t, EVID=e, AMT=a if e == 1 else ".", RATE=r, CMT=c, WT=w,
                 DV=1.0 if e == 0 else ".") for t, e, a, r, c, w in events]


def population(*subjects):
    table = [r for s in subjects for r in s]
    return nlme.Population.from_dataframe({k: [str(r[k]) for r in table] for k in table[0]}, covariates=["WT"])


# IV: subject 1 a bolus at 0, weight 70 -> 90 at t = 6 (an EVID 2 record); subject 2 an infusion 0-5 h at 20/h,
# the weight changing at t = 3 (on an observation record), WT missing on later rows (carried forward)
T1 = [1.0, 3.0, 6.0, 8.0, 12.0]
T2 = [1.0, 3.0, 4.0, 5.0, 7.0, 10.0]
IV_POP = population(
    rows(1, [(0, 1, 100, 0, 1, 70)] + [(t, 0, 0, 0, 1, 70) for t in T1[:2]] + [(6.0, 2, 0, 0, 1, 90)]
         + [(t, 0, 0, 0, 1, ".") for t in T1[2:]]),
    rows(2, [(0, 1, 100, 20, 1, 70), (1.0, 0, 0, 0, 1, 70), (3.0, 0, 0, 0, 1, 90)]
         + [(t, 0, 0, 0, 1, ".") for t in T2[2:]]))


def iv_by_hand():
    t1 = np.array(T1)
    c1 = np.where(t1 < 6, 100 * np.exp(-K70 * t1), 100 * np.exp(-6 * K70) * np.exp(-K90 * (t1 - 6))) / V
    rate, t2 = 20.0, np.array(T2)
    a3 = rate / K70 * (1 - np.exp(-3 * K70))
    during = lambda t: a3 * np.exp(-K90 * (t - 3)) + rate / K90 * (1 - np.exp(-K90 * (t - 3)))
    a = np.where(t2 <= 3, rate / K70 * (1 - np.exp(-K70 * t2)),
                 np.where(t2 <= 5, during(t2), during(5.0) * np.exp(-K90 * (t2 - 5))))
    return [c1, a / V]


# oral: doses at 0 and 12 into the depot, the weight changing at t = 8 (an observation record)
T3 = [0.5, 2.0, 5.0, 8.0, 10.0, 12.0, 13.0, 16.0, 24.0]
ORAL_POP = population(rows(3, [(0, 1, 100, 0, 1, 70)] + [(t, 0, 0, 0, 2, 70 if t < 8 else 90) for t in T3[:5]]
                           + [(12.0, 1, 100, 0, 1, ".")] + [(t, 0, 0, 0, 2, ".") for t in T3[5:]]))


def oral_by_hand():
    t = np.array(T3)
    bateman = lambda k, tau: KA / (KA - k) * (np.exp(-k * tau) - np.exp(-KA * tau))
    depot8, central8 = 100 * np.exp(-KA * 8), 100 * bateman(K70, 8.0)
    tau = t - 8
    after = central8 * np.exp(-K90 * tau) + depot8 * bateman(K90, tau) + np.where(
        t >= 12, 100 * bateman(K90, np.maximum(t - 12, 0)), 0.0)
    return np.where(t <= 8, 100 * bateman(K70, t), after) / V


def pre(th, eta, cov):
    return {"ka": th["ka"], "cl": th["tcl"] * cov["WT"] / 70 * jnp.exp(eta[0]), "v": th["v"]}


FIXED = {"ka": nlme.Positive(KA), "tcl": nlme.Positive(TCL), "v": nlme.Positive(V), "omega": nlme.DiagonalCov([0.1]),
         "sd": nlme.Positive(0.3)}
IV = nlme.Model(fixed=FIXED, omega="omega", pre=pre, dynamics=nlme.OneCompartment(oral=False),
                error=nlme.Additive("sd"))
ORAL = nlme.Model(fixed=FIXED, omega="omega", pre=pre, dynamics=nlme.OneCompartment(oral=True),
                  error=nlme.Additive("sd"))
THETA = {k: jnp.asarray(v, float) for k, v in IV.space.initial().items()}


def predictions(model, pop):
    return np.asarray(jax.jit(jax.vmap(lambda s: model.predict(THETA, jnp.zeros(1), s)))(pop.subjects))


def test_covariate_table_carries_values_forward():
    s = IV_POP.subjects
    assert IV_POP.time_varying and not nlme.Population.from_dataframe(
        {k: [str(r[k]) for r in rows(1, [(0, 1, 100, 0, 1, 70), (1.0, 0, 0, 0, 1, ".")])] for k in
         ("ID", "TIME", "EVID", "AMT", "RATE", "CMT", "WT", "DV")}, covariates=["WT"]).time_varying
    np.testing.assert_array_equal(np.asarray(s.cov_time), [[0.0, 6.0], [0.0, 3.0]])
    np.testing.assert_array_equal(np.asarray(s.cov_table["WT"]), [[70, 90], [70, 90]])
    np.testing.assert_array_equal(np.asarray(s.covariates["WT"]), [70, 70])     # baseline


def test_closed_form_matches_hand_computation():
    pred = predictions(IV, IV_POP)
    ref = iv_by_hand()
    np.testing.assert_allclose(pred[0, :len(T1)], ref[0], rtol=1e-12)
    np.testing.assert_allclose(pred[1, :len(T2)], ref[1], rtol=1e-12)
    np.testing.assert_allclose(predictions(ORAL, ORAL_POP)[0], oral_by_hand(), rtol=1e-12)
    # the change matters: with the baseline weight throughout, the late predictions are far off
    assert abs(pred[0, 4] / (100 / V * np.exp(-K70 * 12)) - 1) > 0.1


def one_cpt_iv(A, ind, t):
    return -ind["cl"] / ind["v"] * A


def one_cpt_oral(A, ind, t):
    return jnp.array([-ind["ka"] * A[0], ind["ka"] * A[0] - ind["cl"] / ind["v"] * A[1]])


@pytest.mark.slow
def test_ode_form_matches_hand_computation():
    ode_iv = nlme.Model(fixed=FIXED, omega="omega", pre=pre, error=nlme.Additive("sd"),
                        dynamics=nlme.ODE(one_cpt_iv, 1, ps.Vern9(), rtol=1e-12, atol=1e-12),
                        observe=lambda ind, A, cov: A[0] / ind["v"])
    ode_oral = nlme.Model(fixed=FIXED, omega="omega", pre=pre, error=nlme.Additive("sd"),
                          dynamics=nlme.ODE(one_cpt_oral, 2, ps.Vern9(), rtol=1e-12, atol=1e-12),
                          observe=lambda ind, A, cov: A[1] / ind["v"])
    pred = predictions(ode_iv, IV_POP)
    ref = iv_by_hand()
    np.testing.assert_allclose(pred[0, :len(T1)], ref[0], rtol=1e-10)
    np.testing.assert_allclose(pred[1, :len(T2)], ref[1], rtol=1e-10)
    np.testing.assert_allclose(predictions(ode_oral, ORAL_POP)[0], oral_by_hand(), rtol=1e-10)


def test_objective_gradient_with_time_varying_covariates():
    obj = nlme.Objective(IV, IV_POP.with_dv(np.asarray(IV_POP.subjects.dv) * 2.0), nlme.FOCEI())
    u = np.asarray(obj.free())
    g = obj.evaluate(u, obj.zero_etas)[1]
    h = 1e-5
    fd = [(obj.evaluate(u + h * e, obj.zero_etas)[0] - obj.evaluate(u - h * e, obj.zero_etas)[0]) / (2 * h)
          for e in np.eye(u.size)]
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7)


def test_steady_state_with_time_varying_covariates_is_refused():
    pop = population(rows(1, [(0, 1, 100, 0, 1, 70), (1.0, 0, 0, 0, 1, 80)]))
    pop.subjects = pop.subjects._replace(dose_ss=jnp.ones_like(pop.subjects.dose_ss))
    with pytest.raises(ValueError, match="steady-state doses .* time-varying covariates"):
        nlme.Objective(IV, pop, nlme.FOCEI())
