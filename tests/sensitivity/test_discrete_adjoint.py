"""DiscreteAdjoint: exact derivative of the discrete solution (fixed steps, every save mode, dense
output), checkpoint memory, DAEs with Rosenbrock methods, refusals. (Its agreement with every other method
and finite differences on Lotka–Volterra, Robertson and a neural ODE is in test_sensitivity.py.)"""
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.testing import check_gradients, lotka_volterra, robertson

XLA_OPTIMIZED = True   # two programs compared to 1e-10 across a jump: see tests/conftest.py

LV = lotka_volterra((0.0, 5.0))
LV_TIMES = jnp.linspace(0.0, 5.0, 11)


def lv_loss(p, sensealg, **options):
    sol = ps.solve(LV.remake(p=p), ps.Tsit5(), saveat=LV_TIMES, sensealg=sensealg, **options)
    return jnp.sum(sol.u ** 2)


@pytest.mark.slow
@pytest.mark.parametrize("alg,save", [(ps.Tsit5(), "saveat"), (ps.Tsit5(), "dense"), (ps.Vern7(), "saveat"),
                                      (ps.AutoTsit5(ps.Rosenbrock23()), "ends")], ids=repr)
def test_discrete_adjoint_is_the_exact_derivative_of_the_discrete_solution(alg, save):
    """On fixed steps (the last one shortened by t1) the discrete solution is a fixed function of
    (p, u0, t1), so the discrete adjoint must equal forward-mode AD through the same steps to rounding:
    for values interpolated at save points, for the final state, and for a loss on the dense output
    (sol(t), every step's state and the step times), with checkpoints every few steps."""
    times = jnp.linspace(0.0, 4.5, 7)

    def loss(args, sensealg, save):
        p, u0, t1 = args
        kw = {"saveat": dict(saveat=times), "ends": dict(save_everystep=False), "dense": dict(dense=True)}[save]
        sol = ps.solve(LV.remake(p=p, u0=u0, tspan=(0.0, t1)), alg, dt=0.1, adaptive=False, sensealg=sensealg,
                       max_steps=100, **kw)
        if save == "dense":
            return jnp.sum(sol(jnp.array([0.05, 3.33, 4.9])) ** 2) + jnp.sum(sol.u[-1]) + 0.1 * jnp.sum(sol.t)
        return jnp.sum(sol.u ** 2)

    args = (LV.p, LV.u0, jnp.asarray(4.95))
    exact = jax.grad(loss)(args, ps.ForwardDiffSensitivity(), save)
    got = jax.grad(loss)(args, ps.DiscreteAdjoint(checkpoints=4), save)
    for g, e in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(exact)):
        np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-11)


def _robertson_dae(u, p, t):
    k1, k2, k3 = p
    y1, y2, y3 = u[0], u[1], u[2]
    return jnp.stack([-k1 * y1 + k3 * y2 * y3, k1 * y1 - k2 * y2 ** 2 - k3 * y2 * y3, y1 + y2 + y3 - 1.0])


@pytest.mark.slow
def test_discrete_adjoint_of_a_dae_matches_finite_differences():
    """Robertson with its conservation law as an algebraic equation (mass matrix diag(1, 1, 0)), Rosenbrock23:
    the discrete adjoint agrees with finite differences (the DAE and ODE forms agree: test_rosenbrock)."""
    ode = robertson((0.0, 1.0))
    dae = ps.ODEProblem(_robertson_dae, ode.u0, ode.tspan, ode.p, mass_matrix=jnp.diag(jnp.array([1.0, 1.0, 0.0])))

    def loss(p, sensealg, prob):
        # rtol 1e-6, atol 1e-10: Rosenbrock23 controls its steps with 1e-9, 1e-13 (rtol^(3/2), atol·rtol^(1/2)).
        sol = ps.solve(prob.remake(p=p), ps.Rosenbrock23(), saveat=jnp.array([0.1, 0.5, 1.0]), rtol=1e-6, atol=1e-10,
                       sensealg=sensealg)
        return jnp.sum((sol.u * jnp.array([1.0, 1e4, 1.0])) ** 2)

    # Relative steps: the rate constants span 0.04 to 3e7.
    scaled = lambda q, sensealg: loss(ode.p * q, sensealg, dae)
    report = check_gradients(scaled, jnp.ones(3), [ps.DiscreteAdjoint()], rtol=1e-5, fd_step=1e-5)
    assert len(report.gradients) == 1


