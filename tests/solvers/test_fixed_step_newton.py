"""Fixed-step implicit solves (adaptive=False) never report Success on a Newton iterate that did not converge
(issue 12): a step whose Newton solve fails, also after the retry with the Jacobian refreshed at every
iterate, ends the solve with ReturnCode.ConvergenceFailure at the last converged step. (That tight tolerances
do not break converging fixed-step solves is what the convergence-order tests of test_esdirk.py,
test_radau.py, test_bdf.py and test_stiff_convergence.py check, at rtol 1e-12 and 1e-13.)"""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.linalg import rounding_floor, simplified_newton

# 0 = v² − 1 + p·t: consistent at t0 (v = 1, found from v = 0.5 by the initialization), but with p = 40 it has
# no real solution after t = 0.025, so every stage of a first step of 0.1 has none: Newton's update never falls
# below the tolerance, whatever the step. Before the fix (no root from the start: 0 = v² + 1, now refused at
# initialization) TRBDF2, FBDF and RadauIIA5 returned Success with v ≈ 7e36 (t to 1, dt = 0.1).
NO_ROOT = ps.ODEProblem(lambda u, p, t: jnp.stack([-u[0], u[1] ** 2 - 1.0 + p * t]), jnp.array([1.0, 0.5]),
                        (0.0, 0.3), 40.0, mass_matrix=jnp.diag(jnp.array([1.0, 0.0])))


@pytest.mark.parametrize("method", [ps.TRBDF2, ps.FBDF, ps.RadauIIA5, ps.KenCarp4], ids=lambda m: m.__name__)
def test_fixed_steps_without_a_newton_solution_end_with_convergence_failure(method):
    with pytest.warns(RuntimeWarning, match="ConvergenceFailure"):
        sol = ps.solve(NO_ROOT, method(), dt=0.1, adaptive=False, save_everystep=False)
    assert sol.retcode == ps.ReturnCode.ConvergenceFailure and not sol.success
    # the solve stops at the first step (no step converges): the returned state is the (consistent) initial one,
    # not an unconverged iterate, and the failed step is counted
    assert float(sol.t[-1]) == 0.0
    np.testing.assert_allclose(np.asarray(sol.u[-1]), [1.0, 1.0], rtol=1e-12)
    assert int(sol.stats["nnonlinconvfail"]) == 1


def test_fixed_steps_code_under_jit_and_success_where_newton_converges():
    # The same program with p = −4 (0 = v² − 1 − 4t, v = √(1 + 4t)) converges and says Success; the code is an
    # array under jit (nothing is warned).
    run = jax.jit(lambda p, u0: ps.solve(NO_ROOT.remake(p=p, u0=u0), ps.TRBDF2(), dt=0.1, adaptive=False,
                                         save_everystep=False))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        good = run(-4.0, NO_ROOT.u0)
        bad = run(40.0, NO_ROOT.u0)
    assert int(good.retcode) == ps.ReturnCode.Success
    assert np.allclose(np.asarray(good.u[-1]), [np.exp(-0.3), np.sqrt(2.2)], rtol=1e-3)   # TRBDF2, h = 0.1: ~1e-4
    assert int(bad.retcode) == ps.ReturnCode.ConvergenceFailure


def test_newton_stagnating_at_rounding_level_counts_as_converged():
    # Corrections that stall at 1e-17 (θ = 1, read as divergence) on an iterate of size 1: below 10 rounding
    # units of the iterate (2.2e-15) the iterate is as good as the arithmetic allows; above it they fail.
    size = lambda dz, z: jnp.abs(dz[0]) / 1e-18          # a tolerance far below one ulp of z ~ 1
    z0 = jnp.array([1.0])
    floor = rounding_floor(lambda v: size(v, z0), z0)
    assert floor == pytest.approx(10 * np.finfo(float).eps / 1e-18)
    stalled = lambda z: jnp.full_like(z, 1e-17)
    assert bool(simplified_newton(stalled, size, z0, 1.0, 0.02, 8, floor=floor).converged)
    assert not bool(simplified_newton(stalled, size, z0, 1.0, 0.02, 8).converged)
    above = lambda z: jnp.full_like(z, 1e-14)             # 45 ulps: not rounding
    assert not bool(simplified_newton(above, size, z0, 1.0, 0.02, 8, floor=floor).converged)
