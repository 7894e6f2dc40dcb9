"""Strong order of every SDE method by regression slope (within ±0.2 of its class's strong_order) on
geometric Brownian motion against its exact solution on the same Brownian path (a virtual Brownian tree
whose nodes are the steps' end points, so every step size sees the same path); one compile per method
and problem (dt is traced)."""
import pytest

import pysciml as ps
from helpers import SDE, name
from pysciml.problems.sde import Ito
from pysciml.solvers.sde import RKMil
from pysciml.testing import convergence_order, gbm, general_commuting_linear, strong_errors

DTS = [2.0 ** -k for k in range(3, 7)]
N_PATHS = 100


def _gbm_for(alg):
    # μ small against σ: the noise's error dominates the drift's (which is first order for every method)
    return gbm(mu=0.5, sigma=1.0, interpretation="ito" if Ito in type(alg).interpretations else "stratonovich")


@pytest.mark.parametrize("method", SDE, ids=name)
def test_strong_order_on_gbm(method):
    alg = method()
    errors = strong_errors(_gbm_for(alg), alg, DTS, n_paths=N_PATHS)
    order = convergence_order(DTS, errors)
    assert abs(order - alg.strong_order) <= 0.2, (errors, order)


@pytest.mark.slow
@pytest.mark.parametrize("alg,expected", [(ps.EM(), 0.5), (ps.RKMil(), 1.0)], ids=["EM", "RKMil"])
def test_strong_order_scalar_noise(alg, expected):
    errors = strong_errors(gbm(mu=0.5, sigma=1.0, noise_type="scalar"), alg, DTS, n_paths=N_PATHS)
    assert abs(convergence_order(DTS, errors) - expected) <= 0.2, errors


@pytest.mark.slow
def test_em_general_noise_commuting():
    errors = strong_errors(general_commuting_linear(b=((1.0, 0.3), (0.5, 0.8), (0.2, 1.0))), ps.EM(), DTS,
                           n_paths=N_PATHS)
    assert abs(convergence_order(DTS, errors) - 0.5) <= 0.2, errors


class _MilsteinWithoutCorrection(RKMil):
    """RKMil with its Milstein term dropped (Euler–Maruyama in disguise): the test must see order 0.5."""

    def step(self, f, t, u, control, p, state, error_norm):
        dt, inc = control
        return self.result(u, u + dt * f(u, p, t) + f.noise(f.g(u, p, t), inc.W), dt, state)


def test_dropping_the_milstein_term_is_detected():
    alg = _MilsteinWithoutCorrection()
    order = convergence_order(DTS, strong_errors(_gbm_for(alg), alg, DTS, n_paths=N_PATHS))
    assert abs(order - 1.0) > 0.2 and abs(order - 0.5) <= 0.2, order
