"""The stiff problems of the IVP test set (pysciml.testing.testset): every stiff method reaches the published
reference to the digits its tolerance promises (mescd ≥ −log10(rtol) − 1.5) with a Success return code, and
Robertson's problem on the test set's interval [0, 1e11] runs to the end at tiny atol (issue 12: it stopped
with DtLessThanMin while the step floor was 10·eps·1e11 ≈ 2e-5 instead of relative to the current t).

The cheap cases are here (one compile per method and problem); the whole matrix (6 problems × 11 methods ×
rtol 1e-4 … 1e-10) is `benchmarks/testset.py`.
"""
import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml._core.trees import FlatSpec
from pysciml.controllers import initial_step, step_floor
from pysciml.solve import check_step_options
from pysciml.testing.testset import (digits_bound, mixed_digits, relative_digits, stiff_testset)
from helpers import COMPOSITE, STIFF

PROBLEMS = stiff_testset()

# Stiff methods by name, from the registry in helpers (the default included: solve(prob) picks one).
STIFF_METHODS = {**{m.__name__: m for m in STIFF}, **COMPOSITE, "default": lambda: None}


def _solve(name, method, rtol, atol=None):
    tp = PROBLEMS[name]
    atol = tp.atol(rtol) if atol is None else atol
    sol = ps.solve(tp.problem, STIFF_METHODS[method](), rtol=rtol, atol=atol, save_everystep=False,
                   max_steps=100_000)
    return sol, mixed_digits(sol.u[-1], tp.reference, rtol, atol)


# --- the cause: the smallest step allowed is relative to the current t ------------------------------------

def test_step_floor_is_relative_to_the_current_time():
    eps = np.finfo(np.float64).eps
    assert float(step_floor(jnp.asarray(1e10), 0.0)) == pytest.approx(10 * eps * 1e10, rel=1e-12)
    assert float(step_floor(jnp.asarray(-1e10), 0.0)) == pytest.approx(10 * eps * 1e10, rel=1e-12)
    # Near t = 0 a tiny step is allowed (Robertson's first steps at atol 1e-20 are ~1e-11), never 0.
    assert float(step_floor(jnp.asarray(0.0), 0.0)) == np.finfo(np.float64).tiny
    assert float(step_floor(jnp.asarray(1e-3), 0.0)) < 1e-17
    assert float(step_floor(jnp.asarray(1e10), 1e-3)) == 1e-3       # the user's dtmin, when larger, holds


def test_default_dtmin_no_longer_scales_with_the_end_of_the_interval():
    # The old default, 10·eps·max(|t0|, |t1|), is 2.2e-5 on [0, 1e11]: a rejected step near t = 0 (where
    # steps of 1e-9 are needed) ended the solve. Now the floor follows t.
    _, _, _, _, _, dtmin, _ = check_step_options(ps.Rodas5P(), None, None, 100, 1e-8, 1e-14, None, None,
                                                 FlatSpec.of(jnp.zeros(3), jnp.float64), jnp.float64,
                                                 jnp.asarray(0.0), jnp.asarray(1e11))
    assert float(dtmin) == 0.0


def test_initial_step_at_tiny_atol_is_small_but_sane():
    # Hairer's estimate with atol 1e-20: y2 starts at 0 and grows at 0.04/s, so a step meeting atol on y2
    # is ~1e-11 relative to its scale; it must be positive and finite (no 0/0 from the zero components).
    prob = PROBLEMS["rober"].problem
    u0, p = prob.u0, prob.p
    f0 = prob.f(u0, p, 0.0)
    dt = float(initial_step(prob.f, jnp.asarray(0.0), u0, f0, p, 4, 1.0, jnp.asarray(1e-8), jnp.asarray(1e-20),
                            jnp.asarray(1e11)))
    assert 1e-14 < dt < 1e-8


