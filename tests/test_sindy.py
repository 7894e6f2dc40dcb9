"""pysciml.sindy: exact recovery of Lorenz and Lotka–Volterra from clean data, recovery within a few percent
from noisy data, the λ sweep and its information criteria, SR3, sympy/JAX output equivalence, library
names, derivative estimates against exact formulas and scipy, and input errors."""
import dataclasses
import math
import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy

import pysciml as ps
from pysciml import sindy

LORENZ_NAMES = ("x", "y", "z")
LV_NAMES = ("x", "y")
POLY2 = sindy.PolynomialLibrary(degree=2)


def lorenz(u, p, t):
    x, y, z = u
    return jnp.array([10.0 * (y - x), x * (28.0 - z) - y, x * y - 8.0 / 3.0 * z])


def lotka_volterra(u, p, t):
    x, y = u
    return jnp.array([1.3 * x - 0.9 * x * y, -1.8 * y + 0.8 * x * y])


def true_coefficients(system):
    """Ξ in PolynomialLibrary(2)'s order: (1, x, y, z, x^2, x*y, x*z, y^2, y*z, z^2) or (1, x, y, x^2, x*y, y^2)."""
    if system == "lorenz":
        xi = np.zeros((3, 10))
        xi[0, [1, 2]] = -10.0, 10.0
        xi[1, [1, 2, 6]] = 28.0, -1.0, -1.0
        xi[2, [3, 5]] = -8.0 / 3.0, 1.0
        return xi
    xi = np.zeros((2, 6))
    xi[0, [1, 4]] = 1.3, -0.9
    xi[1, [2, 4]] = -1.8, 0.8
    return xi


SYSTEMS = {"lorenz": (lorenz, [-8.0, 8.0, 27.0], 2001), "lv": (lotka_volterra, [1.0, 1.0], 401)}


def _trajectory(name):
    f, u0, n = SYSTEMS[name]
    t = jnp.linspace(0.0, 10.0, n)
    sol = ps.solve(ps.ODEProblem(f, jnp.array(u0), (0.0, 10.0)), ps.Tsit5(), rtol=1e-10, atol=1e-12,
                   saveat=t, max_steps=100_000)
    assert sol.retcode == ps.ReturnCode.Success
    return t, sol.u, sindy.derivatives_from(f, sol.u, t)


@pytest.fixture(scope="module")
def data():
    """Trajectories from ps.solve at rtol 1e-10 with their exact derivatives f(X): Lorenz on [0, 10]
    (2001 samples) and Lotka–Volterra on [0, 10] (401 samples)."""
    return {name: _trajectory(name) for name in SYSTEMS}


def names_of(system):
    return LORENZ_NAMES if system == "lorenz" else LV_NAMES


@pytest.mark.parametrize("system", ["lorenz", "lv"])
def test_exact_recovery_from_clean_data(data, system):
    t, X, dX = data[system]
    model = sindy.SINDy(POLY2, optimizer=sindy.STLSQ(threshold=0.1), names=names_of(system)).fit(X, x_dot=dX)
    xi, truth = np.asarray(model.coefficients), true_coefficients(system)
    np.testing.assert_array_equal(xi != 0, truth != 0)
    assert np.max(np.abs(xi - truth)) < 1e-6


def test_clean_finite_differences_recover_pattern(data):
    """Second-order differences at dt = 0.005 leave O(dt²) errors: the pattern is exact, values within 1%."""
    t, X, _ = data["lorenz"]
    model = sindy.SINDy(POLY2, optimizer=sindy.STLSQ(threshold=0.1), names=LORENZ_NAMES).fit(X, t=t)
    xi, truth = np.asarray(model.coefficients), true_coefficients("lorenz")
    np.testing.assert_array_equal(xi != 0, truth != 0)
    np.testing.assert_allclose(xi[truth != 0], truth[truth != 0], rtol=1e-2)


def noisy(X, level=0.01, seed=0):
    """X plus Gaussian noise of ``level`` times each state's standard deviation."""
    X = np.asarray(X)
    return X + level * X.std(axis=0) * np.random.default_rng(seed).standard_normal(X.shape)


