"""FOCEI with ODE dynamics: the objective and its gradient (forward mode through pysciml's solver) against the
closed form's at nlmixr2's estimates. The full fit of theophylline with the model as an ODE against the same fit
with the closed form (OFV within 1e-3, estimates within 0.1 %; measured 6e-9 and 7e-9) is part 3 of
benchmarks/nlme.py (RESULTS.md): a minute of CI time for what this comparison already pins down."""
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml import nlme
from pysciml.nlme import reference

CLOSED = reference.nlmixr2_one_compartment()
POP = reference.theophylline()


def one_cpt(A, ind, t):
    return jnp.array([-ind["ka"] * A[0], ind["ka"] * A[0] - ind["cl"] / ind["v"] * A[1]])


ODE_MODEL = nlme.Model(fixed=dict(CLOSED.space.domains), omega="omega", pre=CLOSED.pre,
                       dynamics=nlme.ODE(one_cpt, 2, ps.Tsit5(), rtol=1e-7, atol=1e-9),
                       error=nlme.Additive("add_sd"), observe=lambda ind, A, cov: A[1] / ind["v"])


@pytest.mark.slow
def test_ode_focei_objective_and_gradient_match_closed_form():
    ref = reference.NLMIXR2_FOCEI
    start = dict(ref["estimates"], omega=np.diag(np.log1p((np.asarray(ref["bsv_cv_percent"]) / 100) ** 2)))
    ode_obj = nlme.Objective(ODE_MODEL, POP, nlme.FOCEI())
    closed_obj = nlme.Objective(CLOSED, POP, nlme.FOCEI())
    for u in (np.asarray(ode_obj.free()), np.asarray(ode_obj.free(start))):
        v_ode, g_ode = ode_obj.evaluate(u, ode_obj.zero_etas)[:2]
        v_closed, g_closed = closed_obj.evaluate(u, closed_obj.zero_etas)[:2]
        np.testing.assert_allclose(v_ode, v_closed, rtol=1e-6)
        np.testing.assert_allclose(g_ode, g_closed, rtol=1e-4, atol=1e-4)
