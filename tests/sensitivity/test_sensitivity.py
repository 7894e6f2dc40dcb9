"""Gradients through solve: every sensitivity method against finite differences, analytic sensitivities
and each other; stiff adjoints; pytree (network) parameters; memory of the backsolve adjoint; bad input."""
import dataclasses

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.testing import check_gradients, exact_decay_problem, lotka_volterra, robertson
from helpers import SENSITIVITY

METHODS = SENSITIVITY
TIGHT = dict(rtol=1e-10, atol=1e-12)

LV = lotka_volterra((0.0, 5.0))
LV_TIMES = jnp.linspace(0.0, 5.0, 11)


def lv_loss(p, sensealg):
    sol = ps.solve(LV.remake(p=p), ps.Tsit5(), saveat=LV_TIMES, sensealg=sensealg, **TIGHT)
    return jnp.sum(sol.u ** 2)


@pytest.mark.slow
def test_every_method_matches_finite_differences_on_lotka_volterra():
    report = check_gradients(lv_loss, LV.p, METHODS + [ps.InterpolatingAdjoint(seminorm=True)], rtol=1e-5)
    assert not report.skipped and len(report.gradients) == 9
    assert max(report.errors.values()) < 1e-6


def test_linear_system_matches_analytic_sensitivities_for_p_u0_and_tspan():
    """u' = −k u: u(t) = u0 exp(−k (t − t0)); loss = Σ u(t1)². Gradients w.r.t. k, u0, t0 and t1."""
    prob, _ = exact_decay_problem((0.0, 2.0))
    k, u0, t0, t1 = 0.7, np.array([1.0, 2.0]), 0.0, 2.0

    def loss(args, sensealg):
        k_, u0_, t0_, t1_ = args
        sol = ps.solve(prob.remake(p=k_, u0=u0_, tspan=(t0_, t1_)), ps.Tsit5(), save_everystep=False,
                       sensealg=sensealg, rtol=1e-12, atol=1e-14)
        return jnp.sum(sol.u[-1] ** 2)

    decay = np.exp(-k * (t1 - t0))
    end = u0 * decay
    exact = [-2 * (t1 - t0) * np.sum(end ** 2), 2 * end * decay, 2 * k * np.sum(end ** 2), -2 * k * np.sum(end ** 2)]
    args = (jnp.asarray(k), jnp.asarray(u0), jnp.asarray(t0), jnp.asarray(t1))
    # one method per kind of rule (the variants of each are checked on Lotka–Volterra)
    for method in [ps.ForwardDiffSensitivity(), ps.ForwardSensitivity(), ps.DiscreteAdjoint(), ps.BacksolveAdjoint(),
                   ps.InterpolatingAdjoint(), ps.GaussAdjoint()]:
        grads = jax.grad(loss)(args, method)
        for got, want in zip(grads, exact):
            np.testing.assert_allclose(got, want, rtol=1e-8, err_msg=repr(method))