@pytest.mark.parametrize("system", ["lorenz", "lv"])
def test_recovery_from_noisy_data(data, system):
    t, X, _ = data[system]
    model = sindy.SINDy(POLY2, optimizer=sindy.STLSQ(threshold=0.1), names=names_of(system),
                        derivative=sindy.SmoothedFiniteDifference(window=15, order=3)).fit(noisy(X), t=t)
    xi, truth = np.asarray(model.coefficients), true_coefficients(system)
    np.testing.assert_array_equal(xi != 0, truth != 0)
    np.testing.assert_allclose(xi[truth != 0], truth[truth != 0], rtol=0.03)


@pytest.mark.parametrize("regularizer", ["l0", "l1"])
def test_sr3_recovers_pattern(data, regularizer):
    t, X, dX = data["lorenz"]
    opt = sindy.SR3(threshold=0.1, nu=1.0, regularizer=regularizer)
    model = sindy.SINDy(POLY2, optimizer=opt, names=LORENZ_NAMES).fit(X, x_dot=dX)
    xi, truth = np.asarray(model.coefficients), true_coefficients("lorenz")
    np.testing.assert_array_equal(xi != 0, truth != 0)
    assert np.max(np.abs(xi - truth)) < 1e-6


def test_sr3_l1_fixed_point_on_orthonormal_columns():
    """With orthonormal library columns the ξ step is ξ = (νc + w)/(ν + 1) for c = Θᵀy, so the fixed point
    of the L1 iteration is w = c − τ(1 + 1/ν)·sign(c) where that keeps the sign, else 0."""
    rng = np.random.default_rng(3)
    Q, _ = np.linalg.qr(rng.standard_normal((200, 4)))
    y = Q @ np.array([2.0, -0.05, 0.5, 0.0])
    reg = sindy.optimizers.prepare(jnp.asarray(Q), jnp.asarray(y)[:, None])
    regress = jax.jit(lambda opt, reg: opt.regress(reg))
    w = regress(sindy.SR3(threshold=0.1, nu=1.0, regularizer="l1", unbias=False), reg)
    np.testing.assert_allclose(np.asarray(w)[0], [1.8, 0.0, 0.3, 0.0], atol=1e-10)
    w0 = regress(sindy.SR3(threshold=0.1, nu=1.0, regularizer="l0", unbias=False), reg)
    np.testing.assert_allclose(np.asarray(w0)[0], [2.0, 0.0, 0.5, 0.0], atol=1e-10)


def test_lambda_sweep_picks_true_sparsity_by_aic(data):
    t, X, _ = data["lorenz"]
    x_noisy = noisy(X)
    dX = sindy.SmoothedFiniteDifference(window=15, order=3)(x_noisy, t)
    thresholds = jnp.logspace(-3, 1, 13)
    sweep = sindy.lambda_sweep(x_noisy, dX, POLY2, thresholds=thresholds, names=LORENZ_NAMES, criterion="aic")
    truth = true_coefficients("lorenz")
    best = np.asarray(sweep.best.coefficients)
    np.testing.assert_array_equal(best != 0, truth != 0)
    assert sweep.rows[sweep.best_index].n_active == 7
    assert sweep.rows[0].n_active > 7 and sweep.rows[-1].n_active < 7      # the sweep spans both sides
    # the table's numbers, recomputed from the chosen coefficients
    theta = np.asarray(POLY2(x_noisy))
    resid = np.asarray(dX) - theta @ best.T
    rss, m, k = np.sum(resid ** 2), resid.size, 7
    row = sweep.rows[sweep.best_index]
    np.testing.assert_allclose(row.aic, m * np.log(rss / m) + 2 * k, rtol=1e-10)
    np.testing.assert_allclose(row.bic, m * np.log(rss / m) + k * np.log(m), rtol=1e-10)
    np.testing.assert_allclose(row.error, np.sqrt(rss / np.sum(np.asarray(dX) ** 2)), rtol=1e-8)
    assert "y':x*z" in row.dominant and "<- best (AIC)" in str(sweep)
    # the chosen model equals a direct fit at the chosen threshold
    direct = sindy.SINDy(POLY2, sindy.STLSQ(threshold=row.threshold), names=LORENZ_NAMES).fit(x_noisy, x_dot=dX)
    np.testing.assert_allclose(best, np.asarray(direct.coefficients), rtol=1e-12, atol=1e-12)


