"""The strong-order-1.5 methods (SRIW1, SOSRI for diagonal/scalar noise; SRA1, SOSRA for additive noise) and the
weak-order-2 DRI1: tableau order conditions (a perturbed coefficient fails), strong order by regression slope
against exact solutions on the same paths (diagonal GBM runs in test_sde_strong_order through the registry)
and, for the additive-noise methods (SRA1, SOSRA, SKenCarp), on a nonlinear drift against an independent NumPy
reference on the same paths, adaptive runs against LambaEM, DRI1's weak order from the exact expectation of
the scheme (all three-point outcomes enumerated: no Monte Carlo error) and Monte Carlo checks with confidence
intervals, and the errors for noise types a method does not handle."""
import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import pysciml as ps
from pysciml.solvers.sde.dri1 import DRI1_TABLEAU, weak_order2_conditions
from pysciml.solvers.sde.sosra import SOSRA_TABLEAU
from pysciml.solvers.sde.sosri import SOSRI_TABLEAU
from pysciml.solvers.sde.sra import SRATableau, sra_order_conditions
from pysciml.solvers.sde.sra1 import SRA1_TABLEAU
from pysciml.solvers.sde.sri import sri_order_conditions
from pysciml.solvers.sde.sriw1 import SRIW1_TABLEAU
from pysciml.testing import additive_linear, convergence_order, gbm, strong_errors
from pysciml.testing.sde import weak_error

# ---------------------------------------------------------------------------------------------------------
# Tableaus: every order condition holds, and perturbing any nonzero coefficient by 1e-6 breaks one


def _perturbations(tab):
    fields = tab.items() if isinstance(tab, dict) else ((f.name, getattr(tab, f.name)) for f in dataclasses.fields(tab))
    for name, arr in fields:
        for idx in zip(*np.nonzero(arr)):
            bumped = np.array(arr, dtype=float)
            bumped[idx] += 1e-6
            yield (name, idx), ({**tab, name: bumped} if isinstance(tab, dict)
                                else dataclasses.replace(tab, **{name: bumped}))


TABLEAUS = {"SRIW1": (SRIW1_TABLEAU, sri_order_conditions), "SOSRI": (SOSRI_TABLEAU, sri_order_conditions),
            "SRA1": (SRA1_TABLEAU, sra_order_conditions), "SOSRA": (SOSRA_TABLEAU, sra_order_conditions),
            "DRI1": (DRI1_TABLEAU, weak_order2_conditions)}


@pytest.mark.parametrize("name", list(TABLEAUS))
def test_tableau_order_conditions(name):
    tab, conditions = TABLEAUS[name]
    assert np.max(np.abs(conditions(tab))) < 1e-13
    undetected = [where for where, bumped in _perturbations(tab) if np.max(np.abs(conditions(bumped))) < 1e-8]
    assert not undetected, undetected


# ---------------------------------------------------------------------------------------------------------
# Strong order (diagonal-noise GBM: tests/sde/test_sde_strong_order.py, through helpers.SDE)

DTS = [2.0 ** -k for k in range(4, 8)]


@pytest.mark.slow
@pytest.mark.parametrize("alg", [ps.SRIW1(), ps.SOSRI()], ids=repr)
def test_strong_order_scalar_noise(alg):
    errors = strong_errors(gbm(mu=1.0, sigma=0.5, noise_type="scalar"), alg, DTS, n_paths=100)
    order = convergence_order(DTS, errors)
    assert abs(order - 1.5) <= 0.2, (errors, order)


# A nonlinear drift on additive noise. On a linear drift (additive_linear, the adaptive tests below) the
# terms that make SRA methods 1.5 and not 2 vanish (f'' = 0: the condition α·(B⁰e)² = 3/2 is never read),
# and slopes of 2.0 come out. du = f(u) dt + σ(t) dW with a coupled nonlinear f and time-dependent σ (so the
# β conditions on c¹ are read too). The reference is independent of the solvers: each path is drawn in
# NumPy on a grid 8 times finer than the finest step and given to the solver as a NoiseGrid; the solver
# reads W and its running integral I = ∫W at grid points only, and those are also the data of a path that
# is a parabola on each grid cell (the linear interpolant of W plus 6K s(h − s)/h³, K the cell's area
# beyond the trapezoid, as the solve's key draws it). On that path the SDE is the smooth ODE
# u' = f(u) + σ(t) W'(t) in each cell, which a hand-written NumPy RK4 solves with 8 steps per cell (W' is
# O(h^-½), so one step per cell is not enough: 9e-4; with 8, order 4 by halving, 2e-7 at most, against
# 8e-4 for the finest step).
NL_SIGMA0 = 1.5
NL_SIGMA0_SMALL = 0.25     # SKenCarp's (below)
NL_U0 = np.array([1.0, -0.5])
NL_DTS = [2.0 ** -k for k in range(3, 8)]
NL_CELLS = 2 ** 10
NL_PATHS = 50


