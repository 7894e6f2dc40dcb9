"""SplitODEProblem and IMEX KenCarp4 (f1 implicit, f2 explicit), mass matrices for the ESDIRK methods, and
ReturnCode.ConvergenceFailure when Newton's iteration cannot converge."""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import pysciml as ps
from pysciml.solvers.esdirk.tableau import EsdirkTableau
from pysciml.solvers.rk_conditions import additive_order_defects, order_defects
from pysciml.testing import convergence_order, robertson_atol

# --- a split problem with a known solution --------------------------------------------------------------
# u = φ(t) solves du/dt = L(u − φ) + φ' + g(u) − g(φ) for any L and g: f1 = L(u − φ) is stiff and linear,
# f2 = φ' + g(u) − g(φ) non-linear and non-stiff.
STIFF = jnp.array([[-20.0, 4.0], [0.0, -10.0]])


def _phi(t):
    return jnp.stack([jnp.sin(t), jnp.cos(2.0 * t)])


def _g(u):
    return jnp.stack([u[1] ** 2, jnp.sin(u[0])])


def linear_stiff_part(u, p, t):
    return STIFF @ (u - _phi(t))


def nonlinear_part(u, p, t):
    dphi = jnp.stack([jnp.cos(t), -2.0 * jnp.sin(2.0 * t)])
    return dphi + _g(u) - _g(_phi(t))


SPLIT = ps.SplitODEProblem(linear_stiff_part, nonlinear_part, _phi(0.0), (0.0, 2.0))


def test_imex_tableau_order_and_coupling_conditions():
    tab = ps.KenCarp4.tableau
    A, E, b, c = tab.matrix(), tab.explicit_matrix(), np.asarray(tab.b), np.asarray(tab.c)
    assert np.all(np.triu(E) == 0.0) and np.allclose(E.sum(axis=1), c)        # explicit, consistent c
    assert max(order_defects(E, b, c, 4)) < 1e-12                               # the explicit method alone
    assert max(additive_order_defects([A, E], b, c, 4)) < 1e-12                 # and coupled to the ESDIRK
    assert additive_order_defects([A, E], b, c, 5)[-1] > 1e-6
    assert max(additive_order_defects([A, E], b - np.asarray(tab.b_error), c, 3)) < 1e-12
    for theta in (0.2, 0.5, 0.9):
        assert max(additive_order_defects([A, E], tab.dense_b(theta), c, 3, theta)) < 1e-12
    rows = [list(row) for row in tab.explicit_a]
    rows[4][2] += 1e-6
    fields = {name: getattr(tab, name) for name in ("order", "embedded_order", "gamma", "a", "c", "b", "b_error",
                                                    "dense_order", "dense_weights")}
    with pytest.raises(ValueError, match="IMEX order-4 conditions fail"):
        EsdirkTableau(name="bad", explicit_a=tuple(map(tuple, rows)), **fields)


def test_imex_kencarp4_converges_with_order_4():
    # With fixed steps the tolerances only set the Newton stopping test.
    steps = 2.0 / (80 * np.array([1.0, 1.4, 2.0]))
    errors = []
    for h in steps:
        sol = ps.solve(SPLIT, ps.KenCarp4(), dt=h, adaptive=False, rtol=1e-12, atol=1e-12, save_everystep=False)
        errors.append(np.abs(np.asarray(sol.u[-1]) - np.asarray(_phi(2.0))).max())
    assert convergence_order(steps, errors) == pytest.approx(4.0, abs=0.3)


def test_split_problem_with_other_methods_equals_the_unsplit_ode():
    unsplit = ps.ODEProblem(lambda u, p, t: linear_stiff_part(u, p, t) + nonlinear_part(u, p, t),
                            SPLIT.u0, SPLIT.tspan)
    for alg in (ps.Tsit5(), ps.Rodas5P()):
        split = ps.solve(SPLIT, alg, rtol=1e-8, atol=1e-10, save_everystep=False)
        whole = ps.solve(unsplit, alg, rtol=1e-8, atol=1e-10, save_everystep=False)
        assert int(split.stats["nsteps"]) == int(whole.stats["nsteps"])
        np.testing.assert_allclose(split.u, whole.u, rtol=1e-12, atol=1e-14)
    assert SPLIT.remake(p=2.0).p == 2.0 and SPLIT.remake(p=2.0).f == SPLIT.f
    with pytest.raises(ValueError, match="SplitODEProblem f2: f returned shape"):
        ps.solve(SPLIT.remake(f2=lambda u, p, t: u[:1]), ps.KenCarp4())
    with pytest.raises(TypeError, match="f1 must be callable"):
        ps.SplitODEProblem(1.0, nonlinear_part, SPLIT.u0, SPLIT.tspan)


