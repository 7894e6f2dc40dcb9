"""Measured convergence order of the one-step stiff methods on stiff problems (fixed steps): a stiff linear
system with its exact solution, and Van der Pol with moderate stiffness against a tight scipy reference.
(FBDF's orders are checked one by one in test_bdf.py.)"""
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

import pysciml as ps
from pysciml.testing import convergence_order, van_der_pol
from helpers import ONE_STEP_STIFF

METHODS = ONE_STEP_STIFF

# u' = A u with eigenvalues −1, −2 (smooth) and −1000 (stiff: h|λ| from 50 to 100 below).
_Q = np.linalg.qr(np.array([[1.0, 0.3, 0.2], [0.1, 1.0, 0.4], [0.2, 0.1, 1.0]]))[0]
STIFF_A = _Q @ np.diag([-1.0, -2.0, -1000.0]) @ _Q.T
STIFF_U0 = np.array([1.0, 0.5, -0.5])
LINEAR = ps.ODEProblem(lambda u, p, t: p @ u, jnp.asarray(STIFF_U0), (0.0, 1.0), jnp.asarray(STIFF_A))
LINEAR_EXACT = expm(STIFF_A) @ STIFF_U0

MU = 10.0          # Van der Pol with moderate stiffness, t ∈ [0, 1]
VDP = van_der_pol(MU, (0.0, 1.0))


@pytest.fixture(scope="module")
def vdp_reference():
    f = lambda t, u: [u[1], MU * ((1 - u[0] ** 2) * u[1] - u[0])]
    return solve_ivp(f, (0.0, 1.0), [2.0, 0.0], method="Radau", rtol=1e-13, atol=1e-13).y[:, -1]


def _order(method, prob, reference, steps):
    errors = []
    for n in steps:
        # tight tolerances: with fixed steps they only set how far the Newton iterations converge
        sol = ps.solve(prob, method(), dt=1.0 / n, adaptive=False, save_everystep=False, rtol=1e-13, atol=1e-13)
        errors.append(np.max(np.abs(np.asarray(sol.u[-1]) - reference)))
    return convergence_order(1.0 / np.asarray(steps), errors)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.__name__)
def test_order_on_a_stiff_linear_system(method):
    """At least the method's order (h|λ_stiff| from 50 to 100). On a linear constant-coefficient problem
    only the stability function matters, and Rodas5P's matches e^z beyond order 5 (measured ≈ 6)."""
    order = method().order
    measured = _order(method, LINEAR, LINEAR_EXACT, [10, 13, 16, 20])
    assert order - 0.3 <= measured <= order + 1.3


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.__name__)
def test_order_on_van_der_pol_with_moderate_stiffness(method, vdp_reference):
    order = method().order
    assert _order(method, VDP, vdp_reference, [40, 50, 63, 80, 113, 160]) == pytest.approx(order, abs=0.35)
