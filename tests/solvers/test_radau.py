"""RadauIIA5: its coefficients, measured convergence orders (non-stiff and stiff linear), the classic stiff
problems against tight references, Jacobian reuse, Newton failure, the DAE form of Robertson, jit/vmap."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml._core.norms import scaled_error_norm
from pysciml.solvers.radau.coefficients import RADAU_IIA5, RadauCoefficients
from pysciml.solvers.rk_conditions import order_defects
from pysciml.testing import convergence_order, nonlinear_exact_problem, robertson, robertson_atol, van_der_pol

ROBERTSON = robertson()
VDP = van_der_pol()


HIRES = ps.testing.hires()


@pytest.fixture(scope="module")
def references(stiff_references):
    return stiff_references


def test_coefficients_are_exact():
    co = RADAU_IIA5
    A, b, c = np.asarray(co.a), np.asarray(co.b), np.asarray(co.c)
    assert max(order_defects(A, b, c, 5)) < 1e-13 and order_defects(A, b, c, 6)[-1] > 1e-4
    assert np.allclose(A[-1], b)                                             # stiffly accurate
    # Hairer & Wanner II, IV.8: the eigenvalues of A⁻¹
    assert (co.gamma, co.alpha, co.beta) == pytest.approx((3.637834252744496, 2.681082873627754, 3.050430199247411))
    block = np.array([[co.gamma, 0, 0], [0, co.alpha, -co.beta], [0, co.beta, co.alpha]])
    np.testing.assert_allclose(np.asarray(co.T_inv) @ np.linalg.inv(A) @ np.asarray(co.T), block, atol=1e-12)
    ext, b_hat, c_ext = co.embedded_weights()
    defects = order_defects(ext, b_hat, c_ext, 4)
    assert max(defects[:3]) < 1e-13 and defects[3] > 1e-3                   # an O(h⁴) error estimate
    assert ps.RadauIIA5().controller_order == 3
    bad = [list(row) for row in co.a]
    bad[1][0] += 1e-6
    with pytest.raises(ValueError, match="order|row sums"):
        RadauCoefficients(name="bad", order=5, embedded_order=3, dense_order=3, c=co.c,
                          a=tuple(map(tuple, bad)), error_z=co.error_z)


def test_convergence_order_nonstiff_with_dense_output():
    prob, exact = nonlinear_exact_problem((0.0, 10.0))
    steps = 10.0 / np.array([56.0, 80.0, 112.0])
    errors, dense_errors = [], []
    for h in steps:
        # with fixed steps the tolerances only set the Newton stopping test
        sol = ps.solve(prob, ps.RadauIIA5(), dt=h, adaptive=False, rtol=1e-9, atol=1e-9)
        assert int(sol.stats["nnonlinconvfail"]) == 0
        errors.append(np.abs(np.asarray(sol.u) - exact(sol.t)).max())
        between = (np.asarray(sol.t[:-1])[:, None] + h * np.array([0.3, 0.5, 0.8])).ravel()
        between = between[between <= float(sol.t[-1])]   # sol(t) does not extrapolate
        dense_errors.append(np.abs(np.asarray(sol(between)) - exact(between)).max())
    assert convergence_order(steps, errors) == pytest.approx(5.0, abs=0.3)
    # the collocation polynomial (degree 3) between steps: local error h⁴
    assert convergence_order(steps, dense_errors) == pytest.approx(4.0, abs=0.3)


def test_convergence_order_stiff_linear():
    # u' = A u with eigenvalues −1, −3 and −1e4 (|hλ| up to 4000): no order reduction for Radau IIA
    V = np.array([[1.0, 0.5, 0.2], [0.3, 1.0, -0.4], [-0.2, 0.6, 1.0]])
    lam = np.array([-1.0, -3.0, -1e4])
    A = jnp.asarray(V @ np.diag(lam) @ np.linalg.inv(V))
    u0 = np.array([1.0, 2.0, -1.0])
    exact = lambda t: (V @ (np.exp(lam[:, None] * np.atleast_1d(t)[None, :]) * np.linalg.solve(V, u0)[:, None])).T
    prob = ps.ODEProblem(lambda u, p, t: A @ u, jnp.asarray(u0), (0.0, 2.0))
    steps = 2.0 / np.array([10.0, 14.0, 20.0])
    errors, dense_errors = [], []
    for h in steps:
        sol = ps.solve(prob, ps.RadauIIA5(), dt=h, adaptive=False, rtol=1e-12, atol=1e-12)
        errors.append(np.abs(np.asarray(sol.u[-1]) - exact(2.0)[0]).max())
        # between steps once the unresolved stiff transient (amplified by R(hλ) ≈ 3/(hλ)) has died out
        between = (np.asarray(sol.t[-6:-1])[:, None] + h * np.array([0.3, 0.5, 0.8])).ravel()
        between = between[between <= float(sol.t[-1])]   # sol(t) does not extrapolate
        dense_errors.append(np.abs(np.asarray(sol(between)) - exact(between)).max())
    assert convergence_order(steps, errors) == pytest.approx(5.0, abs=0.3)
    # at least the interpolant's order 4 (measured 5.9: the slow modes' interpolation error is tiny)
    assert convergence_order(steps, dense_errors) > 3.7


def scaled_error(u, reference, rtol, atol):
    """The error in units of the requested tolerance: max |u − ref| / (atol + rtol |ref|)."""
    return np.max(np.abs(np.asarray(u) - reference) / (np.asarray(atol) + rtol * np.abs(reference)))


# Measured errors (units of the tolerance) at the time of writing: Robertson 0.11 / 1.1 / 7.5 at
# rtol 1e-6 / 1e-8 / 1e-10 (the Newton error of each step accumulates in the slowly decaying y1);
# Van der Pol 0.02 / 0.005; HIRES 0.05 / 0.12. Jacobians: 29 / 12 / 8 on Robertson (172 / 449 / 1374 steps).
@pytest.mark.parametrize("tol,multiple", [(1e-6, 2), (1e-8, 5), (1e-10, 15)], ids=str)
def test_robertson_to_1e5_reusing_the_jacobian(references, tol, multiple):
    atol = robertson_atol(tol)
    sol = ps.solve(ROBERTSON, ps.RadauIIA5(), rtol=tol, atol=atol, save_everystep=False, max_steps=100_000)
    assert sol.retcode == ps.ReturnCode.Success
    assert scaled_error(sol.u[-1], references["robertson"], tol, atol) < multiple
    n_steps = int(sol.stats["nsteps"])
    assert n_steps < 2000
    assert 1 <= int(sol.stats["njacs"]) < n_steps / 5
    assert int(sol.stats["nfactorizations"]) == n_steps
    # f evaluations: three per Newton iteration, one per step for f(u1), one at the start, a few re-tried
    # error estimates
    assert 0 <= int(sol.stats["nf"]) - 3 * int(sol.stats["nnonliniter"]) - n_steps - 1 <= int(sol.stats["nreject"]) + 1


@pytest.mark.parametrize("tol", [1e-6, 1e-8], ids=str)
def test_van_der_pol_mu_1e6(references, tol):
    sol = ps.solve(VDP, ps.RadauIIA5(), rtol=tol, atol=tol, save_everystep=False, max_steps=100_000)
    assert sol.retcode == ps.ReturnCode.Success
    assert scaled_error(sol.u[-1], references["vdp"], tol, tol) < 1
    assert int(sol.stats["njacs"]) < int(sol.stats["nsteps"]) / 4


@pytest.mark.parametrize("tol", [1e-6, 1e-8], ids=str)
def test_hires(references, tol):
    sol = ps.solve(HIRES, ps.RadauIIA5(), rtol=tol, atol=1e-2 * tol, save_everystep=False, max_steps=100_000)
    assert sol.retcode == ps.ReturnCode.Success
    assert scaled_error(sol.u[-1], references["hires"], tol, 1e-2 * tol) < 1


def robertson_dae(u, p, t):
    k1, k2, k3 = p[0], p[1], p[2]
    y1, y2, y3 = u[0], u[1], u[2]
    return jnp.stack([-k1 * y1 + k3 * y2 * y3, k1 * y1 - k2 * y2 ** 2 - k3 * y2 * y3, y1 + y2 + y3 - 1.0])


def test_robertson_as_dae_matches_the_ode_form(references):
    options = dict(rtol=1e-8, atol=robertson_atol(1e-8), save_everystep=False, max_steps=100_000)
    ode = ps.solve(ROBERTSON, ps.RadauIIA5(), **options)
    # y3 = 0.3 is inconsistent with the conservation law: solve() corrects it before integrating
    dae_prob = ps.ODEProblem(robertson_dae, jnp.array([1.0, 0.0, 0.3]), (0.0, 1e5), ROBERTSON.p,
                             mass_matrix=jnp.diag(jnp.array([1.0, 1.0, 0.0])))
    dae = ps.solve(dae_prob, ps.RadauIIA5(), **options)
    assert dae.retcode == ps.ReturnCode.Success
    np.testing.assert_allclose(dae.u, ode.u, atol=1e-9)
    np.testing.assert_allclose(np.asarray(dae.u).sum(axis=1), 1.0, atol=1e-12)
    assert scaled_error(dae.u[-1], references["robertson"], 1e-8, options["atol"]) < 5


def test_newton_failure_rejects_the_step_and_asks_for_a_fresh_jacobian():
    alg = ps.RadauIIA5()
    norm = lambda err, u, u_new: scaled_error_norm(err, u, u_new, 1e-6, 1e-10)
    u0, p = ROBERTSON.u0, ROBERTSON.p
    state = alg.init(ROBERTSON.f, 0.0, u0, p)
    step = jax.jit(lambda dt, state: alg.step(ROBERTSON.f, 0.0, u0, dt, p, state, norm))
    result = step(1e-4, state)
    assert np.isfinite(result.error)
    stats = alg.state_stats(result.state)
    assert int(stats["njacs"]) == 1 and int(stats["nnonliniter"]) >= 1
    assert int(stats["nf_steps"]) >= 3 * int(stats["nnonliniter"]) + 1
    # A huge step from a stale Jacobian (zero: the iteration is explicit): Newton fails, the step is
    # rejected with error +inf, and the rejected state asks for a fresh Jacobian.
    stale = result.state._replace(jac=jnp.zeros((3, 3)), need_jac=jnp.asarray(False))
    failed = step(1e3, stale)
    assert failed.error == np.inf
    assert bool(failed.rejected_state.need_jac) and int(failed.rejected_state.nfails) == 1


def test_jit_vmap_ensemble_of_stiff_problems_each_with_own_steps():
    k1s = jnp.array([0.02, 0.04, 0.06])

    def one(k1):   # the options of the Robertson test above: the single solves reuse its compiled loop
        return ps.solve(ROBERTSON.remake(p=ROBERTSON.p.at[0].set(k1), tspan=(0.0, 500.0)), ps.RadauIIA5(),
                        rtol=1e-6, atol=robertson_atol(1e-6), save_everystep=False, max_steps=100_000)

    sols = jax.jit(jax.vmap(one))(k1s)
    for i, k1 in enumerate(k1s):
        np.testing.assert_allclose(sols.u[i, -1], one(k1).u[-1], rtol=1e-10)
    assert len(set(np.asarray(sols.stats["naccept"]).tolist())) > 1
