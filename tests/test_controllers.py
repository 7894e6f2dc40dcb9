"""Step-size control: the initial step estimate, PI and PID controllers, and their decisions."""
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.controllers import initial_step
from pysciml.testing import lorenz, lotka_volterra


def test_initial_step_has_error_near_tolerance():
    prob = lotka_volterra()
    f0 = prob.f(prob.u0, prob.p, 0.0)
    for tol in (1e-4, 1e-8):
        h = float(initial_step(prob.f, 0.0, prob.u0, f0, prob.p, 4, 1.0, tol, tol, 10.0))
        # a fifth-order method's local error ~ C h^5: the estimate scales like tol^(1/5)
        assert 1e-4 < h < 1.0
    h4 = float(initial_step(prob.f, 0.0, prob.u0, f0, prob.p, 4, 1.0, 1e-4, 1e-4, 10.0))
    h8 = float(initial_step(prob.f, 0.0, prob.u0, f0, prob.p, 4, 1.0, 1e-8, 1e-8, 10.0))
    assert h4 / h8 == pytest.approx(1e4 ** (1 / 5), rel=0.3)
    back = float(initial_step(prob.f, 0.0, prob.u0, f0, prob.p, 4, -1.0, 1e-4, 1e-4, 10.0))
    assert back < 0


@pytest.mark.parametrize("controller", [ps.PIController(), ps.PIDController(), ps.PIDController(0.7, -0.4, 0.0)],
                         ids=["PI", "PID-H312", "PID-as-PI"])
def test_controllers_meet_tolerance(controller):
    prob = lorenz((0.0, 1.0))
    ref = ps.solve(prob, ps.Vern9(), rtol=1e-13, atol=1e-13, save_everystep=False).u[-1]
    sol = ps.solve(prob, ps.Tsit5(), rtol=1e-7, atol=1e-7, controller=controller, save_everystep=False)
    assert sol.retcode == ps.ReturnCode.Success
    assert np.abs(np.asarray(sol.u[-1] - ref)).max() < 100 * 1e-7 * 30


def test_pi_decisions():
    c = ps.PIController()
    state = c.init(jnp.float64)
    good = c.decide(jnp.asarray(0.01), state, 4)
    assert bool(good.accept) and 1.0 < float(good.factor) <= 10.0
    bad = c.decide(jnp.asarray(50.0), state, 4)
    assert not bool(bad.accept) and 0.2 <= float(bad.factor) < 1.0
    nan = c.decide(jnp.asarray(jnp.nan), state, 4)
    assert not bool(nan.accept) and float(nan.factor) == pytest.approx(0.2)
    after_reject = c.decide(jnp.asarray(0.01), bad.state, 4)
    assert bool(after_reject.accept) and float(after_reject.factor) <= 1.0   # no growth right after a rejection