def _nl_drift(u, xp):
    return xp.stack([-xp.sin(2 * u[..., 0]) + 0.5 * u[..., 1], -xp.sin(2 * u[..., 1]) + 0.5 * u[..., 0]], axis=-1)


def _nl_sigma(t, sigma0):
    return sigma0 * (1 + t / 2)


NONLINEAR_ADDITIVE = ps.SDEProblem(lambda u, p, t: _nl_drift(u, jnp), lambda u, p, t: _nl_sigma(t, p) * jnp.ones_like(u),
                                   jnp.asarray(NL_U0), (0.0, 1.0), p=NL_SIGMA0, noise_type="additive")


def _rk4_on_parabola_path(W, K, h, sigma0, substeps=1):
    """u(1) of u' = f(u) + σ(t) P'(t) for the paths W (P, cells + 1, m) with cell areas K (P, cells, m):
    on cell [t_i, t_i + h], P(t_i + s) = W_i + s ΔW_i/h + 6K_i s(h − s)/h³, so P' = ΔW_i/h + 6K_i(h − 2s)/h³."""
    u = np.broadcast_to(NL_U0, W[:, 0].shape).copy()
    k = h / substeps
    for i in range(W.shape[1] - 1):
        dW, Ki = W[:, i + 1] - W[:, i], K[:, i]
        rate = lambda s: _nl_sigma(i * h + s, sigma0) * (dW / h + 6 * Ki * (h - 2 * s) / h ** 3)
        for j in range(substeps):
            s = j * k
            k1 = _nl_drift(u, np) + rate(s)
            k2 = _nl_drift(u + k / 2 * k1, np) + rate(s + k / 2)
            k3 = _nl_drift(u + k / 2 * k2, np) + rate(s + k / 2)
            k4 = _nl_drift(u + k * k3, np) + rate(s + k)
            u = u + k / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return u


@pytest.fixture(scope="module")
def nonlinear_paths():
    """(grid times, paths W, keys, {σ0: u(1) on each path})."""
    rng = np.random.default_rng(11)
    h = 1.0 / NL_CELLS
    t = np.linspace(0.0, 1.0, NL_CELLS + 1)
    W = np.concatenate([np.zeros((NL_PATHS, 1, 2)),
                        np.cumsum(np.sqrt(h) * rng.standard_normal((NL_PATHS, NL_CELLS, 2)), axis=1)], axis=1)
    keys = jax.random.split(jax.random.PRNGKey(5), NL_PATHS)
    # the running integral I the solve will read (the NoiseGrid draws the cells' areas from the key)
    I = jax.vmap(lambda w, k: ps.NoiseGrid(jnp.asarray(t), w).prepare(k, 0.0, 1.0, 2, jnp.float64)[1][2])(
        jnp.asarray(W), keys)
    K = np.diff(np.asarray(I), axis=1) - h * (W[:, :-1] + W[:, 1:]) / 2
    exact = {s0: _rk4_on_parabola_path(W, K, h, s0, substeps=8) for s0 in (NL_SIGMA0, NL_SIGMA0_SMALL)}
    return jnp.asarray(t), jnp.asarray(W), keys, exact


def _nonlinear_errors(alg, paths, sigma0=NL_SIGMA0):
    t, W, keys, exact = paths
    exact = exact[sigma0]

    def one(w, key, dt):
        prob = NONLINEAR_ADDITIVE.remake(p=sigma0, noise=ps.NoiseGrid(t, w, depth=1))    # steps read grid points only
        return ps.solve(prob, alg, dt=dt, key=key, adaptive=False, save_everystep=False).u[-1]

    run = jax.jit(jax.vmap(one, in_axes=(0, 0, None)))
    return np.array([np.mean(np.max(np.abs(np.asarray(run(W, keys, dt)) - exact), axis=1)) for dt in NL_DTS])


@pytest.mark.parametrize("alg", [ps.SRA1(), ps.SOSRA()], ids=repr)
def test_strong_order_nonlinear_additive_noise(alg, nonlinear_paths):
    errors = _nonlinear_errors(alg, nonlinear_paths)
    order = convergence_order(NL_DTS, errors)
    assert abs(order - 1.5) <= 0.2, (errors, order)