def test_sweep_on_exact_derivatives_prefers_fewest_exact_terms(data):
    """Exact derivatives fit to round-off at every small λ; the RSS floor makes AIC and BIC rank those fits
    by their number of terms, so both choose the true model."""
    t, X, dX = data["lv"]
    for criterion in ("aic", "bic", "aicc"):
        sweep = sindy.lambda_sweep(X, dX, POLY2, thresholds=jnp.array([0.0, 1e-3, 0.5, 2.0]), names=LV_NAMES,
                                   criterion=criterion)
        np.testing.assert_array_equal(np.asarray(sweep.best.coefficients) != 0, true_coefficients("lv") != 0)


def test_print_and_equations(data):
    t, X, dX = data["lv"]
    model = sindy.SINDy(POLY2, optimizer=sindy.STLSQ(threshold=0.1), names=LV_NAMES).fit(X, x_dot=dX)
    assert model.equations(precision=3) == ["x' = 1.300 x - 0.900 x*y", "y' = -1.800 y + 0.800 x*y"]
    assert str(model) == "x' = 1.300 x - 0.900 x*y\ny' = -1.800 y + 0.800 x*y"
    assert model.equations(precision=1)[1] == "y' = -1.8 y + 0.8 x*y"
    x, y = sympy.symbols("x y")
    exprs = model.to_sympy()
    for expr, expected in zip(exprs, ({(1, 0): 1.3, (1, 1): -0.9}, {(0, 1): -1.8, (1, 1): 0.8})):
        terms = sympy.Poly(expr, x, y).as_dict()
        assert terms.keys() == expected.keys()
        np.testing.assert_allclose([float(terms[k]) for k in expected], list(expected.values()), rtol=1e-9)


def rich_library():
    return (sindy.PolynomialLibrary(degree=2, include_bias=True) + sindy.FourierLibrary(n_frequencies=2)
            + sindy.CustomLibrary([jnp.exp], ["exp({})"])
            + sindy.PolynomialLibrary(1, include_bias=False) * sindy.FourierLibrary(1, include_cos=False))


def test_library_names_and_columns():
    lib = rich_library()
    names = lib.names(LV_NAMES)
    assert names == ("1", "x", "y", "x^2", "x*y", "y^2",
                     "sin(x)", "cos(x)", "sin(y)", "cos(y)", "sin(2*x)", "cos(2*x)", "sin(2*y)", "cos(2*y)",
                     "exp(x)", "exp(y)",
                     "x*sin(x)", "x*sin(y)", "y*sin(x)", "y*sin(y)")
    X = jnp.array([[0.3, -1.2], [2.0, 0.5], [-0.7, 1.1]])
    theta = np.asarray(lib(X, names=LV_NAMES))
    x, y = np.asarray(X).T
    expected = {"1": np.ones(3), "x^2": x ** 2, "x*y": x * y, "cos(2*y)": np.cos(2 * y), "exp(y)": np.exp(y),
                "y*sin(x)": y * np.sin(x), "sin(2*x)": np.sin(2 * x)}
    for name, column in expected.items():
        np.testing.assert_allclose(theta[:, names.index(name)], column, rtol=1e-14)
    assert theta.shape == (3, lib.n_terms(2))
    # a product keeps a factor's constant out of the name; several-argument custom functions
    prod = sindy.PolynomialLibrary(1) * sindy.FourierLibrary(1, include_sin=False)
    assert prod.names(("a",)) == ("cos(a)", "a*cos(a)")
    pair = sindy.CustomLibrary([lambda a, b: a / b], ["{}/{}"])
    assert pair.names(("a", "b", "c")) == ("a/b", "a/c", "b/c")
    assert sindy.PolynomialLibrary(3, include_interaction=False).names(("a", "b")) == \
        ("1", "a", "b", "a^2", "b^2", "a^3", "b^3")