@pytest.mark.slow
@pytest.mark.parametrize("method", ["Rodas5P", "RadauIIA5"])
def test_robertson_late_start_near_1e10_at_atol_1e20(method):
    # From t0 = 1e10 (state of the published solution's regime) the floor is 10·eps·1e10 ≈ 2e-5 and the
    # steps are ~1e9: the solve runs on to 1e11 and agrees with the published end point.
    tp = PROBLEMS["rober"]
    start = ps.solve(tp.problem.remake(tspan=(0.0, 1e10)), STIFF_METHODS[method](), rtol=1e-10, atol=1e-20,
                     save_everystep=False, max_steps=100_000)
    late = tp.problem.remake(u0=start.u[-1], tspan=(1e10, 1e11))
    sol = ps.solve(late, STIFF_METHODS[method](), rtol=1e-8, atol=1e-20, save_everystep=False)
    assert start.success and sol.success
    assert mixed_digits(sol.u[-1], tp.reference, 1e-8, 1e-20) >= digits_bound(1e-8)


# --- Robertson on [0, 1e11] at tiny atol: the failing cases ----------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("method", ["Rodas5P", "Rodas4", "RadauIIA5", "FBDF", "KenCarp4"])
@pytest.mark.parametrize("atol", [1e-14, 1e-20])
def test_robertson_to_1e11_at_tiny_atol(method, atol):
    # atol 1e-20 is below 0.1·eps·max|u0|: solve refines the stage solves.
    sol, digits = _solve("rober", method, 1e-8, atol)
    assert sol.retcode == ps.ReturnCode.Success
    assert float(sol.t[-1]) == 1e11
    assert digits >= digits_bound(1e-8), digits
    # y2 ≈ 8.3e-14 at the end: with atol 1e-20 it is resolved relatively too.
    if atol == 1e-20 and method in ("Rodas5P", "RadauIIA5"):
        assert relative_digits(sol.u[-1], PROBLEMS["rober"].reference) >= 6.0


# --- tolerance proportionality of the order-2 methods -----------------------------------------------------

def test_step_tolerances_of_order_2_methods_are_rtol_to_the_3_2():
    # TRBDF2 and Rosenbrock23 advance with the order-2 solution and estimate its O(h³) local error: the
    # step control uses rtol^(3/2) and atol scaled alike (atol/rtol unchanged); the others are unchanged.
    for method in (ps.TRBDF2(), ps.Rosenbrock23(), ps.AutoTsit5(ps.Rosenbrock23())):
        rtol, atol = method.step_tolerances(jnp.asarray(1e-6), jnp.asarray(1e-10))
        assert float(rtol) == pytest.approx(1e-9, rel=1e-12) and float(atol) == pytest.approx(1e-13, rel=1e-12)
    for method in (ps.Rodas4(), ps.Rodas5P(), ps.KenCarp4(), ps.Kvaerno5(), ps.RadauIIA5(), ps.Tsit5(),
                   ps.AutoVern7(ps.Rodas5P())):
        assert method.step_tolerances(1e-6, 1e-10) == (1e-6, 1e-10)
    # BDF of order k estimates its own O(h^(k+1)) error: rtol^((k+1)/k) for the highest order.
    assert ps.FBDF().tolerance_exponent == 1.2 and ps.FBDF(max_order=2).tolerance_exponent == 1.5
    rtol, atol = ps.FBDF().step_tolerances(jnp.asarray(1e-5), jnp.asarray(1e-10))
    assert float(rtol) == pytest.approx(1e-6, rel=1e-12) and float(atol) == pytest.approx(1e-11, rel=1e-12)
    rtol, atol = ps.TRBDF2().step_tolerances(jnp.asarray(0.0), jnp.asarray(1e-8))   # pure absolute control
    assert float(rtol) == 0.0 and float(atol) == 1e-8


