"""The SDE solve through the shared options: pytree states, tstops (stepped onto, on the tree path),
saveat with linear dense output, sol.W's shape, and pathwise gradients with a fixed key against central
differences."""
import jax
import jax.numpy as jnp
import numpy as np

import pysciml as ps

KEY = jax.random.PRNGKey(0)


def test_pytree_state_and_w_shape():
    f = lambda u, p, t: {"a": -u["a"], "b": p * u["b"]}
    g = lambda u, p, t: {"a": 0.1 * u["a"], "b": 0.2 * jnp.ones_like(u["b"])}
    prob = ps.SDEProblem(f, g, {"a": jnp.ones(2), "b": jnp.ones((2, 2))}, (0.0, 1.0), p=0.5)
    sol = ps.solve(prob, ps.EM(), dt=0.01, key=KEY)
    assert sol.u["a"].shape == (101, 2) and sol.u["b"].shape == (101, 2, 2)
    assert sol.W.shape == (101, 6)
    # scalar noise: one process
    sol = ps.solve(prob.remake(noise_type="scalar"), ps.EM(), dt=0.01, key=KEY)
    assert sol.W.shape == (101, 1)


def test_tstops_saveat_and_dense_output():
    prob = ps.SDEProblem(lambda u, p, t: -u, lambda u, p, t: 0.2 * u, jnp.ones(2), (0.0, 1.0))
    sol = ps.solve(prob, ps.EM(), dt=0.1, key=KEY, tstops=jnp.array([0.55]))
    assert np.any(np.asarray(sol.t) == 0.55) and sol.t.shape == (12,)
    # linear between the steps
    t3, t4 = float(sol.t[3]), float(sol.t[4])
    theta = (0.33 - t3) / (t4 - t3)
    np.testing.assert_allclose(sol(0.33), sol.u[3] + theta * (sol.u[4] - sol.u[3]), rtol=1e-13)
    # saveat on the step grid reports the states of the steps (the same path: bulk increments)
    every = ps.solve(prob, ps.EM(), dt=0.1, key=KEY)
    saved = ps.solve(prob, ps.EM(), dt=0.1, key=KEY, saveat=jnp.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(saved.u, every.u[::5], rtol=1e-13)
    np.testing.assert_allclose(saved.W, every.W[::5], rtol=0, atol=1e-15)


def test_pathwise_gradient_matches_central_differences():
    prob = ps.SDEProblem(lambda u, p, t: p[0] * u, lambda u, p, t: p[1] * u, jnp.ones(1), (0.0, 1.0),
                         p=jnp.array([0.5, 0.3]))
    loss = lambda p: ps.solve(prob.remake(p=p), ps.RKMil(), dt=0.01, key=KEY, save_everystep=False).u[-1, 0]
    p0 = jnp.array([0.5, 0.3])
    grad = jax.grad(loss)(p0)
    eps = 1e-6
    fd = jnp.stack([(loss(p0 + eps * e) - loss(p0 - eps * e)) / (2 * eps) for e in jnp.eye(2)])
    np.testing.assert_allclose(grad, fd, rtol=1e-7)