def test_sympy_output_equals_jax_function():
    lib = rich_library()
    rng = np.random.default_rng(1)
    xi = rng.standard_normal((2, lib.n_terms(2))) * (rng.random((2, lib.n_terms(2))) < 0.6)
    model = sindy.SINDy(lib, names=LV_NAMES, coefficients=jnp.asarray(xi))
    symbols = sympy.symbols("x y")
    g = sympy.lambdify(symbols, model.to_sympy(), modules="numpy")
    f = jax.jit(model.to_function())
    for u in rng.uniform(-2, 2, (5, 2)):
        np.testing.assert_allclose(np.asarray(f(jnp.asarray(u), None, 0.0)), np.array(g(*u), dtype=float),
                                   rtol=1e-12, atol=1e-12)
    U = jnp.asarray(rng.uniform(-1, 1, (4, 2)))
    np.testing.assert_allclose(np.asarray(model.predict(U)), np.asarray(jax.vmap(lambda u: f(u, None, 0.0))(U)),
                               rtol=1e-13, atol=1e-13)


def test_to_function_and_simulate_reproduce_the_system(data):
    t, X, dX = data["lv"]
    model = sindy.SINDy(POLY2, optimizer=sindy.STLSQ(threshold=0.1), names=LV_NAMES).fit(X, x_dot=dX)
    f = model.to_function()
    np.testing.assert_allclose(np.asarray(jax.vmap(lambda u: f(u, None, 0.0))(X)), np.asarray(dX),
                               rtol=1e-10, atol=1e-10)
    u = model.simulate(X[0], t[:101])
    assert u.shape == (101, 2)
    np.testing.assert_allclose(np.asarray(u), np.asarray(X[:101]), rtol=1e-6, atol=1e-7)
    # p replaces the coefficients (e.g. for refinement by gradient)
    np.testing.assert_allclose(np.asarray(f(X[3], 2 * model.coefficients, 0.0)), 2 * np.asarray(dX[3]), rtol=1e-9)


# --- refit through the solve -------------------------------------------------------------------------------

LV_U0 = jnp.array([0.44249296, 4.6280594])
lv_known = lambda u, p, t: jnp.array([1.3 * u[0], -1.8 * u[1]])     # the demo's known growth and decay


@pytest.fixture(scope="module")
def lv_record():
    """Lotka–Volterra on [0, 3], 31 samples from Vern9 at 1e-12 (another method than the refit's Tsit5)."""
    ts = jnp.linspace(0.0, 3.0, 31)
    X = ps.solve(ps.ODEProblem(lotka_volterra, LV_U0, (0.0, 3.0)), ps.Vern9(), rtol=1e-12, atol=1e-12, saveat=ts).u
    return ts, X


def start_model(xy=(-0.8, 0.9), spurious=0.05):
    """The interaction terms 10% off, and a spurious x² term in x' that the refit must drive to zero."""
    xi = np.zeros((2, 6))
    xi[0, 4], xi[1, 4], xi[0, 3] = xy[0], xy[1], spurious
    return sindy.SINDy(POLY2, names=LV_NAMES, coefficients=jnp.asarray(xi))


def test_refit_recovers_the_coefficients_and_initial_state_through_the_solve(lv_record):
    ts, X = lv_record
    noisy_start = LV_U0 + jnp.array([0.02, -0.1])
    out = sindy.refit(start_model(), ts, X, known=lv_known, u0=noisy_start, fit_u0=True, rtol=1e-10, atol=1e-10)
    assert out.converged and out.iterations <= 20 and out.loss < 1e-16 < out.initial_loss
    xi = np.asarray(out.model.coefficients)
    np.testing.assert_allclose(xi[:, 4], [-0.9, 0.8], rtol=1e-7)
    assert abs(xi[0, 3]) < 1e-7                                   # spurious term: refitted to zero
    inactive = np.ones((2, 6), bool)
    inactive[0, 3] = inactive[0, 4] = inactive[1, 4] = False
    assert np.all(xi[inactive] == 0)                               # the sparsity pattern is kept exactly
    np.testing.assert_allclose(out.u0, LV_U0, rtol=1e-7)
    # criteria of the trajectory fit: m = 62 residuals, k = 3 active terms + 2 initial states
    assert out.bic - out.aic == pytest.approx(5 * (np.log(62) - 2))
    # extended BIC: the search over the 12 coefficients is charged for the 3 active ones (u0 is not searched)
    assert out.ebic - out.bic == pytest.approx(2 * np.log(math.comb(12, 3)), rel=1e-12)


