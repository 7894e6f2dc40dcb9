"""The SDE solve through the shared options: pytree states, tstops (stepped onto, on the tree path),
saveat with linear dense output, sol.W's shape, and pathwise gradients with a fixed key against central
differences."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


@pytest.mark.parametrize("alg,options", [(ps.RKMil(), {}), (ps.EM(), {"tstops": jnp.array([0.5])})],
                         ids=["RKMil-bulk", "EM-tree"])
def test_pathwise_gradient_matches_central_differences(alg, options):
    """Forward-mode gradient of u(1) with a fixed key, on the bulk path and on the tree (whose √h at h = 0
    once made every tangent NaN), against central differences."""
    prob = ps.SDEProblem(lambda u, p, t: p[0] * u, lambda u, p, t: p[1] * u, jnp.ones(1), (0.0, 1.0),
                         p=jnp.array([0.5, 0.3]))
    loss = lambda p: ps.solve(prob.remake(p=p), alg, dt=0.01, key=KEY, save_everystep=False, **options).u[-1, 0]
    p0 = jnp.array([0.5, 0.3])
    grad = jax.grad(loss)(p0)
    eps = 1e-6
    fd = jnp.stack([(loss(p0 + eps * e) - loss(p0 - eps * e)) / (2 * eps) for e in jnp.eye(2)])
    np.testing.assert_allclose(grad, fd, rtol=1e-7)


def test_callbacks_see_the_users_p():
    """A continuous event (changing p through an Effect), a preset jump and a SavingCallback in one SDE solve:
    the functions receive the user's p, the event fires once where u crosses 1.8 (stepping onto it on the
    tree path), and after it the solution relaxes towards the new mean."""
    prob = ps.SDEProblem(lambda u, p, t: p[0] * (p[1] - u), lambda u, p, t: 0.2 * jnp.ones_like(u), jnp.array([2.0]),
                         (0.0, 3.0), p=jnp.array([1.0, 1.5]), noise_type="additive")
    crossing = ps.ContinuousCallback(lambda u, p, t: u[0] - 1.8, lambda u, p, t: ps.Effect(u * 0, p.at[1].set(-1.0)))
    jump = ps.PresetTimeCallback(jnp.array([2.0]), lambda u, p, t: u + p[0])
    saving = ps.SavingCallback(lambda u, p, t: u + p[1], jnp.array([0.1, 2.5]))
    sol = ps.solve(prob, ps.EM(), dt=0.01, key=KEY, callback=ps.CallbackSet(crossing, jump, saving))
    assert int(sol.events.n) == 1 and 0.0 < float(sol.events.t[0]) < 1.0
    i = int(np.flatnonzero(np.asarray(sol.t) == float(sol.events.t[0]))[-1])
    assert float(sol.u[i, 0]) == 0.0                           # the affect's state, saved after the event
    j = int(np.flatnonzero(np.asarray(sol.t) == 2.0)[-1])
    np.testing.assert_allclose(sol.u[j] - sol.u[j - 1], 1.0, rtol=1e-12)   # the preset jump by p[0]
    saved = sol.saved_values[0]
    k = int(np.flatnonzero(np.isclose(np.asarray(sol.t), 0.1))[0])
    np.testing.assert_allclose(saved.saveval[0], sol.u[k] + 1.5, rtol=1e-12)   # before the event: p[1] = 1.5
    assert float(saved.saveval[1, 0]) < 0.5                     # after it: p[1] = −1 (u near 0 + 1 jump − 1)