# --- reaction–diffusion: 1-D Brusselator (Hairer & Wanner II, IV.10), diffusion implicit ----------------
N, ALPHA = 32, 0.02
DX = 1.0 / (N + 1)
LAPLACE = (np.diag(-2.0 * np.ones(N)) + np.diag(np.ones(N - 1), 1) + np.diag(np.ones(N - 1), -1)) / DX ** 2
BOUNDARY = np.zeros(N)
BOUNDARY[[0, -1]] = 1.0 / DX ** 2          # u = 1, v = 3 at both ends


def diffusion(y, p, t):
    u, v = y[:N], y[N:]
    lap = jnp.asarray(ALPHA * LAPLACE)
    return jnp.concatenate([lap @ u + ALPHA * BOUNDARY, lap @ v + 3.0 * ALPHA * BOUNDARY])


@jax.custom_jvp
def _reaction(y):
    u, v = y[:N], y[N:]
    return jnp.concatenate([1.0 + u * u * v - 4.0 * u, 3.0 * u - u * u * v])


@_reaction.defjvp
def _reaction_jvp(primals, tangents):
    raise AssertionError("the explicit part f2 was differentiated")


def reaction(y, p, t):
    """The reaction terms; differentiating them raises, so a solve that succeeds never did."""
    return _reaction(y)


def test_imex_brusselator_against_scipy_and_differentiates_only_f1():
    x = np.arange(1, N + 1) * DX
    y0 = np.concatenate([1.0 + np.sin(2 * np.pi * x), 3.0 * np.ones(N)])

    def numpy_rhs(t, y):
        u, v = y[:N], y[N:]
        return np.concatenate([ALPHA * (LAPLACE @ u + BOUNDARY) + 1 + u * u * v - 4 * u,
                               ALPHA * (LAPLACE @ v + 3 * BOUNDARY) + 3 * u - u * u * v])

    def numpy_jac(t, y):
        u, v = y[:N], y[N:]
        return np.block([[ALPHA * LAPLACE + np.diag(2 * u * v - 4), np.diag(u * u)],
                         [np.diag(3 - 2 * u * v), ALPHA * LAPLACE - np.diag(u * u)]])

    reference = solve_ivp(numpy_rhs, (0.0, 10.0), y0, method="Radau", rtol=1e-11, atol=1e-12, jac=numpy_jac).y[:, -1]
    prob = ps.SplitODEProblem(diffusion, reaction, jnp.asarray(y0), (0.0, 10.0))
    tol = 1e-6
    sol = ps.solve(prob, ps.KenCarp4(), rtol=tol, atol=tol, save_everystep=False)
    assert sol.retcode == ps.ReturnCode.Success
    # Measured: 5.3 tol.
    assert np.abs(np.asarray(sol.u[-1]) - reference).max() < 20 * tol
    stats = {k: int(v) for k, v in sol.stats.items()}
    # f1 is linear: its Jacobian, formed once, never needs refreshing; f2 is evaluated at the 5 implicit
    # stages and the end of each of the 6-stage steps (plus once at t0) and never differentiated.
    assert stats["njacs"] == 1 and stats["nnonlinconvfail"] == 0
    assert stats["nf2"] == 1 + 6 * stats["nsteps"]
    # A non-IMEX method differentiates f1 + f2, which the custom rule above reports: the check is real.
    with pytest.raises(AssertionError, match="f2 was differentiated"):
        ps.solve(prob, ps.Kvaerno5(), save_everystep=False)


# --- mass matrices ----------------------------------------------------------------------------------------

def robertson_dae(u, p, t):
    k1, k2, k3 = p[0], p[1], p[2]
    y1, y2, y3 = u[0], u[1], u[2]
    return jnp.stack([-k1 * y1 + k3 * y2 * y3, k1 * y1 - k2 * y2 ** 2 - k3 * y2 * y3, y1 + y2 + y3 - 1.0])


# Measured relative errors of the DAE form at rtol 1e-6, in units of rtol (the ODE form gives the same
# to 4 digits with the same steps): TRBDF2 72, KenCarp4 9.5, Kvaerno5 2.6.
# TRBDF2 (order 2) controls its steps with rtol^(3/2) (tolerance proportionality): more steps, and an
# error within the same multiple as the order-4/5 methods.
@pytest.mark.parametrize("method,multiple,max_steps", [(ps.TRBDF2, 10, 10_000), (ps.KenCarp4, 30, 1000),
                                                       (ps.Kvaerno5, 10, 1000)],
                         ids=lambda m: getattr(m, "__name__", str(m)))
