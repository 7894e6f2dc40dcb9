"""pysciml.optim: Levenberg–Marquardt on least-squares problems with published minima (Rosenbrock, NIST StRD
Misra1a with certified values), against scipy's MINPACK lmder, its stopping reasons and bad input."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import least_squares as scipy_least_squares

from pysciml.optim import LevenbergMarquardt, least_squares

# Rosenbrock as residuals (Moré, Garbow & Hillstrom, "Testing unconstrained optimization software", ACM TOMS 7,
# 1981, problem 1): r = (10(x₂ − x₁²), 1 − x₁), start (−1.2, 1), minimum 0 at (1, 1).
rosenbrock = lambda x: jnp.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])

# NIST StRD nonlinear regression, Misra1a (lower difficulty): y = b1 (1 − exp(−b2 x)), 14 observations.
# https://www.itl.nist.gov/div898/strd/nls/data/misra1a.shtml — certified values to 11 digits.
MISRA_X = jnp.array([77.6, 114.9, 141.1, 190.8, 239.9, 289.0, 332.8, 378.4, 434.8, 477.3, 536.8, 593.1, 689.1, 760.0])
MISRA_Y = jnp.array([10.07, 14.73, 17.94, 23.93, 29.61, 35.18, 40.02, 44.82, 50.76, 55.05, 61.01, 66.40, 75.47,
                     81.78])
MISRA_CERTIFIED = np.array([2.3894212918e02, 5.5015643181e-04])
MISRA_RSS = 1.2455138894e-01          # certified residual sum of squares
misra = lambda b: b[0] * (1.0 - jnp.exp(-b[1] * MISRA_X)) - MISRA_Y

run = jax.jit(least_squares, static_argnums=(0, 2))


def test_rosenbrock_reaches_its_published_minimum():
    state = run(rosenbrock, jnp.array([-1.2, 1.0]), LevenbergMarquardt())
    assert bool(state.converged)
    np.testing.assert_allclose(state.x, [1.0, 1.0], rtol=1e-10)
    assert float(state.cost) < 1e-20
    assert int(state.k) <= 25                # Madsen–Nielsen–Tingleff report ~17 iterations for this start
    assert int(state.evaluations) <= int(state.k) + 10


@pytest.mark.parametrize("start", [[500.0, 1e-4], [250.0, 5e-4]])
def test_misra1a_matches_the_nist_certified_values_from_both_starts(start):
    state = run(misra, jnp.array(start), LevenbergMarquardt())
    assert bool(state.converged)
    # NIST asks for agreement to ≥ 6 significant digits; a double-precision LM gets ~8 from these tolerances
    np.testing.assert_allclose(state.x, MISRA_CERTIFIED, rtol=1e-7)
    assert 2 * float(state.cost) == pytest.approx(MISRA_RSS, rel=1e-9)
    reference = scipy_least_squares(lambda b: np.asarray(misra(jnp.asarray(b))), start, method="lm",
                                    xtol=1e-12, ftol=1e-12, gtol=1e-12).x
    np.testing.assert_allclose(state.x, reference, rtol=1e-7)


def test_stops_on_the_step_budget_and_when_no_step_decreases():
    state = run(rosenbrock, jnp.array([-1.2, 1.0]), LevenbergMarquardt(steps=3))
    assert int(state.k) == 3 and not bool(state.converged)
    # a residual no step can decrease (its minimum is the start) ends with a converged, unchanged point
    state = run(lambda x: jnp.array([x[0] - 2.0, 3.0 * x[1]]), jnp.array([2.0, 0.0]), LevenbergMarquardt())
    np.testing.assert_array_equal(state.x, [2.0, 0.0])
    assert bool(state.converged)


def test_bad_stage_options_are_rejected():
    with pytest.raises(ValueError, match="steps"):
        LevenbergMarquardt(steps=-1)
    with pytest.raises(ValueError, match="initial_damping"):
        LevenbergMarquardt(initial_damping=0.0)
    with pytest.raises(ValueError, match="xtol"):
        LevenbergMarquardt(xtol=-1e-8)
    with pytest.raises(ValueError, match="max_trials"):
        LevenbergMarquardt(max_trials=0)