@pytest.mark.slow
def test_discrete_adjoint_memory_is_set_by_its_checkpoints():
    """√max_steps checkpoints by default: no buffer of max_steps states, only of step times."""
    max_steps = 40_000

    def loss(p):
        sol = ps.solve(LV.remake(p=p), ps.Tsit5(), saveat=LV_TIMES, max_steps=max_steps,
                       sensealg=ps.DiscreteAdjoint())
        return jnp.sum(sol.u ** 2)

    shapes = _array_shapes(jax.make_jaxpr(jax.grad(loss))(LV.p).jaxpr)
    assert (max_steps, 2) not in shapes and (max_steps + 1, 2) not in shapes
    assert (200, 2) in shapes        # 200 checkpoints of 200-step segments
    # At the default tolerances the discrete gradient is within the solve's own error of the exact one.
    np.testing.assert_allclose(jax.grad(loss)(LV.p), jax.grad(lv_loss)(LV.p, ps.ForwardDiffSensitivity(), rtol=1e-10,
                                                                      atol=1e-12), rtol=1e-2)


def _array_shapes(jaxpr):
    shapes = set()
    for eqn in jaxpr.eqns:
        for var in list(eqn.invars) + list(eqn.outvars):
            shapes.add(tuple(getattr(getattr(var, "aval", None), "shape", ())))
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            shapes |= _array_shapes(sub)
    return shapes


def test_discrete_adjoint_refuses_newton_methods_and_bad_checkpoints():
    with pytest.raises(ValueError, match="DiscreteAdjoint.*Newton"):
        ps.solve(LV, ps.KenCarp4(), saveat=LV_TIMES, sensealg=ps.DiscreteAdjoint())
    with pytest.raises(ValueError, match="iterative linear solver"):
        ps.solve(LV, ps.Rodas5P(linsolve="krylov"), saveat=LV_TIMES, sensealg=ps.DiscreteAdjoint())
    with pytest.raises(ValueError, match="checkpoints"):
        ps.DiscreteAdjoint(checkpoints=0)


@pytest.mark.slow
def test_forward_and_discrete_adjoint_agree_across_a_jump_in_f():
    """f switches on a source at t = 1.1 (as the Brusselator's forcing): step sizes react to the jump, and
    differentiating the controller's reaction gave wrong forward-mode gradients. Both exact-discrete methods
    hold the steps fixed, so they agree with each other and, within the tolerance, with finite differences."""
    prob = ps.ODEProblem(lambda u, p, t: -p[0] * u + jnp.where(t >= 1.1, p[1], 0.0), jnp.array([1.0]), (0.0, 1.5),
                         jnp.array([0.7, 5.0]))

    def loss(p, sensealg):
        sol = ps.solve(prob.remake(p=p), ps.Tsit5(), saveat=jnp.array([0.5, 1.5]), rtol=1e-8, atol=1e-10,
                       sensealg=sensealg)
        return jnp.sum(sol.u ** 2)

    forward = jax.grad(loss)(prob.p, ps.ForwardDiffSensitivity())
    np.testing.assert_allclose(jax.grad(loss)(prob.p, ps.DiscreteAdjoint()), forward, rtol=1e-10)
    exact = lambda p: np.exp(-2 * p[0] * 0.5) + (np.exp(-p[0] * 1.5) + p[1] / p[0] * (1 - np.exp(-p[0] * 0.4))) ** 2
    step = 1e-6
    fd = [(exact(prob.p + step * e) - exact(prob.p - step * e)) / (2 * step) for e in np.eye(2)]
    np.testing.assert_allclose(forward, fd, rtol=1e-5)


def test_discrete_adjoint_through_preset_and_periodic_affects():
    """An ODE with adaptive steps, a dose at t0 and one inside the span (PresetTimeCallback) and a periodic
    decay: the affects (and their dependence on p and t) are part of the discrete solution, which the
    discrete adjoint differentiates exactly, as forward mode does on the same steps (once the adjoint
    refused callbacks)."""
    dose = ps.PresetTimeCallback(jnp.array([0.0, 1.3]), lambda u, p, t: u + jnp.array([p[0] * t + 0.5, 0.0]))
    decay = ps.PeriodicCallback(lambda u, p, t: u * jnp.array([1.0, p[3] / 3.0]), 1.0)
    callback = ps.CallbackSet(dose, decay)

    def loss(args, sensealg):
        p, u0 = args
        sol = ps.solve(LV.remake(p=p, u0=u0, tspan=(0.0, 3.0)), ps.Tsit5(), rtol=1e-6, saveat=LV_TIMES[:7],
                       callback=callback, sensealg=sensealg)
        return jnp.sum(sol.u ** 2)

    args = (LV.p, LV.u0)
    adjoint = jax.grad(loss)(args, ps.DiscreteAdjoint(checkpoints=4))
    forward = jax.grad(loss)(args, ps.ForwardDiffSensitivity())
    for a, f in zip(adjoint, forward):
        np.testing.assert_allclose(a, f, rtol=1e-11, atol=1e-12)