def test_robertson_as_dae_matches_the_ode_form(stiff_references, method, multiple, max_steps):
    # y3 = 0.3 is inconsistent with the conservation law: solve() corrects it before integrating
    prob = ps.ODEProblem(robertson_dae, jnp.array([1.0, 0.0, 0.3]), (0.0, 1e5), jnp.array([0.04, 3e7, 1e4]),
                         mass_matrix=jnp.diag(jnp.array([1.0, 1.0, 0.0])))
    tol = 1e-6
    sol = ps.solve(prob, method(), rtol=tol, atol=robertson_atol(tol), save_everystep=False, max_steps=100_000)
    assert sol.retcode == ps.ReturnCode.Success
    reference = stiff_references["robertson"]      # the ODE form, solved by scipy's Radau at rtol 1e-10
    assert (np.abs(np.asarray(sol.u[-1]) - reference) / reference).max() < multiple * tol
    assert abs(float(np.asarray(sol.u[-1]).sum()) - 1.0) < 1e-12
    assert int(sol.stats["nsteps"]) < max_steps


M = jnp.array([[2.0, 1.0], [0.5, 3.0]])


def _van_der_pol_5(u, p, t):
    return jnp.stack([u[1], 5.0 * ((1 - u[0] ** 2) * u[1] - u[0])])


def test_nonsingular_mass_matrix_matches_the_inverse_form():
    inverse = np.linalg.inv(np.asarray(M))
    reference = solve_ivp(lambda t, u: inverse @ [u[1], 5.0 * ((1 - u[0] ** 2) * u[1] - u[0])], (0.0, 3.0),
                          [2.0, 0.0], method="DOP853", rtol=1e-12, atol=1e-12).y[:, -1]
    tol = 1e-7
    sol = ps.solve(ps.ODEProblem(_van_der_pol_5, jnp.array([2.0, 0.0]), (0.0, 3.0), mass_matrix=M), ps.KenCarp4(),
                   rtol=tol, atol=tol, save_everystep=False)
    assert sol.retcode == ps.ReturnCode.Success
    # Measured: 0.7 tol, the same as KenCarp4 on du/dt = M⁻¹f (1.7e-9 apart, with the same steps).
    assert np.abs(np.asarray(sol.u[-1]) - reference).max() < 5 * tol


def test_imex_with_a_mass_matrix_is_refused():
    from pysciml._core.norms import scaled_error_norm
    from pysciml.problems import SplitFunction, Terms
    f, alg = SplitFunction(linear_stiff_part, nonlinear_part), ps.KenCarp4()
    norm = lambda err, u, u_new: scaled_error_norm(err, u, u_new, 1e-6, 1e-6)
    state = alg.init(f, 0.0, SPLIT.u0, None)
    with pytest.raises(ValueError, match="does not take a mass matrix"):
        alg.step(Terms(f, M), 0.0, SPLIT.u0, 0.1, None, state, norm)


# --- Newton failure -----------------------------------------------------------------------------------------

def test_convergence_failure_when_newton_cannot_converge():
    # 0 = v² − 1 + 40t is consistent at t0 (v = 1) but has no real solution after t = 0.025 (a fold: v = √(1 − 40t)
    # → 0): the steps succeed up to the fold, then Newton fails on every step until the step size underflows.
    fold = ps.ODEProblem(lambda u, p, t: jnp.stack([-u[0], u[1] ** 2 - 1.0 + p * t]), jnp.array([1.0, 0.5]),
                         (0.0, 1.0), 40.0, mass_matrix=jnp.diag(jnp.array([1.0, 0.0])))
    with pytest.warns(RuntimeWarning, match="ConvergenceFailure: The implicit method's Newton iteration"):
        sol = ps.solve(fold, ps.KenCarp4(), save_everystep=False)
    assert sol.retcode == ps.ReturnCode.ConvergenceFailure and not sol.success
    assert 0.0249 < float(sol.t[-1]) <= 0.025 and int(sol.stats["nnonlinconvfail"]) > 0

    # A relay with a large gain, u' = −K sgn(u) from u = 0: the solution slides along the jump, and the
    # Newton iterates alternate between the two branches, 2Kγh apart, far above the tolerance for every
    # step above the smallest step the loop allows (10 rounding units of t, so the span starts at t = 1:
    # at t = 0 steps may shrink to 1e-300, where Newton converges and the solve creeps on to MaxIters).
    # Under jit the code is an array (and nothing is warned).
    relay = ps.ODEProblem(lambda u, p, t: -p * jnp.where(u >= 0.0, 1.0, -1.0), jnp.array([0.0]), (1.0, 2.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # rtol 1e-2, atol 1e-5: TRBDF2 controls with rtol^(3/2), atol·rtol^(1/2) = 1e-3, 1e-6 (the defaults),
        # where every step's Newton iteration fails (at tighter tolerances an error-estimate rejection can
        # come last, and the code is DtLessThanMin).
        code = jax.jit(lambda gain: ps.solve(relay.remake(p=gain), ps.TRBDF2(), rtol=1e-2, atol=1e-5,
                                             save_everystep=False).retcode)(1e9)
    assert int(code) == ps.ReturnCode.ConvergenceFailure
