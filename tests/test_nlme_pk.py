"""Closed-form compartment models against textbook formulas written here, against the ODE form solved by
pysciml, and steady state against the limit of many doses."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml import nlme


def subject(rows, obs_times):
    """One padded subject from dose rows (TIME, AMT, CMT, RATE, SS, II, ADDL) and observation times."""
    cols = {k: [] for k in ("ID", "TIME", "AMT", "CMT", "RATE", "SS", "II", "ADDL", "DV", "EVID")}
    events = [(r[0], 0, r) for r in rows] + [(t, 1, None) for t in obs_times]
    for t, kind, r in sorted(events, key=lambda e: (e[0], e[1])):
        if kind == 0:
            vals = dict(TIME=t, AMT=r[1], CMT=r[2], RATE=r[3], SS=r[4], II=r[5], ADDL=r[6], DV=".", EVID=1)
        else:
            vals = dict(TIME=t, AMT=".", CMT=2, RATE=0, SS=0, II=0, ADDL=0, DV=1.0, EVID=0)
        for k in cols:
            cols[k].append(str(vals.get(k, 1)))
    pop = nlme.Population.from_dataframe(cols)
    return jax.tree_util.tree_map(lambda x: x[0], pop.subjects)


T = np.array([0.25, 0.5, 1.0, 2.0, 3.5, 6.0, 9.0, 12.0, 18.0, 24.0, 30.0, 47.0])
ORAL = {"ka": 1.3, "cl": 2.7, "v": 31.0}
TWO = {"ka": 1.1, "cl": 3.0, "v": 20.0, "q": 4.0, "vp": 45.0}


def one_cpt_ode(A, ind, t):
    k = ind["cl"] / ind["v"]
    return jnp.array([-ind["ka"] * A[0], ind["ka"] * A[0] - k * A[1]])


def two_cpt_ode(A, ind, t):
    k10, k12, k21 = ind["cl"] / ind["v"], ind["q"] / ind["v"], ind["q"] / ind["vp"]
    return jnp.array([-ind["ka"] * A[0], ind["ka"] * A[0] - (k10 + k12) * A[1] + k21 * A[2], k12 * A[1] - k21 * A[2]])


def test_one_compartment_oral_bolus_matches_textbook():
    s = subject([(0.0, 320.0, 1, 0, 0, 0, 0)], T)
    A = nlme.OneCompartment()(ORAL, s, s.obs_time)
    ka, k, D = 1.3, 2.7 / 31.0, 320.0
    central = D * ka / (ka - k) * (np.exp(-k * T) - np.exp(-ka * T))     # Bateman function
    np.testing.assert_allclose(A[:, 1], central, rtol=1e-13)
    np.testing.assert_allclose(A[:, 0], D * np.exp(-ka * T), rtol=1e-13)


def test_iv_infusion_and_addl_match_textbook():
    # 1-cpt IV: 100 mg over 2 h (RATE 50) every 12 h, 3 doses (ADDL=2)
    s = subject([(0.0, 100.0, 1, 50.0, 0, 12.0, 2)], T)
    A = nlme.OneCompartment(oral=False)({"cl": 2.7, "v": 31.0}, s, s.obs_time)[:, 0]
    k, R, Tinf = 2.7 / 31.0, 50.0, 2.0
    ref = np.zeros_like(T)
    for start in (0.0, 12.0, 24.0):
        tau = T - start
        during = (tau >= 0) & (tau <= Tinf)
        after = tau > Tinf
        ref += np.where(during, R / k * (1 - np.exp(-k * np.clip(tau, 0, None))), 0.0)
        ref += np.where(after, R / k * (1 - np.exp(-k * Tinf)) * np.exp(-k * (tau - Tinf)), 0.0)
    np.testing.assert_allclose(A, ref, rtol=1e-12, atol=1e-12)


def test_steady_state_equals_limit_of_many_doses():
    # SS=1 oral doses every 12 h vs 250 explicit doses (the slowest rate, β ≈ 0.033/h, gives e^{-β·3000} ~ 1e-43:
    # the limit to round-off)
    ii, D = 12.0, 100.0
    ss = subject([(3000.0, D, 1, 0, 1, ii, 0)], 3000.0 + T)
    many = subject([(0.0, D, 1, 0, 0, ii, 250)], 3000.0 + T)
    for model, ind in ((nlme.OneCompartment(), ORAL), (nlme.TwoCompartment(), TWO)):
        a, b = model(ind, ss, ss.obs_time), model(ind, many, many.obs_time)
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)
    # IV bolus: the analytic accumulation C_ss(τ) = D/V e^{-kτ}/(1 − e^{-k·II}) (Gibaldi & Perrier)
    s = subject([(0.0, D, 1, 0, 1, ii, 0)], T[T < ii])
    A = nlme.OneCompartment(oral=False)({"cl": 2.7, "v": 31.0}, s, s.obs_time)[:, 0]
    k = 2.7 / 31.0
    np.testing.assert_allclose(A, D * np.exp(-k * T[T < ii]) / (1 - np.exp(-k * ii)), rtol=1e-13)


def test_steady_state_infusion_equals_limit_of_many_doses():
    ii = 8.0
    ss = subject([(3000.0, 60.0, 2, 20.0, 1, ii, 0)], 3000.0 + T[T < ii])
    many = subject([(0.0, 60.0, 2, 20.0, 0, ii, 375)], 3000.0 + T[T < ii])
    model = nlme.TwoCompartment()
    np.testing.assert_allclose(model(TWO, ss, ss.obs_time), model(TWO, many, many.obs_time), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("name", ["one", "two"])
def test_closed_form_matches_ode(name):
    # bolus into the depot, a later infusion into the central compartment and a repeated oral dose
    rows = [(0.0, 320.0, 1, 0, 0, 0, 0), (5.0, 100.0, 2, 40.0, 0, 0, 0), (12.0, 200.0, 1, 0, 0, 12.0, 1)]
    s = subject(rows, T)
    closed, f, ind = ((nlme.OneCompartment(), one_cpt_ode, ORAL) if name == "one"
                      else (nlme.TwoCompartment(), two_cpt_ode, TWO))
    ode = nlme.ODE(f, closed.n_states, ps.Vern9(), rtol=1e-13, atol=1e-13)
    a, b = closed(ind, s, s.obs_time), ode(ind, s, s.obs_time)
    np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-10)


def test_lag_and_bioavailability():
    s = subject([(0.0, 320.0, 1, 0, 0, 0, 0)], T)
    model = nlme.OneCompartment()
    shifted = model({**ORAL, "lag": 0.5, "F": 0.8}, s, s.obs_time)
    s2 = subject([(0.5, 320.0 * 0.8, 1, 0, 0, 0, 0)], T)
    np.testing.assert_allclose(shifted, model(ORAL, s2, s2.obs_time), rtol=1e-13, atol=1e-14)


@pytest.mark.slow
def test_ode_steady_state_by_periodic_solve():
    # IV bolus SS=1 against the analytic accumulation C_ss(τ) = D/V e^{-kτ}/(1 − e^{-k·II}), values and their
    # derivatives in (cl, v) (the periodic state is differentiated implicitly, through custom_root)
    ii, D = 12.0, 100.0
    iv = nlme.ODE(lambda A, ind, t: -ind["cl"] / ind["v"] * A, 1, ps.Tsit5(), rtol=1e-11, atol=1e-12,
                  steady_state=True)
    s = subject([(0.0, D, 1, 0, 1, ii, 0)], T[T < ii])
    tau = jnp.asarray(T[T < ii])
    analytic = lambda x: D * jnp.exp(-x[0] / x[1] * tau) / (1 - jnp.exp(-x[0] / x[1] * ii))
    ode = lambda x: iv({"cl": x[0], "v": x[1]}, s, s.obs_time)[:, 0]
    x = jnp.array([2.7, 31.0])
    value, jac = jax.jit(lambda x: (ode(x), jax.jacfwd(ode)(x)))(x)      # one program (eager calls compile per op)
    np.testing.assert_allclose(value, analytic(x), rtol=1e-9)
    np.testing.assert_allclose(jac, jax.jacfwd(analytic)(x), rtol=1e-7)
    # oral SS dose at t = 2, an SS infusion into the central compartment at t = 30 (resetting the system) and
    # an ordinary dose after it, against the closed forms (themselves checked against the many-dose limit)
    rows = [(2.0, 100.0, 1, 0, 1, 12.0, 0), (30.0, 60.0, 2, 20.0, 1, 8.0, 0), (40.0, 50.0, 1, 0, 0, 0, 0)]
    times = np.array([2.0, 3.0, 7.0, 13.0, 30.0, 31.0, 34.0, 40.0, 41.0, 47.0])
    s = subject(rows, times)
    oral = nlme.ODE(two_cpt_ode, 3, ps.Tsit5(), rtol=1e-11, atol=1e-12, steady_state=True)
    np.testing.assert_allclose(jax.jit(lambda: oral(TWO, s, s.obs_time))(), nlme.TwoCompartment()(TWO, s, s.obs_time),
                               rtol=1e-8, atol=1e-8)


def test_ode_steady_state_must_be_asked_for():
    rows = {"ID": ["1", "1"], "TIME": ["0", "1"], "AMT": ["100", "."], "DV": [".", "1"], "EVID": ["1", "0"],
            "CMT": ["1", "1"], "SS": ["1", "0"], "II": ["12", "0"]}
    pop = nlme.Population.from_dataframe(rows)
    model = nlme.Model(fixed={"cl": nlme.Positive(2.7), "omega": nlme.DiagonalCov([0.1]), "sd": nlme.Positive(0.1)},
                       omega="omega", pre=lambda th, eta, cov: {"cl": th["cl"] * jnp.exp(eta[0]), "v": 31.0},
                       dynamics=nlme.ODE(lambda A, ind, t: -ind["cl"] / ind["v"] * A, 1),
                       error=nlme.Additive("sd"), observe=lambda ind, A, cov: A[0] / ind["v"])
    with pytest.raises(ValueError, match=r"ODE\(..., steady_state=True\)"):
        nlme.Objective(model, pop, nlme.FOCEI())