def test_forward_methods_serve_jacfwd_and_jacrev():
    def states(p, sensealg):   # the same solve as lv_loss, so its compiled passes are reused
        return ps.solve(LV.remake(p=p), ps.Tsit5(), saveat=LV_TIMES, sensealg=sensealg, **TIGHT).u

    reference = jax.jacrev(states)(LV.p, ps.InterpolatingAdjoint())
    for method in (ps.ForwardDiffSensitivity(), ps.ForwardSensitivity()):
        np.testing.assert_allclose(jax.jacfwd(states)(LV.p, method), reference, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(jax.jacrev(states)(LV.p, method), reference, rtol=1e-6, atol=1e-9)


def test_stiff_adjoints_on_robertson_short_horizon():
    prob = robertson((0.0, 1.0))
    times = jnp.array([0.1, 0.5, 1.0])
    weights = jnp.array([1.0, 1e4, 1.0])

    def loss(p, sensealg):
        sol = ps.solve(prob.remake(p=p), ps.Rodas5P(), saveat=times, rtol=1e-9, atol=1e-13, sensealg=sensealg)
        return jnp.sum((sol.u * weights) ** 2)

    # (DiscreteAdjoint with a Rosenbrock method on Robertson: test_discrete_adjoint.py)
    methods = [ps.ForwardDiffSensitivity(), ps.InterpolatingAdjoint(), ps.GaussAdjoint()]
    # Relative steps: the rate constants span 0.04 to 3e7.
    scaled = lambda q, sensealg: loss(prob.p * q, sensealg)
    report = check_gradients(scaled, jnp.ones(3), methods, rtol=1e-5, fd_step=1e-5)
    assert len(report.gradients) == 3


def _mlp(params, u):
    hidden = jnp.tanh(params["w1"] @ u + params["b1"])
    return params["w2"] @ hidden + params["b2"]


@pytest.mark.slow
def test_neural_ode_with_pytree_parameters():
    key1, key2 = jax.random.split(jax.random.key(0))
    params = {"w1": 0.5 * jax.random.normal(key1, (8, 2)), "b1": jnp.zeros(8),
              "w2": 0.5 * jax.random.normal(key2, (2, 8)), "b2": jnp.zeros(2)}
    prob = ps.ODEProblem(lambda u, p, t: _mlp(p, u ** 3 / 4), jnp.array([2.0, 0.0]), (0.0, 1.0), params)
    times = jnp.linspace(0.0, 1.0, 6)

    def loss(p, sensealg):
        sol = ps.solve(prob.remake(p=p), ps.Tsit5(), saveat=times, sensealg=sensealg, **TIGHT)
        return jnp.sum((sol.u - 1.0) ** 2)

    # every method against finite differences is the Lotka–Volterra test; here the pytree round trip
    methods = [ps.ForwardDiffSensitivity(), ps.DiscreteAdjoint(), ps.BacksolveAdjoint(), ps.GaussAdjoint()]
    report = check_gradients(loss, params, methods, rtol=1e-5, n_directions=3)
    assert set(jax.tree_util.tree_structure(params).node_data()[1]) == {"w1", "b1", "w2", "b2"}
    assert len(report.gradients) == 4
    # The default for 2 states + 42 parameters is forward mode; the gradient keeps the pytree structure.
    default = jax.grad(loss)(params, None)
    assert jax.tree_util.tree_structure(default) == jax.tree_util.tree_structure(params)


def test_vmap_of_gradients_over_parameters():
    grad = jax.jit(jax.vmap(jax.grad(lambda p: lv_loss(p, ps.DiscreteAdjoint(checkpoints=10)))))
    batch = LV.p * jnp.array([[1.0], [1.05]])
    got = grad(batch)
    for i in range(2):
        np.testing.assert_allclose(got[i], jax.grad(lv_loss)(batch[i], ps.ForwardDiffSensitivity()), rtol=1e-6)


def _array_dims(jaxpr):
    """Every dimension of every value in a jaxpr, sub-jaxprs included."""
    dims = set()
    for eqn in jaxpr.eqns:
        for var in list(eqn.invars) + list(eqn.outvars):
            dims.update(getattr(getattr(var, "aval", None), "shape", ()))
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            dims |= _array_dims(sub)
    return dims


def test_backsolve_memory_does_not_grow_with_the_number_of_steps():
    max_steps = 54_321

    def loss(p, sensealg):
        sol = ps.solve(LV.remake(p=p), ps.Tsit5(), saveat=LV_TIMES, max_steps=max_steps, sensealg=sensealg)
        return jnp.sum(sol.u ** 2)

    backsolve = _array_dims(jax.make_jaxpr(jax.grad(lambda p: loss(p, ps.BacksolveAdjoint())))(LV.p).jaxpr)
    assert max_steps not in backsolve and max_steps + 1 not in backsolve
    interpolating = _array_dims(jax.make_jaxpr(jax.grad(lambda p: loss(p, ps.InterpolatingAdjoint())))(LV.p).jaxpr)
    assert max_steps in interpolating      # the check sees the dense trajectory when there is one


def test_bad_sensealg_is_refused_before_compiling():
    with pytest.raises(TypeError, match="sensealg"):
        ps.solve(LV, ps.Tsit5(), sensealg="adjoint")
    dae = robertson((0.0, 1.0)).remake(mass_matrix=jnp.diag(jnp.array([1.0, 1.0, 0.0])))
    with pytest.raises(ValueError, match="mass matrices"):
        ps.solve(dae, ps.Rodas5P(), save_everystep=False, sensealg=ps.InterpolatingAdjoint())


@pytest.mark.slow
def test_adjoint_of_a_sparse_newton_solve_uses_the_transposed_pattern():
    """GaussAdjoint with KenCarp4's sparse linear solver (Brusselator N = 4, pattern detected): the adjoint
    solve gets Jᵀ's pattern and agrees with the exact discrete gradient of a Rosenbrock solve; the adjoints
    that carry the parameter integral in their state refuse a sparse solver clearly."""
    prob = ps.testing.brusselator_2d(4, tspan=(0.0, 0.5)).remake(jac_prototype="auto")

    def loss(p, sensealg, alg):
        sol = ps.solve(prob.remake(p=p), alg, saveat=jnp.array([0.25, 0.5]), rtol=1e-7, atol=1e-9, sensealg=sensealg)
        return jnp.sum(sol.u ** 2)

    exact = jax.grad(loss)(prob.p, ps.DiscreteAdjoint(), ps.Rodas5P())
    got = jax.grad(loss)(prob.p, ps.GaussAdjoint(), ps.KenCarp4(linsolve="sparse"))
    np.testing.assert_allclose(got, exact, rtol=1e-4)
    with pytest.raises(ValueError, match="GaussAdjoint"):
        ps.solve(prob, ps.KenCarp4(linsolve="sparse"), saveat=jnp.array([0.5]), sensealg=ps.InterpolatingAdjoint())


@dataclasses.dataclass(frozen=True)
class _ThroughTheLoop(ps.sensitivity.SensitivityAlgorithm):
    """A new method is one class: here plain forward-mode AD through the loop it is handed."""

    def run(self, ctx, inputs):
        return ctx.make_loop(ctx.rhs, ctx.alg, ctx.cfg)(inputs)


def test_a_new_sensitivity_method_is_one_subclass():
    prob, _ = exact_decay_problem((0.0, 1.0))
    times = jnp.linspace(0.0, 1.0, 5)

    def final(p):
        return ps.solve(prob.remake(p=p), ps.Tsit5(), saveat=times, sensealg=_ThroughTheLoop(), rtol=1e-10,
                        atol=1e-12).u[-1]

    p = 0.7   # u(1) = u0 exp(−p): du/dp = −u0 exp(−p)
    np.testing.assert_allclose(jax.jacfwd(final)(p), -np.array([1.0, 2.0]) * np.exp(-p), rtol=1e-8)
    with pytest.raises(ValueError, match="_ThroughTheLoop.*callbacks"):   # the base class's default check
        ps.solve(prob, ps.Tsit5(), sensealg=_ThroughTheLoop(),
                 callback=ps.DiscreteCallback(lambda u, p, t: t > 0.5, lambda u, p, t: u))
