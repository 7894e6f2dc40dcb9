"""Shared test set-up: float64 is on (pysciml switches it on at import); warnings of failed solves are
errors unless a test expects them."""
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import pysciml  # noqa: F401  (enables float64 before any test builds arrays)


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "error::RuntimeWarning")


@pytest.fixture(scope="session")
def stiff_references():
    """Final states of Robertson (t = 1e5), Van der Pol μ = 1e6 (t = 2) and HIRES (t = 321.8122) from scipy's
    Radau at rtol 1e-10 (HIRES 1e-11) with analytic Jacobians and plain-numpy right-hand sides (fast);
    shared by the stiff-solver tests."""
    k1, k2, k3 = 0.04, 3e7, 1e4
    rob_f = lambda t, y: [-k1 * y[0] + k3 * y[1] * y[2], k1 * y[0] - k2 * y[1] ** 2 - k3 * y[1] * y[2], k2 * y[1] ** 2]
    rob_j = lambda t, y: [[-k1, k3 * y[2], k3 * y[1]], [k1, -2 * k2 * y[1] - k3 * y[2], -k3 * y[1]], [0, 2 * k2 * y[1], 0]]
    rob = solve_ivp(rob_f, (0.0, 1e5), [1.0, 0.0, 0.0], method="Radau", rtol=1e-10, atol=1e-14, jac=rob_j)
    mu = 1e6
    vdp_f = lambda t, u: [u[1], mu * ((1 - u[0] ** 2) * u[1] - u[0])]
    vdp_j = lambda t, u: [[0.0, 1.0], [mu * (-2 * u[0] * u[1] - 1), mu * (1 - u[0] ** 2)]]
    vdp = solve_ivp(vdp_f, (0.0, 2.0), [2.0, 0.0], method="Radau", rtol=1e-10, atol=1e-12, jac=vdp_j)
    hires = solve_ivp(_hires_f, (0.0, 321.8122), [1.0, 0, 0, 0, 0, 0, 0, 0.0057], method="Radau", rtol=1e-11,
                      atol=1e-15, jac=_hires_jac)
    return {"robertson": np.asarray(rob.y[:, -1]), "vdp": np.asarray(vdp.y[:, -1]), "hires": hires.y[:, -1]}


def _hires_f(t, y):
    y1, y2, y3, y4, y5, y6, y7, y8 = y
    r = 280.0 * y6 * y8
    return [-1.71 * y1 + 0.43 * y2 + 8.32 * y3 + 0.0007, 1.71 * y1 - 8.75 * y2,
            -10.03 * y3 + 0.43 * y4 + 0.035 * y5, 8.32 * y2 + 1.71 * y3 - 1.12 * y4,
            -1.745 * y5 + 0.43 * y6 + 0.43 * y7, -r + 0.69 * y4 + 1.71 * y5 - 0.43 * y6 + 0.69 * y7,
            r - 1.81 * y7, -r + 1.81 * y7]


def _hires_jac(t, y):
    J = np.zeros((8, 8))
    J[0, :3] = -1.71, 0.43, 8.32
    J[1, :2] = 1.71, -8.75
    J[2, 2:5] = -10.03, 0.43, 0.035
    J[3, 1:4] = 8.32, 1.71, -1.12
    J[4, 4:7] = -1.745, 0.43, 0.43
    J[5, 3:8] = 0.69, 1.71, -0.43 - 280.0 * y[7], 0.69, -280.0 * y[5]
    J[6, 5:8] = 280.0 * y[7], -1.81, 280.0 * y[5]
    J[7, 5:8] = -280.0 * y[7], 1.81, -280.0 * y[5]
    return J
