"""Double-double residuals of W = d·M − J (pysciml.linalg.compensated) checked against exact rational
arithmetic, and what they are for: E5 of the stiff test set, whose end state needs the linear invariant
y2 − y3 − y4 = 0 to ~5e-23 while the plain LU solve's rounding, amplified by γh along J's null vector,
broke it by ~1e-20 per step (Rodas5P at rtol 1e-4: −0.47 digits with a Success code)."""
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.linalg.compensated import two_product, two_sum, w_residual
from pysciml.testing.testset import digits_bound, mixed_digits, stiff_testset

EPS = np.finfo(np.float64).eps
E5 = stiff_testset()["e5"]
REFINED = ps.DenseLU(refine=True)


def test_error_free_transformations_are_exact():
    rng = np.random.default_rng(1)
    a = rng.standard_normal(200) * 10.0 ** rng.integers(-30, 30, 200)
    b = rng.standard_normal(200) * 10.0 ** rng.integers(-30, 30, 200)
    (s, e), (p, q) = two_sum(jnp.asarray(a), jnp.asarray(b)), jax.jit(two_product)(jnp.asarray(a), jnp.asarray(b))
    for i in range(200):
        assert Fraction(float(s[i])) + Fraction(float(e[i])) == Fraction(a[i]) + Fraction(b[i])
        assert Fraction(float(p[i])) + Fraction(float(q[i])) == Fraction(a[i]) * Fraction(b[i])


def _exact_residual(rhs, x, jac, scale, mass):
    n = len(x)
    m = np.eye(n) if mass is None else mass
    return [Fraction(rhs[i]) - sum(Fraction(scale) * Fraction(m[i, j]) * Fraction(x[j]) - Fraction(jac[i, j])
                                   * Fraction(x[j]) for j in range(n)) for i in range(n)]


@pytest.mark.parametrize("with_mass", [False, True])
def test_w_residual_is_accurate_where_float64_cancels(with_mass):
    # An E5-like W (entries 1e-9 … 1e4, scale 1/(γh) ~ 1e-3) and rhs = W x + 1e-22: the residual is a
    # cancellation of terms ~1e-7, so plain float64 gets it wrong by ~1e-23 (relative ~0.1); double-double to
    # a rounding of the result itself.
    rng = np.random.default_rng(0)
    jac = rng.standard_normal((5, 5)) * np.array([1e-9, 1e4, 1e-3, 1e3, 1.0])
    x = rng.standard_normal(5) * 1e-11
    mass = np.diag([1.0, 1.0, 0.0, 1.0, 1.0]) + 0.3 * np.eye(5, k=1) if with_mass else None
    scale = 1.0 / 633.7
    m = np.eye(5) if mass is None else mass
    rhs = (scale * m - jac) @ x + 1e-22
    exact = np.array([float(v) for v in _exact_residual(rhs, x, jac, scale, mass)])
    got = np.asarray(jax.jit(w_residual)(jnp.asarray(rhs), jnp.asarray(x), jnp.asarray(jac), scale,
                                         None if mass is None else jnp.asarray(mass)))
    assert np.all(np.abs(got - exact) <= 4 * EPS * np.abs(exact)), (got, exact)
    plain = rhs - (scale * m - jac) @ x
    assert np.max(np.abs(plain - exact) / np.abs(exact)) > 1e-4      # the cancellation is real


def test_refined_lu_solves_to_the_working_precision_of_the_solution():
    # cond(W) ~ 1e13: the plain LU solution has relative errors ~1e-10; one double-double refinement ~eps.
    jac = np.array([[-1e-9, 0.0, -1.3e4, 0.0], [7.9e-10, -1.07e-2 + 1e-3, -0.118, 0.0],
                    [-9e-5, -9.2e-3, -1.3e4 - 0.118, 1.13e3], [9e-5, 0.0, 1.3e4, -1.13e3]])
    gamma_h = 633.0
    rhs = np.array([-1.1e-7, 1.3e-12, 5e-8, -5e-8])
    lu = REFINED.factor(jnp.asarray(jac), gamma_h)
    w = [[Fraction(1.0 / gamma_h) * (i == j) - Fraction(jac[i, j]) for j in range(4)] for i in range(4)]
    exact = np.array([float(v) for v in _solve_exact(w, [Fraction(r) for r in rhs])])
    refined = np.asarray(REFINED.solve_accurately(lu, jnp.asarray(jac), gamma_h, None, jnp.asarray(rhs)))
    plain = np.asarray(ps.DenseLU().solve_accurately(lu, jnp.asarray(jac), gamma_h, None, jnp.asarray(rhs)))
    assert np.max(np.abs(refined - exact) / np.abs(exact)) < 1e-14
    assert np.max(np.abs(plain - exact) / np.abs(exact)) > 1e-13


def _solve_exact(a, b):
    n = len(b)
    a = [row[:] + [b[i]] for i, row in enumerate(a)]
    for k in range(n):
        piv = next(i for i in range(k, n) if a[i][k] != 0)
        a[k], a[piv] = a[piv], a[k]
        for i in range(n):
            if i != k and a[i][k] != 0:
                factor = a[i][k] / a[k][k]
                a[i] = [u - factor * v for u, v in zip(a[i], a[k])]
    return [a[i][n] / a[i][i] for i in range(n)]


@pytest.mark.parametrize("method", [ps.Rodas5P, ps.KenCarp4])
def test_e5_invariant_kept_over_the_first_steps(method):
    # t ≤ 1e5: the ~50 steps where y2, y4 ~ 1e-10 and the steps grow to ~1e4 (drift 5e-20 before, Rodas5P).
    sol = ps.solve(E5.problem.remake(tspan=(0.0, 1e5)), method(linsolve=REFINED), rtol=1e-4, atol=1.7e-24,
                   dense=False)
    u = np.asarray(sol.u)
    assert sol.success and len(u) > 30
    assert np.max(np.abs(u[:, 1] - u[:, 2] - u[:, 3])) < 2e-22


@pytest.mark.slow
@pytest.mark.parametrize("method", [ps.Rodas5P, ps.KenCarp4, lambda linsolve: ps.AutoVern7(ps.Rodas5P(linsolve=linsolve))])
@pytest.mark.parametrize("rtol", [1e-4, 1e-6])
def test_e5_meets_the_digit_bound_with_refined_solves(method, rtol):
    # Before (plain LU, measured): Rodas5P −0.47 / 1.80 digits, KenCarp4 1.84 at 1e-4; now 3.29 / 5.75, 2.77.
    atol = E5.atol(rtol)
    sol = ps.solve(E5.problem, method(linsolve=REFINED), rtol=rtol, atol=atol, save_everystep=False,
                   max_steps=100_000)
    assert sol.retcode == ps.ReturnCode.Success
    assert mixed_digits(sol.u[-1], E5.reference, rtol, atol) >= digits_bound(rtol)
