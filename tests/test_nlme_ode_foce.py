"""FOCE with ODE dynamics against the closed form (issue 16). FOCE (like Laplace: no interaction) computes the
residual variances at η = 0 outside the EBE search's custom_root, whose derivative in θ used to trace the
ODE solve's derivative rule after the search's trace had ended (UnexpectedTracerError). One-compartment IV
bolus, three subjects, proportional error: the ODE model and NONMEM ADVAN1's closed form (`nlme.pk`) give the
same objective and gradient to the solver's tolerance. Tracing and compiling the ODE model's FOCE objective
and gradient takes about 15 CPU seconds (56 before the solve was traced once per objective, `nlme.expansion`;
benchmarks/nlme_compile.py), hence slow; Laplace, which keeps the direct solves, would add about a minute. This is the
suite's one ODE-vs-closed-form check of a conditional method's objective and gradient (FOCEI's differs only in
the interaction term; its full theophylline fit as an ODE against the closed form is part 3 of
benchmarks/nlme.py, OFV to 6e-9)."""
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml import nlme


def _population():
    rows = []
    for i, (dose, k) in enumerate(((100.0, 0.09), (150.0, 0.12), (80.0, 0.07))):
        rows.append(dict(ID=i + 1, TIME=0, AMT=dose, DV=".", EVID=1, CMT=1))
        rows += [dict(ID=i + 1, TIME=t, AMT=".", DV=float(dose / 11.0 * np.exp(-k * t) * (1 + 0.05 * (-1) ** j)),
                      EVID=0, CMT=1) for j, t in enumerate((0.5, 1, 2, 4, 8, 12))]
    return nlme.Population.from_dataframe({name: [str(r[name]) for r in rows] for name in rows[0]})


def _model(dynamics, observe=None):
    return nlme.Model(fixed={"cl": nlme.Positive(1.0), "v": nlme.Positive(10.0), "omega": nlme.DiagonalCov([0.05]),
                             "sd": nlme.Positive(0.1)}, omega="omega",
                      pre=lambda th, eta, cov: {"cl": th["cl"] * jnp.exp(eta[0]), "v": th["v"]},
                      dynamics=dynamics, error=nlme.Proportional("sd"), observe=observe)


POP = _population()
CLOSED = _model(nlme.OneCompartment(oral=False))
ODE = _model(nlme.ODE(lambda A, ind, t: -ind["cl"] / ind["v"] * A, 1, ps.Tsit5(), rtol=1e-11, atol=1e-13),
             observe=lambda ind, A, cov: A[0] / ind["v"])


@pytest.mark.slow
def test_ode_foce_objective_and_gradient_match_closed_form():
    ode, closed = nlme.Objective(ODE, POP, nlme.FOCE()), nlme.Objective(CLOSED, POP, nlme.FOCE())
    u = np.asarray(ode.free({"cl": 1.2, "v": 11.0, "omega": np.diag([0.08]), "sd": 0.07}))
    v_ode, g_ode = ode.evaluate(u, ode.zero_etas)[:2]
    v_closed, g_closed = closed.evaluate(u, closed.zero_etas)[:2]
    assert np.isfinite(v_ode) and abs(v_closed) > 1.0
    np.testing.assert_allclose(v_ode, v_closed, rtol=1e-8)
    np.testing.assert_allclose(g_ode, g_closed, rtol=1e-6, atol=1e-6)