def test_refit_of_noisy_data_is_the_least_squares_estimate(lv_record):
    """Against scipy: the same residual (trajectory by DOP853 at 1e-11 minus data), its own optimizer."""
    from scipy.integrate import solve_ivp
    from scipy.optimize import least_squares

    ts, X = lv_record
    noisy_X = X + 0.05 * jnp.mean(X, axis=0) * np.random.default_rng(0).standard_normal(X.shape)
    out = sindy.refit(start_model(spurious=0.0), ts, noisy_X, known=lv_known, u0=noisy_X[0], rtol=1e-10,
                      atol=1e-10)
    t_np, X_np = np.asarray(ts), np.asarray(noisy_X)

    def residual(c):
        f = lambda t, u: [1.3 * u[0] + c[0] * u[0] * u[1], -1.8 * u[1] + c[1] * u[0] * u[1]]
        return (solve_ivp(f, (0.0, 3.0), X_np[0], t_eval=t_np, rtol=1e-11, atol=1e-11, method="DOP853").y.T
                - X_np).ravel()
    reference = least_squares(residual, [-0.8, 0.9], xtol=1e-12, ftol=1e-12, gtol=1e-12)
    np.testing.assert_allclose(np.asarray(out.model.coefficients)[:, 4], reference.x, rtol=1e-6)
    assert out.loss == pytest.approx(np.mean(reference.fun ** 2), rel=1e-8)


def test_forward_selection_on_the_trajectory_finds_the_missing_terms(lv_record):
    """From all six candidate terms in each equation (coefficients only mark the pool), noisy data: the path adds
    the two interaction terms first, and BIC stops there."""
    ts, X = lv_record
    noisy_X = X + 0.01 * jnp.mean(X, axis=0) * np.random.default_rng(1).standard_normal(X.shape)
    pool = sindy.SINDy(POLY2, names=LV_NAMES, coefficients=jnp.ones((2, 6)))
    path = sindy.forward(pool, ts, noisy_X, known=lv_known, fit_u0=True, max_steps=2000)
    best = min(path, key=lambda r: r.bic)
    assert len(path) == 3 and best is path[1]           # a third term does not pay for itself
    xi = np.asarray(best.model.coefficients)
    assert set(zip(*np.nonzero(xi))) == {(0, 4), (1, 4)}
    np.testing.assert_allclose(xi[:, 4], [-0.9, 0.8], rtol=0.03)
    # the extended BIC takes the same path and stops there too
    epath = sindy.forward(pool, ts, noisy_X, known=lv_known, fit_u0=True, max_steps=2000, criterion="ebic")
    assert len(epath) == 3 and min(epath, key=lambda r: r.ebic) is epath[1]
    np.testing.assert_array_equal(epath[1].model.coefficients, best.model.coefficients)


def test_extended_bic_charges_the_search_by_the_binomial_count():
    """Chen & Chen (2008), eq. (2): EBIC_γ = BIC + 2γ log C(p, k); against math.comb."""
    for p, k in ((12, 0), (12, 2), (12, 3), (12, 12), (40, 7)):
        assert sindy.extended_bic(-100.0, k, p) == pytest.approx(-100.0 + 2 * np.log(math.comb(p, k)), rel=1e-13)
    assert sindy.extended_bic(5.0, 3, 12, gamma=0.5) == pytest.approx(5.0 + np.log(math.comb(12, 3)), rel=1e-13)
    with pytest.raises(ValueError, match="k must be between 0 and p"):
        sindy.extended_bic(0.0, 13, 12)


