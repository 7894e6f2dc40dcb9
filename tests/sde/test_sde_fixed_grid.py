"""Fixed-step SDE solves on the bulk path run as one scan (`integrate.fixed_grid`); the general loop takes the same
steps on the same path when a dtmax is given. Every saving mode agrees to rounding, the step counts are the loop's
(`controllers.fixed_step_count`), and a blow-up ends with Unstable at the last finite step, as in the loop."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.controllers import fixed_step_count
from pysciml.integrate import fixed_grid
from pysciml.testing import gbm

REF = gbm(mu=0.5, sigma=1.0)
KEY = jax.random.PRNGKey(3)


@pytest.mark.parametrize("alg", [ps.EM(), ps.RKMil()])
@pytest.mark.parametrize("save", ["saveat", "steps", "ends"])
def test_scan_equals_the_loop(alg, save, monkeypatch):
    options = {"saveat": dict(saveat=jnp.array([0.0, 0.31, 0.5, 1.0])), "steps": {},
               "ends": dict(save_everystep=False)}[save]
    used = []
    original = fixed_grid.applies
    monkeypatch.setattr(fixed_grid, "applies", lambda *a: used.append(original(*a)) or used[-1])
    dt = 0.03     # 34 steps, the last one cut at t1
    scan = ps.solve(REF.prob, alg, dt=dt, key=KEY, **options)
    loop = ps.solve(REF.prob, alg, dt=dt, dtmax=1.0, key=KEY, **options)     # dtmax given: the general loop
    assert used == [True, False]
    n = fixed_step_count(0.0, 1.0, dt, np.float64)
    assert n == 34 and int(scan.stats["nsteps"]) == int(loop.stats["nsteps"]) == n
    np.testing.assert_allclose(scan.t, loop.t, rtol=0, atol=1e-15)
    np.testing.assert_allclose(scan.u, loop.u, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(scan.W, loop.W)
    if save == "steps":     # dense output between the grid points: the methods' linear interpolant
        ts = jnp.linspace(0.0, 1.0, 7)
        np.testing.assert_allclose(scan(ts), loop(ts), rtol=1e-13, atol=1e-15)


def test_blow_up_is_unstable_at_the_last_finite_step():
    prob = ps.SDEProblem(lambda u, p, t: u ** 3, lambda u, p, t: 0.1 * u, jnp.array([2.0]), (0.0, 2.0))
    with pytest.warns(RuntimeWarning, match="Unstable"):
        scan = ps.solve(prob, ps.EM(), dt=0.05, key=KEY)
    with pytest.warns(RuntimeWarning, match="Unstable"):
        loop = ps.solve(prob, ps.EM(), dt=0.05, dtmax=1.0, key=KEY)
    assert scan.retcode == loop.retcode == ps.ReturnCode.Unstable
    assert float(scan.t[-1]) == float(loop.t[-1]) < 2.0
    assert int(scan.stats["naccept"]) == int(loop.stats["naccept"])
    np.testing.assert_allclose(scan.u[-1], loop.u[-1], rtol=1e-13)
    assert np.all(np.isfinite(np.asarray(scan.u)))