def test_skencarp_strong_order_nonlinear_additive_noise(nonlinear_paths):
    # SKenCarp's noise stages (Rackauckas & Nie 2018; B⁰₂₁ = −12.25, B⁰₄₃ = −14.43 as in StochasticDiffEq.jl's
    # SKenCarpTableau, where the SRA conditions α·B⁰e = 1, α·(B⁰e)² = 3/2 hold through the cancellation of
    # terms of size 7 and 90) evaluate f up to 14σ√(h/3) away from u. At σ0 = 1.5 that is outside f's Taylor
    # range for every step here (slope 0.49 over h = 2⁻³…2⁻⁷, errors 0.29 … 0.073, four times EM's); at
    # σ0 = 0.25 the method is in its asymptotic range, where the O(h²) terms that these large coefficients
    # multiply dominate the O(h^1.5) ones over these steps (local slopes 1.5, 1.8, 1.7, 2.2): the regression
    # gives 1.78, at least the nominal 1.5.
    errors = _nonlinear_errors(ps.SKenCarp(), nonlinear_paths, NL_SIGMA0_SMALL)
    order = convergence_order(NL_DTS, errors)
    assert 1.3 <= order <= 2.3, (errors, order)


# A two-stage SRA scheme with Heun's drift (α = (½, ½), A⁰₂₁ = 1) and B⁰₂₁ = 2: every condition a linear drift
# reads holds (α·B⁰e = 1, α·A⁰e = ½, the β conditions) but α·(B⁰e)² = 2, not 3/2.
_HEUN_SRA = SRATableau.of(c0=[0, 1], c1=[1, 0], A0=[[0, 0], [1, 0]], B0=[[0, 0], [2, 0]], alpha=[0.5, 0.5],
                          beta1=[1, 0], beta2=[-1, 1])


class _HeunSRA(ps.SRA1):
    tableau = _HEUN_SRA


@pytest.mark.slow
def test_nonlinear_additive_detects_the_quadratic_noise_condition(nonlinear_paths):
    defects = sra_order_conditions(_HEUN_SRA)
    assert np.flatnonzero(np.abs(defects) > 1e-12).tolist() == [5]       # only α·(B⁰e)² = 3/2 fails
    order = convergence_order(NL_DTS, _nonlinear_errors(_HeunSRA(), nonlinear_paths))
    assert order < 1.25, order


# ---------------------------------------------------------------------------------------------------------
# Adaptive stepping: a smaller error than LambaEM's with fewer steps, LambaEM at a ten times tighter tolerance

KEYS = jax.random.split(jax.random.PRNGKey(2), 50)
REFERENCES = {"gbm": gbm(mu=1.0, sigma=0.5, u0=(1.0, 0.5)), "additive": additive_linear(alpha=0.6, beta=1.0)}
_RUNNERS = {}


def _adaptive(ref_name, alg, tol):
    """Mean error, mean attempted steps and total rejections over KEYS; one compile per (problem, method)."""
    if (ref_name, alg) not in _RUNNERS:
        ref = REFERENCES[ref_name]

        def one(key, tol):
            sol = ps.solve(ref.prob, alg, key=key, rtol=tol, atol=tol, save_everystep=False, max_steps=20_000)
            err = jnp.max(jnp.abs(sol.u[-1] - ref.exact(sol.t[-1], sol.W[-1])))
            return err, sol.stats["naccept"] + sol.stats["nreject"], sol.stats["nreject"]
        _RUNNERS[ref_name, alg] = jax.jit(jax.vmap(one, in_axes=(0, None)))
    err, steps, rejected = _RUNNERS[ref_name, alg](KEYS, jnp.asarray(tol))
    return float(jnp.mean(err)), float(jnp.mean(steps)), float(jnp.sum(rejected))


@pytest.mark.parametrize("alg,ref", [(ps.SRIW1(), "gbm"), (ps.SOSRI(), "gbm"), (ps.SRA1(), "additive"),
                                     (ps.SOSRA(), "additive")], ids=["SRIW1", "SOSRI", "SRA1", "SOSRA"])
def test_adaptive_beats_lamba_em(alg, ref):
    tol = 1e-2
    err, steps, rejected = _adaptive(ref, alg, tol)
    err_l, steps_l, _ = _adaptive(ref, ps.LambaEM(), tol / 10)
    assert rejected > 0                              # the retries on the same path are exercised
    assert err < err_l and steps < steps_l, (err, steps, err_l, steps_l)
    # the error follows the tolerance: ten times tighter, at least four times smaller
    assert _adaptive(ref, alg, tol / 10)[0] < err / 4


