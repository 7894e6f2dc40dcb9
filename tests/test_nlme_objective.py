"""nlme objective functions against NONMEM's published value, independent numpy computations written here,
and brute-force quadrature over η; the implicit EBE derivative against finite differences."""
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.optimize

from pysciml import nlme

from pysciml.nlme import reference

# NONMEM's THEOPP model at its initial estimates (reference.nonmem_theopp)
THETA0 = {"ka": 3.0, "k": 0.08, "cl": 0.04}
OMEGA0 = np.array([[6.0, 0.005, 0.3], [0.005, 0.0002, 0.006], [0.3, 0.006, 0.4]])
SIGMA0 = 0.4
THEOPP_MODEL = reference.nonmem_theopp()


@pytest.fixture(scope="module")
def theopp():
    return reference.theophylline(dose_scale=None)


def numpy_fo(pop, theta, Omega, sigma2):
    """FO objective by hand: Bateman predictions, G by central differences in η, V = GΩGᵀ + σ²I."""
    s = pop.subjects
    total = 0.0
    for i in range(len(pop)):
        n = int(pop.n_obs[i])
        t, y = np.asarray(s.obs_time[i, :n]), np.asarray(s.dv[i, :n])
        dose, wt = float(s.dose_amt[i, 0]), float(s.covariates["WT"][i])

        def f(eta):
            ka, k = theta["ka"] + eta[0], theta["k"] + eta[1]
            cl = theta["cl"] * wt + eta[2]
            sc = cl / k / wt
            return dose * ka / (ka - k) * (np.exp(-k * t) - np.exp(-ka * t)) / sc
        h = 1e-6
        G = np.stack([(f(h * e) - f(-h * e)) / (2 * h) for e in np.eye(3)], axis=1)
        V = G @ Omega @ G.T + sigma2 * np.eye(n)
        r = y - f(np.zeros(3))
        total += np.linalg.slogdet(V)[1] + r @ np.linalg.solve(V, r)
    return total


def test_fo_matches_nonmem_and_numpy(theopp):
    ofv = nlme.Objective(THEOPP_MODEL, theopp, nlme.FO())()
    # NONMEM 7.3, THEOPP control stream at its initial estimates (FO evaluation): "#OBJV: 110.244"
    assert abs(ofv - reference.NONMEM_THEOPP_FO_AT_INITIAL) < 5e-4
    np.testing.assert_allclose(ofv, numpy_fo(theopp, THETA0, OMEGA0, SIGMA0), rtol=1e-8)
    # a perturbed fixed effect moves the objective far beyond these tolerances
    assert abs(nlme.Objective(THEOPP_MODEL, theopp, nlme.FO())({"k": 0.0808}) - ofv) > 0.05


# --- one η: a nonlinear IV bolus model and a model linear in η -------------------------------------------------
TIMES = [0.5, 1.0, 2.0, 4.0, 8.0, 12.0]
DV = [[9.1, 8.0, 6.9, 4.4, 2.1, 0.9], [7.2, 6.9, 5.8, 4.9, 3.2, 2.4], [9.8, 8.1, 5.5, 2.8, 0.8, 0.22]]


def one_eta_population():
    cols = {k: [] for k in ("ID", "TIME", "AMT", "DV", "EVID", "CMT")}
    for i, dv in enumerate(DV):
        for t, d, amt, e in [(0.0, ".", 100.0, 1)] + [(t, y, ".", 0) for t, y in zip(TIMES, dv)]:
            for k, v in zip(cols, (i + 1, t, amt, d, e, 1)):
                cols[k].append(str(v))
    return nlme.Population.from_dataframe(cols)


POP1 = one_eta_population()
P1 = {"tcl": 1.2, "v": 10.0, "omega": [[0.3]], "add": 0.3, "prop": 0.1}

NONLINEAR = nlme.Model(
    fixed={"tcl": nlme.Positive(1.2), "v": nlme.Positive(10.0), "omega": nlme.DiagonalCov([0.3]),
           "add": nlme.Positive(0.3), "prop": nlme.Positive(0.1)},
    omega="omega", pre=lambda th, eta, cov: {"cl": th["tcl"] * jnp.exp(eta[0]), "v": th["v"]},
    dynamics=nlme.OneCompartment(oral=False), error=nlme.Combined("add", "prop"))


def np_pred(eta):
    t = np.asarray(TIMES)
    return 100.0 / P1["v"] * np.exp(-P1["tcl"] * np.exp(eta) / P1["v"] * t)


def np_var(f):
    return P1["add"] ** 2 + (P1["prop"] * f) ** 2


def np_l(eta, y, interaction):
    f = np_pred(eta)
    R = np_var(f) if interaction else np_var(np_pred(0.0))
    return np.sum((y - f) ** 2 / R + np.log(R)) + eta ** 2 / P1["omega"][0][0]