def test_finite_differences_are_second_order_and_exact_for_quadratics():
    t = np.array([0.0, 0.1, 0.35, 0.4, 0.8, 1.0])                     # non-uniform grid
    X = np.stack([1 + 2 * t - 3 * t ** 2, t ** 2], axis=1)
    np.testing.assert_allclose(np.asarray(sindy.FiniteDifference()(X, t)),
                               np.stack([2 - 6 * t, 2 * t], axis=1), rtol=1e-12, atol=1e-12)
    errors = []
    for n in (41, 81):
        t = np.linspace(0.0, 2.0, n)
        d = np.asarray(sindy.FiniteDifference()(np.sin(t)[:, None], t[1] - t[0]))    # scalar t = spacing dt
        errors.append(np.max(np.abs(d[:, 0] - np.cos(t))))
    assert 3.5 < errors[0] / errors[1] < 4.5


def test_smoothing_equals_scipy_savgol():
    from scipy.signal import savgol_filter
    rng = np.random.default_rng(2)
    X = rng.standard_normal((60, 2))
    smoothed = sindy.SmoothedFiniteDifference(window=9, order=3).smooth(X)
    np.testing.assert_allclose(np.asarray(smoothed), savgol_filter(X, 9, 3, axis=0, mode="interp"),
                               rtol=1e-12, atol=1e-12)


NU = 0.01


def SINDY_PEER_CASES(pysindy):
    """(PySINDy optimiser, ours) pairs with the same settings: STLSQ (threshold, ridge alpha, unbiased refit) and
    SR3 (λ = threshold²/(2ν) for L0, threshold/ν for L1; run to convergence)."""
    ours = [sindy.STLSQ(threshold=0.1, alpha=0.0), sindy.STLSQ(threshold=0.5, alpha=0.05),
            sindy.SR3(threshold=0.1, nu=NU, regularizer="l0", unbias=False),
            sindy.SR3(threshold=0.1, nu=NU, regularizer="l1", unbias=False)]
    if pysindy is None:
        return [(None, o) for o in ours]
    theirs = [pysindy.STLSQ(threshold=0.1, alpha=0.0), pysindy.STLSQ(threshold=0.5, alpha=0.05),
              pysindy.SR3(reg_weight_lam=0.1 ** 2 / (2 * NU), regularizer="L0", relax_coeff_nu=NU, tol=1e-14,
                          max_iter=10_000),
              pysindy.SR3(reg_weight_lam=0.1 / NU, regularizer="L1", relax_coeff_nu=NU, tol=1e-14, max_iter=10_000)]
    return list(zip(theirs, ours))


def peer_inputs(data=None):
    """The noisy Lorenz samples and their finite-difference derivatives both libraries are fitted to."""
    t, X, _ = (data or {"lorenz": _trajectory("lorenz")})["lorenz"]
    x_noisy = noisy(X, 0.02, seed=5)
    return t, x_noisy, np.asarray(sindy.FiniteDifference()(x_noisy, t))


def assert_same_coefficients(xi, theirs):
    np.testing.assert_array_equal(xi != 0, theirs != 0)
    np.testing.assert_allclose(xi, theirs, rtol=1e-7, atol=1e-9)


def test_stlsq_and_sr3_match_stored_pysindy_coefficients():
    """PySINDy's coefficients on stored inputs (tests/data/make_peer_references.py): runs without PySINDy."""
    ref = np.load(os.path.join(os.path.dirname(__file__), "data", "sindy_pysindy.npz"))
    for (_, ours), theirs in zip(SINDY_PEER_CASES(None), ref["coefficients"], strict=True):
        xi = np.asarray(sindy.SINDy(POLY2, ours).fit(ref["x_noisy"], x_dot=ref["x_dot"]).coefficients)
        assert_same_coefficients(xi, theirs)