# ---------------------------------------------------------------------------------------------------------
# DRI1: weak order 2


GRID = 8    # the finest step count: every path is given on T/8 grid points (one compile for every N)


def _dri1_expectations(final, N, T=1.0):
    """E[X_T] and E[X_T²] of DRI1 with N steps, exactly: every sequence of three-point outcomes (ΔW = ±2√h,
    read as Î = ±√(3h), or 0) given to the solver as a NoiseGrid path, weighted by its probability. The
    path is given on the 8-step grid, linear within a step (a step reads W at its end points only)."""
    h = T / N
    outcomes = np.array(list(itertools.product([-2.0, 0.0, 2.0], repeat=N))) * np.sqrt(h)
    weights = np.prod(np.where(outcomes == 0, 2 / 3, 1 / 6), axis=1)
    fine = np.repeat(outcomes / (GRID // N), GRID // N, axis=1)
    W = np.concatenate([np.zeros((len(outcomes), 1)), np.cumsum(fine, axis=1)], axis=1)
    X = np.asarray(final(jnp.asarray(W), jnp.asarray(h)))
    return weights @ X, weights @ X ** 2


def _dri1_final(prob, T=1.0):
    """X_T of DRI1 for a batch of grid paths W and a step h (traced: one compile)."""
    grid = jnp.linspace(0.0, T, GRID + 1)
    # (depth=1: steps read the path at grid points only, where it is exact at any depth)
    one = lambda w, h: ps.solve(prob.remake(noise=ps.NoiseGrid(grid, w, depth=1)), ps.DRI1(), dt=h,
                                save_everystep=False, max_steps=GRID).u[-1, 0]
    return jax.jit(jax.vmap(one, in_axes=(0, None)))


MU, SIGMA = -1.0, 0.5
SCALAR_GBM = ps.SDEProblem(lambda u, p, t: MU * u, lambda u, p, t: SIGMA * u, jnp.array([1.0]), (0.0, 1.0),
                           noise_type="scalar")


@pytest.fixture(scope="module")
def dri1_exact():
    final = _dri1_final(SCALAR_GBM)
    return {N: _dri1_expectations(final, N) for N in (2, 4, 8)}


def test_dri1_weak_order_exact_expectation(dri1_exact):
    Ns = sorted(dri1_exact)
    m1, m2 = np.exp(MU), np.exp(2 * MU + SIGMA ** 2)      # E[X_1], E[X_1²] of GBM from x0 = 1
    e1 = np.array([abs(dri1_exact[N][0] - m1) for N in Ns])
    e2 = np.array([abs(dri1_exact[N][1] - m2) for N in Ns])
    hs = [1.0 / N for N in Ns]
    # E[X²] carries the noise: slope 2.13; E[X] follows the drift's 3-stage RK: slope 3.2
    assert abs(convergence_order(hs, e2) - 2.0) <= 0.3, e2
    assert convergence_order(hs, e1) >= 1.8, e1


def test_dri1_key_driven_monte_carlo_matches_the_exact_expectation(dri1_exact):
    # The three-point variables derived from the solve's Gaussian increments have the right law: a Monte
    # Carlo mean over keys agrees with the enumerated expectation (N = 4) within its confidence interval.
    keys = jax.random.split(jax.random.PRNGKey(7), 20_000)
    X = jax.jit(jax.vmap(lambda k: ps.solve(SCALAR_GBM, ps.DRI1(), dt=0.25, key=k, save_everystep=False).u[-1, 0]))(keys)
    X = np.asarray(X)
    we = weak_error(np.stack([X, X ** 2], axis=1), np.array(dri1_exact[4]), level=0.999)
    assert np.all(np.abs(we.error) <= we.half_width), we


A = np.array([[-1.0, 0.5], [0.0, -0.5]])
B = [np.array([[0.6, 0.0], [0.0, 0.3]]), np.array([[0.0, 0.5], [0.4, 0.0]])]    # non-commuting


def _second_moments(alg, prob, dt, n=100_000):
    keys = jax.random.split(jax.random.PRNGKey(3), n)
    X = np.asarray(jax.jit(jax.vmap(lambda k: ps.solve(prob, alg, dt=dt, key=k, save_everystep=False).u[-1]))(keys))
    return np.stack([X[:, 0] ** 2, X[:, 0] * X[:, 1], X[:, 1] ** 2], axis=1)


@pytest.mark.parametrize("noise", ["general", "diagonal"])
def test_dri1_second_moments_multi_noise(noise):
    # du = A u dt + Σ_k B_k u dW_k: M = E[u uᵀ] solves M' = AM + MAᵀ + Σ_k B_k M B_kᵀ (closed form by expm).
    # At dt = 1/2 (two steps) DRI1's bias is within the 99.9% interval of 1e5 paths; EM's is far outside.
    Bs = B if noise == "general" else [np.diag([0.6, 0.0]), np.diag([0.0, 0.4])]
    x0 = np.array([1.0, 1.0])
    if noise == "general":
        g = lambda u, p, t: jnp.stack([jnp.asarray(Bs[0]) @ u, jnp.asarray(Bs[1]) @ u], axis=1)
        prob = ps.SDEProblem(lambda u, p, t: jnp.asarray(A) @ u, g, jnp.asarray(x0), (0.0, 1.0), noise_type="general",
                             noise_rate_prototype=jnp.zeros((2, 2)))
    else:   # diagonal noise: g_i = s_i u_i, B_k = s_k e_k e_kᵀ
        s = jnp.array([0.6, 0.4])
        prob = ps.SDEProblem(lambda u, p, t: jnp.asarray(A) @ u, lambda u, p, t: s * u, jnp.asarray(x0), (0.0, 1.0))
    I = np.eye(2)
    L = np.kron(I, A) + np.kron(A, I) + sum(np.kron(Bk, Bk) for Bk in Bs)
    M = (scipy.linalg.expm(L) @ np.outer(x0, x0).reshape(-1, order="F")).reshape(2, 2, order="F")
    expected = np.array([M[0, 0], M[0, 1], M[1, 1]])
    dri1 = weak_error(_second_moments(ps.DRI1(), prob, 0.5), expected, level=0.999)
    assert np.all(np.abs(dri1.error) <= dri1.half_width), dri1
    em = weak_error(_second_moments(ps.EM(), prob, 0.5), expected, level=0.999)
    assert np.max(np.abs(em.error) / em.half_width) > 5, em


# ---------------------------------------------------------------------------------------------------------
# Noise types a method does not handle: a clear error naming the methods that fit


def test_unsupported_noise_names_the_fitting_methods():
    diag = gbm().prob
    with pytest.raises(ValueError, match=r"SRA1\(\) does not handle diagonal noise") as info:
        ps.solve(diag, ps.SRA1(), dt=0.1, key=0)
    assert "SRIW1" in str(info.value) and "SOSRI" in str(info.value) and "SOSRA" not in str(info.value)
    general = ps.SDEProblem(lambda u, p, t: u, lambda u, p, t: jnp.ones((2, 3)), jnp.ones(2), (0.0, 1.0),
                            noise_type="general", noise_rate_prototype=jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"SRIW1\(\) does not handle general noise") as info:
        ps.solve(general, ps.SRIW1(), key=0)
    assert "DRI1" in str(info.value) and "LambaEM" in str(info.value) and "SOSRI" not in str(info.value)
    strat = gbm(interpretation="stratonovich").prob
    with pytest.raises(ValueError, match=r"SOSRI\(\) does not solve Stratonovich") as info:
        ps.solve(strat, ps.SOSRI(), key=0)
    assert "EulerHeun" in str(info.value)


# ---------------------------------------------------------------------------------------------------------
# A zero-length step (the loop may attempt one at the end of the span) leaves u unchanged, even when the
# increment's Lévy area over an empty interval is not a number


@pytest.mark.parametrize("alg,ref", [(ps.SRIW1(), "gbm"), (ps.SOSRI(), "gbm"), (ps.SRA1(), "additive"),
                                     (ps.SOSRA(), "additive"), (ps.DRI1(), "gbm")], ids=repr)
def test_zero_step_is_identity(alg, ref):
    from pysciml.noise import BrownianIncrement
    from pysciml.problems.sde import SDERHS
    from pysciml.solve import pipeline

    prob = REFERENCES[ref].prob
    spec = pipeline.start(prob).spec
    terms = SDERHS(prob.f, prob.g, spec, prob.noise_type, prob.interpretation, None).bind()
    u = spec.ravel(prob.u0)
    m = prob.noise_type.m(spec.size)
    inc = BrownianIncrement(jnp.zeros(m), jnp.full(m, jnp.nan))
    result = alg.step(terms, jnp.asarray(0.5), u, (jnp.asarray(0.0), inc), (prob.p, None), (),
                      lambda err, u0, u1: jnp.max(jnp.abs(err)))
    np.testing.assert_array_equal(result.u, u)
