"""Gradients through solve: every sensitivity method against finite differences, analytic sensitivities
and each other; stiff adjoints; pytree (network) parameters; memory of the backsolve adjoint; bad input."""
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.testing import check_gradients, exact_decay_problem, lotka_volterra, robertson

ADJOINTS = [ps.DiscreteAdjoint(), ps.BacksolveAdjoint(), ps.InterpolatingAdjoint(), ps.InterpolatingAdjoint(checkpointing=True),
            ps.QuadratureAdjoint(), ps.GaussAdjoint()]
METHODS = [ps.ForwardDiffSensitivity(), ps.ForwardSensitivity()] + ADJOINTS
TIGHT = dict(rtol=1e-10, atol=1e-12)

LV = lotka_volterra((0.0, 5.0))
LV_TIMES = jnp.linspace(0.0, 5.0, 11)


def lv_loss(p, sensealg):
    sol = ps.solve(LV.remake(p=p), ps.Tsit5(), saveat=LV_TIMES, sensealg=sensealg, **TIGHT)
    return jnp.sum(sol.u ** 2)


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
    for method in METHODS:
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

    methods = [ps.ForwardDiffSensitivity(), ps.DiscreteAdjoint(), ps.InterpolatingAdjoint(), ps.QuadratureAdjoint(),
               ps.GaussAdjoint()]
    # Relative steps: the rate constants span 0.04 to 3e7.
    scaled = lambda q, sensealg: loss(prob.p * q, sensealg)
    report = check_gradients(scaled, jnp.ones(3), methods, rtol=1e-5, fd_step=1e-5)
    assert len(report.gradients) == 5


def _mlp(params, u):
    hidden = jnp.tanh(params["w1"] @ u + params["b1"])
    return params["w2"] @ hidden + params["b2"]


def test_neural_ode_with_pytree_parameters():
    key1, key2 = jax.random.split(jax.random.key(0))
    params = {"w1": 0.5 * jax.random.normal(key1, (8, 2)), "b1": jnp.zeros(8),
              "w2": 0.5 * jax.random.normal(key2, (2, 8)), "b2": jnp.zeros(2)}
    prob = ps.ODEProblem(lambda u, p, t: _mlp(p, u ** 3 / 4), jnp.array([2.0, 0.0]), (0.0, 1.0), params)
    times = jnp.linspace(0.0, 1.0, 6)

    def loss(p, sensealg):
        sol = ps.solve(prob.remake(p=p), ps.Tsit5(), saveat=times, sensealg=sensealg, **TIGHT)
        return jnp.sum((sol.u - 1.0) ** 2)

    report = check_gradients(loss, params, [ps.ForwardDiffSensitivity()] + ADJOINTS, rtol=1e-5, n_directions=3)
    assert set(jax.tree_util.tree_structure(params).node_data()[1]) == {"w1", "b1", "w2", "b2"}
    assert len(report.gradients) == 7
    # The default for 2 states + 42 parameters is forward mode; the gradient keeps the pytree structure.
    default = jax.grad(loss)(params, None)
    assert jax.tree_util.tree_structure(default) == jax.tree_util.tree_structure(params)


def test_vmap_of_gradients_over_parameters():
    grad = jax.jit(jax.vmap(jax.grad(lambda p: lv_loss(p, ps.GaussAdjoint()))))
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
    with pytest.raises(ValueError, match="saveat"):
        ps.solve(LV, ps.Tsit5(), sensealg=ps.BacksolveAdjoint())       # save_everystep by default
    dae = robertson((0.0, 1.0)).remake(mass_matrix=jnp.diag(jnp.array([1.0, 1.0, 0.0])))
    with pytest.raises(ValueError, match="mass matrices"):
        ps.solve(dae, ps.Rodas5P(), save_everystep=False, sensealg=ps.InterpolatingAdjoint())


@pytest.mark.parametrize("alg", [ps.Tsit5(), ps.Vern7(), ps.AutoTsit5(ps.Rosenbrock23())],
                         ids=repr)
def test_discrete_adjoint_is_the_exact_derivative_of_the_discrete_solution(alg):
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
    for save in ("saveat", "ends", "dense"):
        exact = jax.grad(loss)(args, ps.ForwardDiffSensitivity(), save)
        got = jax.grad(loss)(args, ps.DiscreteAdjoint(checkpoints=4), save)
        for g, e in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(exact)):
            np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-11, err_msg=save)


def _robertson_dae(u, p, t):
    k1, k2, k3 = p
    y1, y2, y3 = u[0], u[1], u[2]
    return jnp.stack([-k1 * y1 + k3 * y2 * y3, k1 * y1 - k2 * y2 ** 2 - k3 * y2 * y3, y1 + y2 + y3 - 1.0])


def test_discrete_adjoint_of_a_dae_matches_the_ode_form():
    """Robertson with its conservation law as an algebraic equation (mass matrix diag(1, 1, 0)), Rodas5P:
    the discrete adjoint agrees with forward mode on the DAE and on the ODE form."""
    ode = robertson((0.0, 1.0))
    dae = ps.ODEProblem(_robertson_dae, ode.u0, ode.tspan, ode.p, mass_matrix=jnp.diag(jnp.array([1.0, 1.0, 0.0])))

    def loss(p, sensealg, prob):
        sol = ps.solve(prob.remake(p=p), ps.Rodas5P(), saveat=jnp.array([0.1, 0.5, 1.0]), rtol=1e-9, atol=1e-13,
                       sensealg=sensealg)
        return jnp.sum((sol.u * jnp.array([1.0, 1e4, 1.0])) ** 2)

    got = jax.grad(loss)(ode.p, ps.DiscreteAdjoint(), dae)
    np.testing.assert_allclose(got, jax.grad(loss)(ode.p, ps.ForwardDiffSensitivity(), dae), rtol=1e-6)
    np.testing.assert_allclose(got, jax.grad(loss)(ode.p, ps.ForwardDiffSensitivity(), ode), rtol=1e-6)


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
    np.testing.assert_allclose(jax.grad(loss)(LV.p), jax.grad(lv_loss)(LV.p, ps.ForwardDiffSensitivity()),
                               rtol=1e-2)


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
    with pytest.raises(ValueError, match="checkpoints"):
        ps.DiscreteAdjoint(checkpoints=0)