def test_stlsq_and_sr3_match_pysindy(data):
    """The same comparison run live against an installed PySINDy (bench extra)."""
    pysindy = pytest.importorskip("pysindy")
    t, x_noisy, dX = peer_inputs(data)
    for theirs, ours in SINDY_PEER_CASES(pysindy):
        peer = pysindy.SINDy(feature_library=pysindy.PolynomialLibrary(degree=2, include_bias=True), optimizer=theirs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peer.fit(np.asarray(x_noisy), t=np.asarray(t), x_dot=dX)
        xi = np.asarray(sindy.SINDy(POLY2, ours).fit(x_noisy, x_dot=dX).coefficients)
        assert_same_coefficients(xi, peer.coefficients())


def test_bad_input_errors(data):
    t, X, dX = data["lv"]
    model = sindy.SINDy(POLY2, names=LV_NAMES)
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        model.fit(X[:, 0], x_dot=dX[:, 0])
    with pytest.raises(ValueError, match="x_dot must have the shape of X"):
        model.fit(X, x_dot=dX[:-1])
    with pytest.raises(ValueError, match="threshold must be a non-negative"):
        sindy.STLSQ(threshold=-0.1)
    with pytest.raises(ValueError, match="threshold must be a non-negative"):
        sindy.SR3(threshold=-1.0)
    with pytest.raises(ValueError, match="regularizer must be 'l0' or 'l1'"):
        sindy.SR3(regularizer="l2")
    with pytest.raises(ValueError, match="t must be strictly increasing"):
        model.fit(X, t=t[::-1])
    with pytest.raises(ValueError, match=r"t must have shape \(401,\)"):
        model.fit(X, t=t[:-1])
    with pytest.raises(ValueError, match="uniformly spaced"):
        sindy.SmoothedFiniteDifference()(X, t ** 2)
    with pytest.raises(ValueError, match="window must be an odd integer"):
        sindy.SmoothedFiniteDifference(window=10)
    with pytest.raises(ValueError, match="names must be 2 distinct"):
        sindy.SINDy(POLY2, names=("x", "y", "z")).fit(X, x_dot=dX)
    with pytest.raises(ValueError, match="not fitted yet"):
        model.equations()
    with pytest.raises(ValueError, match="appear more than once"):
        sindy.SINDy(POLY2 * sindy.FourierLibrary(1) + sindy.FourierLibrary(1), names=LV_NAMES).fit(X, x_dot=dX)
    with pytest.raises(ValueError, match="criterion must be one of"):
        sindy.lambda_sweep(X, dX, POLY2, criterion="r2")
    with pytest.raises(ValueError, match="thresholds must be non-negative"):
        sindy.lambda_sweep(X, dX, POLY2, thresholds=[-1.0, 0.1])
    with pytest.raises(ValueError, match="contains NaN"):
        model.fit(X.at[3, 0].set(jnp.nan), x_dot=dX)
    with pytest.raises(ValueError, match=r"f\(u, p, t\) must return an array shaped like u"):
        sindy.derivatives_from(lambda u, p, t: u[:1], X, t)
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        POLY2(X[:, 0])
    with pytest.raises(ValueError, match="names: expected 2 variable names"):
        POLY2(X, names=("x",))
    with pytest.raises(TypeError, match="optimizer must be STLSQ"):
        sindy.SINDy(POLY2, optimizer="stlsq")
    assert dataclasses.replace(sindy.STLSQ(), threshold=0.2).threshold == 0.2
    fitted = start_model()
    with pytest.raises(ValueError, match="one column per state"):
        sindy.refit(fitted, t, jnp.ones((401, 3)))
    with pytest.raises(ValueError, match="t must be strictly increasing"):
        sindy.refit(fitted, t[::-1], X)
    with pytest.raises(ValueError, match=r"u0 must have shape \(2,\)"):
        sindy.refit(fitted, t, X, u0=jnp.ones(3))
    with pytest.raises(TypeError, match="LevenbergMarquardt"):
        sindy.refit(fitted, t, X, optimizer=sindy.STLSQ())
    with pytest.raises(ValueError, match="no active term"):
        sindy.refit(dataclasses.replace(fitted, coefficients=jnp.zeros((2, 6))), t, X)
    with pytest.raises(ValueError, match="not fitted yet"):
        sindy.refit(sindy.SINDy(POLY2), t, X)
    with pytest.raises(ValueError, match="criterion must be one of"):
        sindy.forward(fitted, t, X, criterion="r2")
