"""Rosenbrock methods: order conditions of their tableaus, measured convergence orders, the classic stiff
problems against tight references, Jacobians (AD and user-supplied), jit/vmap and dense output."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.solvers.rk_conditions import rosenbrock_order_defects
from pysciml.solvers.rosenbrock.tableau import RosenbrockTableau
from pysciml.testing import convergence_order, nonlinear_exact_problem, robertson, robertson_atol, van_der_pol
from helpers import ROSENBROCK

METHODS = ROSENBROCK






ROBERTSON = robertson()
VDP = van_der_pol()




@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.__name__)
def test_tableau_orders_are_exact(method):
    tab = method.tableau
    alpha, gamma, b, b_hat = tab.original_form()
    assert max(rosenbrock_order_defects(alpha, gamma, b, tab.order)) < 1e-12
    assert rosenbrock_order_defects(alpha, gamma, b, tab.order + 1)[-1] > 1e-6
    assert max(rosenbrock_order_defects(alpha, gamma, b_hat, tab.embedded_order)) < 1e-12


def test_wrong_rosenbrock_coefficient_is_rejected():
    tab = ps.Rodas4.tableau
    a = [list(row) for row in tab.a]
    a[3][1] += 1e-5
    with pytest.raises(ValueError, match="conditions fail|row sums"):
        RosenbrockTableau(name="bad", order=4, embedded_order=3, gamma=tab.gamma, a=tuple(map(tuple, a)), C=tab.C,
                          alpha=tab.alpha, gamma_i=tab.gamma_i, m=tab.m, m_error=tab.m_error,
                          dense_order=tab.dense_order, dense_weights=tab.dense_weights)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.__name__)
def test_convergence_order_and_dense_output(method):
    prob, exact = nonlinear_exact_problem((0.0, 10.0))
    alg = method()
    base = {ps.Rosenbrock23: 100, ps.Rodas4: 50, ps.Rodas5P: 40}[method]
    steps = 10.0 / (base * np.array([1.0, 1.25, 1.5, 2.0]))
    errors, dense_errors = [], []
    for h in steps:
        sol = ps.solve(prob, alg, dt=h, adaptive=False)
        errors.append(np.abs(np.asarray(sol.u) - exact(sol.t)).max())
        between = (np.asarray(sol.t[:-1])[:, None] + h * np.array([0.3, 0.5, 0.8])).ravel()
        between = between[between <= float(sol.t[-1])]   # sol(t) does not extrapolate
        dense_errors.append(np.abs(np.asarray(sol(between)) - exact(between)).max())
    assert convergence_order(steps, errors) == pytest.approx(method.tableau.order, abs=0.3)
    expected_dense = min(method.tableau.order, method.tableau.dense_order + 1)
    assert convergence_order(steps, dense_errors) == pytest.approx(expected_dense, abs=0.3)


# Rosenbrock23 controls its steps with rtol^(3/2) (tolerance proportionality of an order-2 method), so it
# takes more steps than the order-4/5 methods and meets the same error multiple.
@pytest.mark.parametrize("method,tol,multiple,max_accepted", [
    (ps.Rodas5P, 1e-6, 10, 1000), (ps.Rodas5P, 1e-8, 10, 1000), (ps.Rodas4, 1e-7, 10, 1000),
    (ps.Rosenbrock23, 1e-5, 10, 10_000)], ids=str)
def test_robertson_to_1e5(stiff_references, method, tol, multiple, max_accepted):
    atol = robertson_atol(tol)
    sol = ps.solve(ROBERTSON, method(), rtol=tol, atol=atol, save_everystep=False, max_steps=100_000)
    assert sol.retcode == ps.ReturnCode.Success
    relative = np.abs(np.asarray(sol.u[-1]) - stiff_references["robertson"]) / np.abs(stiff_references["robertson"])
    assert relative.max() < multiple * tol
    assert int(sol.stats["naccept"]) < max_accepted  # a stiff solver takes few steps on Robertson


@pytest.mark.parametrize("method,tol", [(ps.Rodas5P, 1e-6), (ps.Rodas4, 1e-6)], ids=str)
def test_van_der_pol_mu_1e6(stiff_references, method, tol):
    sol = ps.solve(VDP, method(), rtol=tol, atol=tol, save_everystep=False, max_steps=100_000)
    assert sol.retcode == ps.ReturnCode.Success
    assert np.abs(np.asarray(sol.u[-1]) - stiff_references["vdp"]).max() < 10 * tol * 2.0


def test_user_jacobian_gives_the_same_solution():
    def jac(u, p, t):
        k1, k2, k3 = p[0], p[1], p[2]
        y1, y2, y3 = u[0], u[1], u[2]
        return jnp.array([[-k1, k3 * y3, k3 * y2],
                          [k1, -2 * k2 * y2 - k3 * y3, -k3 * y2],
                          [0.0, 2 * k2 * y2, 0.0]])

    traces = []

    def counted_jac(u, p, t):
        traces.append(1)
        return jac(u, p, t)

    options = dict(rtol=1e-6, atol=1e-10, save_everystep=False)
    automatic = ps.solve(ROBERTSON.remake(tspan=(0.0, 100.0)), ps.Rodas5P(), **options)
    with_jac = ROBERTSON.remake(tspan=(0.0, 100.0), jac=counted_jac)
    supplied = ps.solve(with_jac, ps.Rodas5P(), **options)
    np.testing.assert_allclose(supplied.u, automatic.u, rtol=1e-12)
    assert int(supplied.stats["njacs"]) == int(supplied.stats["nsteps"])
    # The output check of jac runs once per (jac, layouts, dtype): a repeated solve traces nothing.
    first = len(traces)
    ps.solve(with_jac, ps.Rodas5P(), **options)
    assert first > 0 and len(traces) == first
    bad = ROBERTSON.remake(jac=lambda u, p, t: jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"jac returned shape \(2, 3\); expected \(3, 3\)"):
        ps.solve(bad, ps.Rodas5P())


def test_jit_vmap_ensemble_of_stiff_problems_each_with_own_steps():
    k1s = jnp.array([0.02, 0.04, 0.06])
    run = jax.jit(jax.vmap(lambda k1: ps.solve(ROBERTSON.remake(p=ROBERTSON.p.at[0].set(k1), tspan=(0.0, 500.0)),
                                                 ps.Rodas5P(), rtol=1e-6, atol=1e-10, save_everystep=False)))
    sols = run(k1s)
    for i, k1 in enumerate(k1s):
        one = ps.solve(ROBERTSON.remake(p=ROBERTSON.p.at[0].set(k1), tspan=(0.0, 500.0)), ps.Rodas5P(),
                       rtol=1e-6, atol=1e-10, save_everystep=False)
        np.testing.assert_allclose(sols.u[i, -1], one.u[-1], rtol=1e-10)
    assert len(set(np.asarray(sols.stats["naccept"]).tolist())) > 1


def test_explicit_method_fails_where_rosenbrock_succeeds():
    with pytest.warns(RuntimeWarning, match="looks stiff"):
        explicit = ps.solve(VDP, ps.Tsit5(), max_steps=3000, save_everystep=False)
    stiff = ps.solve(VDP, ps.Rodas5P(), save_everystep=False)
    assert explicit.retcode == ps.ReturnCode.MaxIters and stiff.retcode == ps.ReturnCode.Success


def robertson_dae(u, p, t):
    k1, k2, k3 = p[0], p[1], p[2]
    y1, y2, y3 = u[0], u[1], u[2]
    return jnp.stack([-k1 * y1 + k3 * y2 * y3, k1 * y1 - k2 * y2 ** 2 - k3 * y2 * y3, y1 + y2 + y3 - 1.0])


@pytest.mark.parametrize("method", [ps.Rodas4, ps.Rodas5P], ids=lambda m: m.__name__)
def test_robertson_as_dae_matches_the_ode_form(method):
    times = jnp.array([1.0, 100.0, 1e4, 1e5])
    options = dict(rtol=1e-8, atol=1e-12, saveat=times)
    ode = ps.solve(ROBERTSON, method(), **options)
    # y3 = 0.3 is inconsistent with the conservation law: solve() corrects it before integrating
    dae_prob = ps.ODEProblem(robertson_dae, jnp.array([1.0, 0.0, 0.3]), (0.0, 1e5), ROBERTSON.p,
                             mass_matrix=jnp.diag(jnp.array([1.0, 1.0, 0.0])))
    dae = ps.solve(dae_prob, method(), **options)
    assert dae.retcode == ps.ReturnCode.Success
    np.testing.assert_allclose(dae.u, ode.u, atol=1e-9)
    np.testing.assert_allclose(np.asarray(dae.u).sum(axis=1), 1.0, atol=1e-12)


def test_unsolvable_algebraic_equation_is_a_return_code():
    """0 = y2² + 1 has no real solution: the consistent initialization cannot converge, and the solve says so
    (InitializationFailure, with a warning outside jit; the code inside jit) instead of integrating from a state
    that violates the constraint. A slowly converging but solvable constraint (0 = y2³ − 8 from y2 = 50: Newton
    needs ~10 iterations) is refused at 8 iterations too, and the same problem from y2 = 2.5 succeeds."""
    f = lambda u, p, t: jnp.stack([-u[0], u[1] ** 2 + 1.0])
    prob = ps.ODEProblem(f, jnp.array([1.0, 0.5]), (0.0, 1.0), mass_matrix=jnp.diag(jnp.array([1.0, 0.0])))
    with pytest.warns(RuntimeWarning, match="InitializationFailure"):
        sol = ps.solve(prob, ps.Rodas5P())
    assert sol.retcode == ps.ReturnCode.InitializationFailure
    code = jax.jit(lambda u0: ps.solve(prob.remake(u0=u0), ps.Rodas5P()).retcode)(prob.u0)
    assert int(code) == ps.ReturnCode.InitializationFailure
    cubic = lambda u, p, t: jnp.stack([-u[0], u[1] ** 3 - 8.0])
    far = ps.ODEProblem(cubic, jnp.array([1.0, 50.0]), (0.0, 1.0), mass_matrix=jnp.diag(jnp.array([1.0, 0.0])))
    with pytest.warns(RuntimeWarning, match="InitializationFailure"):
        assert ps.solve(far, ps.Rodas5P()).retcode == ps.ReturnCode.InitializationFailure
    near = ps.solve(far.remake(u0=jnp.array([1.0, 2.5])), ps.Rodas5P(), rtol=1e-8, atol=1e-10)
    assert near.retcode == ps.ReturnCode.Success
    np.testing.assert_allclose(near.u[-1], [np.exp(-1.0), 2.0], rtol=1e-7)


def test_mass_matrix_bad_input():
    with pytest.raises(ValueError, match=r"mass_matrix must have shape \(3, 3\)"):
        ps.solve(ROBERTSON.remake(mass_matrix=jnp.eye(2)), ps.Rodas5P())
    with pytest.raises(ValueError, match="cannot solve M du/dt = f"):
        ps.solve(ROBERTSON.remake(mass_matrix=jnp.eye(3)), ps.Tsit5())


def test_nonsingular_mass_matrix_scales_the_derivative():
    # 2 du/dt = -u  <=>  du/dt = -u/2
    prob = ps.ODEProblem(lambda u, p, t: -u, jnp.array([1.0, 2.0]), (0.0, 2.0), mass_matrix=2.0 * jnp.eye(2))
    sol = ps.solve(prob, ps.Rodas5P(), rtol=1e-10, atol=1e-12, save_everystep=False)
    np.testing.assert_allclose(sol.u[-1], np.exp(-1.0) * np.array([1.0, 2.0]), rtol=1e-8)
