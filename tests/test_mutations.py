"""Mutation checks: the suite's accuracy, order, step-size and gradient checks must fail on a perturbed
method. Each test runs a check on the real coefficients (it passes) and on a mutant (it must report a
failure): a Runge–Kutta tableau coefficient, controller coefficients, and the quadrature weights of the
adjoint's parameter integral. Kept cheap: fixed-step solves, scalar controller recursions, one small adjoint."""
import dataclasses
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.testing import check_gradients, convergence_order, exact_decay_problem, nonlinear_exact_problem
from test_controllers import deviation_from_reference, reference_pi_steps, reference_pid_steps

PROB, EXACT = nonlinear_exact_problem((0.0, 10.0))


def order_check(alg, nominal, steps_per_unit=100):
    """The convergence-order check of test_convergence (regression slope within 0.3 of the nominal order)
    on the non-linear, non-autonomous exact problem; returns (passes, measured order)."""
    steps = 10.0 / (steps_per_unit * np.array([1.0, 1.25, 1.5, 2.0]))
    errors = [np.abs(np.asarray(ps.solve(PROB, alg, dt=h, adaptive=False).u) - EXACT(np.arange(0, 10.0 + h / 2, h))).max()
              for h in steps]
    order = convergence_order(steps, errors)
    return abs(order - nominal) <= 0.3, order


def mutated(tableau, **changes):
    """A copy of ``tableau`` with some coefficients replaced, bypassing the construction-time order-condition
    check (which would refuse it: shown separately)."""
    copy = object.__new__(type(tableau))
    for field in dataclasses.fields(tableau):
        object.__setattr__(copy, field.name, changes.get(field.name, getattr(tableau, field.name)))
    return copy


def test_a_perturbed_tableau_coefficient_fails_the_order_check():
    passes, order = order_check(ps.RK4(), 4)
    assert passes, order
    tab = ps.RK4.tableau
    b = list(tab.b)
    b[0], b[3] = b[0] + 1e-2, b[3] - 1e-2        # still sums to 1 (consistent), but b·c ≠ 1/2
    mutant_tableau = mutated(tab, b=tuple(b))

    class MutantRK4(ps.RK4):   # a new class: compiled loops are cached per method
        tableau = mutant_tableau

    passes, order = order_check(MutantRK4(), 4)
    assert not passes and order < 2.5, order
    with pytest.raises(ValueError):   # and the tableau check on construction refuses it outright
        ps.ButcherTableau(name="mutant", order=4, c=tab.c, a=tab.a, b=tuple(b))


@pytest.mark.parametrize("mutant,reference", [
    (ps.PIController(beta2=9 * 0.04), reference_pi_steps),
    (ps.PIController(beta1=9 * (0.2 - 0.75 * 0.04)), reference_pi_steps),
    (ps.PIDController(9 / 18, 9 / 9, 9 / 18), reference_pid_steps),
    (ps.PIDController(1 / 18, 1 / 9, 1 / 9), reference_pid_steps),
], ids=["PI-beta2x9", "PI-beta1x9", "PID-x9", "PID-beta3x2"])
def test_perturbed_controller_coefficients_fail_the_step_sequence_check(mutant, reference):
    default = type(mutant)()
    assert deviation_from_reference(default, reference) < 1e-12
    assert deviation_from_reference(mutant, reference) > 1e-3


def test_a_monkeypatched_controller_constant_fails_the_step_sequence_check(monkeypatch):
    base = importlib.import_module("pysciml.controllers.base")
    monkeypatch.setattr(base, "LOG_FLOOR", np.log(1e-3))   # the error assumed before the first step
    assert deviation_from_reference(ps.PIController(), reference_pi_steps) > 1e-3
    assert deviation_from_reference(ps.PIDController(), reference_pid_steps) > 1e-3


@pytest.mark.slow
def test_perturbed_adjoint_quadrature_weights_fail_the_gradient_check(monkeypatch):
    prob, _ = exact_decay_problem((0.0, 1.0))
    times = jnp.linspace(0.0, 1.0, 5)

    def loss(p, sensealg):
        sol = ps.solve(prob.remake(p=p), ps.Tsit5(), saveat=times, sensealg=sensealg, rtol=1e-10, atol=1e-12)
        return jnp.sum(sol.u ** 2)

    p = jnp.asarray(0.7)
    assert check_gradients(loss, p, [ps.GaussAdjoint()], rtol=1e-6, raise_on_failure=False).ok
    adjoint = importlib.import_module("pysciml.sensitivity.adjoint")
    exact = adjoint._gauss_legendre
    monkeypatch.setattr(adjoint, "_gauss_legendre",
                        lambda order: (exact(order)[0], tuple(1.001 * w for w in exact(order)[1])))
    jax.clear_caches()   # JAX keeps the backward pass traced with the real weights
    try:
        report = check_gradients(loss, p, [ps.GaussAdjoint()], rtol=1e-6, raise_on_failure=False)
    finally:
        monkeypatch.undo()
        jax.clear_caches()   # and must not keep the mutant's for later tests
    assert not report.ok and max(report.errors.values()) > 1e-4
    assert check_gradients(loss, p, [ps.GaussAdjoint()], rtol=1e-6, raise_on_failure=False).ok