def test_too_tight_rtol_for_an_order_2_method_warns_before_solving():
    # rtol 1e-10 → steps controlled at 1e-15, below 100 rounding units: the solve cannot meet it (it ends
    # with a failure code, never a Success short of the tolerance); the warning says why before it runs.
    prob = ps.ODEProblem(lambda u, p, t: -u, jnp.array([1.0]), (0.0, 1e-3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sol = ps.solve(prob, ps.TRBDF2(), rtol=1e-10, atol=1e-12, save_everystep=False, max_steps=10)
    messages = [str(w.message) for w in caught]
    assert "rtol=1e-10 is too tight for TRBDF2(): an order-2 method controls its steps with rtol^1.5 = 1.0e-15" \
        in messages[0]
    assert not sol.success
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ps.solve(prob, ps.Rodas5P(), rtol=1e-10, atol=1e-12, save_everystep=False)


@pytest.mark.slow
@pytest.mark.parametrize("name,method,rtol", [("hires", "TRBDF2", 1e-6), ("orego", "Rosenbrock23", 1e-4),
                                              ("orego", "TRBDF2", 1e-6)])
def test_order_2_methods_meet_the_digit_bound(name, method, rtol):
    # Without the tolerance transform (checked): 3.24 digits (HIRES TRBDF2, bound 4.5), 1.86 (OREGO
    # Rosenbrock23 at 1e-4, bound 2.5: the "fewer than 2 digits"), 2.87 (OREGO TRBDF2, bound 4.5).
    sol, digits = _solve(name, method, rtol)
    assert sol.retcode == ps.ReturnCode.Success
    assert digits >= digits_bound(rtol), digits


@pytest.mark.slow
@pytest.mark.parametrize("method", ["KenCarp4", "FBDF"])
def test_orego_meets_the_digit_bound_at_rtol_1e8(method):
    # Before (measured): KenCarp4 6.04 digits with the (I − γhJ)⁻¹-filtered error estimate, FBDF 5.82
    # with its steps controlled at rtol itself; bound 6.5. Now 6.75 and 7.16.
    sol, digits = _solve("orego", method, 1e-8)
    assert sol.retcode == ps.ReturnCode.Success
    assert digits >= digits_bound(1e-8), digits


def test_kencarp4_embedded_method_is_bounded_at_infinity():
    # The reason KenCarp4 (like Kvaerno5) needs no error filter, and TRBDF2 does: R̂(z) of the embedded
    # method at z = −1e8.
    def r_hat(tab, z=-1e8):
        a, s = tab.matrix(), len(tab.b)
        b_hat = np.asarray(tab.b) - np.asarray(tab.b_error)
        return 1 + z * b_hat @ np.linalg.solve(np.eye(s) - z * a, np.ones(s))
    assert abs(r_hat(ps.KenCarp4.tableau)) < 0.2 and abs(r_hat(ps.Kvaerno5.tableau)) < 1.0
    assert abs(r_hat(ps.TRBDF2.tableau)) > 1e6
    assert not ps.KenCarp4.filter_error and not ps.Kvaerno5.filter_error and ps.TRBDF2.filter_error


# --- the test set at rtol 1e-6 with its own atol ----------------------------------------------------------

# (problem, method) pairs that meet the bound at rtol 1e-6, cheaply; the whole matrix is benchmarks/testset.py's
# table (the order-2 methods meet it too, with many more steps, or end with MaxIters at tight rtol).
CHEAP = [("hires", m) for m in ("Rodas4", "Rodas5P", "KenCarp4", "Kvaerno5", "RadauIIA5", "FBDF")] + \
        [("vdpol", m) for m in ("Rodas5P", "RadauIIA5")] + \
        [("rober", m) for m in ("Rodas5P", "Kvaerno5", "default")] + \
        [("orego", m) for m in ("Rodas5P", "RadauIIA5", "default")]   # default: AutoTsit5(Rodas5P()) at 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("name,method", CHEAP)
def test_testset_digits_at_rtol_1e6(name, method):
    sol, digits = _solve(name, method, 1e-6)
    assert sol.retcode == ps.ReturnCode.Success
    assert digits >= digits_bound(1e-6), digits


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pollu", "e5"])
def test_testset_digits_rodas5p_rtol_1e8(name):
    sol, digits = _solve(name, "Rodas5P", 1e-8)
    assert sol.retcode == ps.ReturnCode.Success
    assert digits >= digits_bound(1e-8), digits


def test_mixed_digits_is_the_test_sets_measure():
    ref = np.array([1.0, 1e-12])
    # Relative error 1e-7 in the large component; the small one is measured against atol/rtol = 1e-4.
    assert mixed_digits(ref * [1 + 1e-7, 1.0], ref, 1e-6, 1e-10) == pytest.approx(7.0 + np.log10(1.0001), abs=1e-9)
    assert mixed_digits(ref + [0.0, 1e-9], ref, 1e-6, 1e-10) == pytest.approx(5.0, abs=1e-3)
    assert relative_digits(ref + [0.0, 1e-15], ref) == pytest.approx(3.0, abs=1e-6)