def np_conditional(y, method):
    """The conditional objective of one subject by hand: η̂ by a bounded scalar search, derivatives by
    central differences, then l(η̂) + log ω² + log H."""
    inter = method in ("FOCEI", "LaplaceI")
    eta = scipy.optimize.minimize_scalar(lambda e: np_l(e, y, inter), bounds=(-3, 3), method="bounded",
                                         options={"xatol": 1e-12}).x
    h = 1e-5
    if method.startswith("Laplace"):
        d2 = lambda s: (np_l(eta + s, y, inter) - 2 * np_l(eta, y, inter) + np_l(eta - s, y, inter)) / s ** 2
        H = 0.5 * (4 * d2(1e-4) - d2(2e-4)) / 3      # Richardson: truncation O(s⁴), round-off ~1e-8·|l|
    else:
        G = (np_pred(eta + h) - np_pred(eta - h)) / (2 * h)
        R = np_var(np_pred(eta)) if inter else np_var(np_pred(0.0))
        H = 1 / P1["omega"][0][0] + np.sum(G * G / R)
        if inter:
            dR = (np_var(np_pred(eta + h)) - np_var(np_pred(eta - h))) / (2 * h)
            H += 0.5 * np.sum(dR * dR / R ** 2)
    return np_l(eta, y, inter) + np.log(P1["omega"][0][0]) + np.log(H)


def exact_marginal(y):
    """−2 log ∫ p(y|η) p(η) dη (without n·log 2π) by adaptive quadrature."""
    w = P1["omega"][0][0]

    def integrand(eta):
        f = np_pred(eta)
        R = np_var(f)
        return np.exp(-0.5 * np.sum((y - f) ** 2 / R + np.log(R)) - 0.5 * eta ** 2 / w) / np.sqrt(2 * np.pi * w)
    value, _ = scipy.integrate.quad(integrand, -8 * np.sqrt(w), 8 * np.sqrt(w), epsabs=0, epsrel=1e-12, limit=200)
    return -2 * np.log(value)


OBJECTIVES = {}


def objective(name):
    if name not in OBJECTIVES:
        OBJECTIVES[name] = nlme.Objective(NONLINEAR, POP1, getattr(nlme, name)())
    return OBJECTIVES[name]


@pytest.mark.parametrize("name", ["FOCE", "FOCEI", "Laplace", "LaplaceI"])
def test_conditional_objectives_match_hand_computation(name):
    ofv = objective(name)(P1)
    ref = sum(np_conditional(np.asarray(y), name) for y in DV)
    np.testing.assert_allclose(ofv, ref, rtol=1e-8)


def test_laplace_close_to_quadrature_and_foce_gradient_is_exact():
    ofv = objective("LaplaceI")(P1)
    exact = sum(exact_marginal(np.asarray(y)) for y in DV)
    # Laplace's error is O(1/n) per subject; with 6 observations it is a few hundredths here
    assert abs(ofv - exact) < 0.05
    # the implicit derivative of η̂ in the gradient against central differences of the objective
    obj = objective("FOCEI")
    u = np.asarray(obj.free(P1))
    g = obj.evaluate(u, obj.zero_etas)[1]
    h = 1e-5
    fd = [(obj.evaluate(u + h * e, obj.zero_etas)[0] - obj.evaluate(u - h * e, obj.zero_etas)[0]) / (2 * h)
          for e in np.eye(u.size)]
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7)


LINEAR = nlme.Model(
    fixed={"k": nlme.Positive(0.2), "b": nlme.Real(1.0), "omega": nlme.DiagonalCov([0.5]), "sd": nlme.Positive(0.4)},
    omega="omega", pre=lambda th, eta, cov: {"k": th["k"], "v": 10.0, "shift": th["b"] + eta[0]},
    dynamics=nlme.OneCompartment(oral=False), error=nlme.Additive("sd"),
    observe=lambda ind, A, cov: A[0] / ind["v"] + ind["shift"])


@pytest.mark.parametrize("name", ["FO", "LaplaceI"])
def test_linear_gaussian_model_is_exact(name):
    # y = A(t)/V + b + η + ε is linear-Gaussian in η: every approximation is the exact marginal likelihood,
    # which quadrature over η computes independently
    ofv = nlme.Objective(LINEAR, POP1, getattr(nlme, name)())({})
    t = np.asarray(TIMES)
    total = 0.0
    for y in DV:
        y = np.asarray(y)
        mean = 100.0 / 10.0 * np.exp(-0.2 * t) + 1.0
        dens = lambda e: np.exp(-0.5 * np.sum((y - mean - e) ** 2) / 0.16 - 0.5 * e ** 2 / 0.5) / np.sqrt(
            2 * np.pi * 0.5) / 0.16 ** (len(y) / 2)
        total += -2 * np.log(scipy.integrate.quad(dens, -6, 6, epsabs=0, epsrel=1e-13, limit=200)[0])
    np.testing.assert_allclose(ofv, total, rtol=1e-9)


@pytest.mark.slow
def test_fo_fit_reaches_nonmem_minimum(theopp):
    # NONMEM's installation test: THEOPP by FO from the control stream's initial estimates ends at 104.561
    fit = nlme.fit(THEOPP_MODEL, theopp, nlme.FO())
    assert fit.converged
    assert abs(fit.ofv - reference.NONMEM_THEOPP_FO_MINIMUM) < 5e-4
