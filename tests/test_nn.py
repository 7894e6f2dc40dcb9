"""pysciml.nn: shapes, initialization statistics, gradients against finite differences, flat parameters,
and Equinox / Flax-style modules through the common network interface."""
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps


@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu", "softplus", "sigmoid", "rbf"])
def test_mlp_shapes_batched_and_unbatched(activation):
    net = ps.nn.MLP(3, (8, 8), 2, activation=activation)
    params = net.init(jax.random.key(0))
    x = jnp.linspace(-1.0, 1.0, 15).reshape(5, 3)
    batched = net(x, params)
    assert batched.shape == (5, 2) and batched.dtype == jnp.float64
    np.testing.assert_allclose(net(x[2], params), batched[2], rtol=1e-14)
    assert net(x.reshape(5, 1, 3), params).shape == (5, 1, 2)


@pytest.mark.parametrize("scheme, variance", [("glorot_normal", 2 / (300 + 200)), ("glorot_uniform", 2 / 500),
                                              ("he_normal", 2 / 300), ("he_uniform", 2 / 300)])
def test_initialization_variance(scheme, variance):
    (w, b), _ = ps.nn.MLP(300, (200,), 1, init_scheme=scheme).init(jax.random.key(1))
    assert w.shape == (300, 200) and not np.any(b)
    # 60 000 samples: the sample variance is within ~1.5 % (3σ) of the scheme's variance
    assert abs(float(jnp.var(w)) / variance - 1) < 0.02
    assert abs(float(jnp.mean(w))) < 3 * np.sqrt(variance / w.size)


def test_default_initialization_follows_the_activation():
    relu, tanh = (ps.nn.MLP(400, (400,), 1, activation=a).init(jax.random.key(2))[0][0] for a in ("relu", "tanh"))
    assert abs(float(jnp.var(relu)) * 400 / 2 - 1) < 0.02          # He
    assert abs(float(jnp.var(tanh)) * 800 / 2 - 1) < 0.02          # Glorot


def test_parameter_gradient_matches_finite_differences():
    net = ps.nn.MLP(2, (6, 5), 1, activation="softplus")
    params = net.init(jax.random.key(3))
    x = jax.random.normal(jax.random.key(4), (7, 2))
    flat, unravel = ps.nn.ravel(params)
    loss = jax.jit(lambda v: jnp.sum(jnp.sin(net(x, unravel(v)))))
    grad = jax.grad(loss)(flat)
    h = 1e-6
    fd = np.array([(loss(flat.at[i].add(h)) - loss(flat.at[i].add(-h))) / (2 * h) for i in range(flat.size)])
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_ravel_round_trip():
    params = ps.nn.MLP(2, (4,), 3).init(jax.random.key(5))
    flat, unravel = ps.nn.ravel(params)
    assert flat.shape == (2 * 4 + 4 + 4 * 3 + 3,)
    for a, b in zip(jax.tree_util.tree_leaves(unravel(flat)), jax.tree_util.tree_leaves(params)):
        np.testing.assert_array_equal(a, b)


def test_equinox_module_and_flax_style_module_are_networks():
    module = eqx.nn.MLP(2, 1, 8, 2, activation=jnp.tanh, key=jax.random.key(6))
    net = ps.nn.as_network(module)
    x = jnp.array([0.3, -0.2])
    np.testing.assert_allclose(net.apply(x, net.params), module(x), rtol=1e-14)
    assert net.batched(jnp.ones((4, 2)), net.params).shape == (4, 1)

    class FlaxLike:                      # the linen protocol: init(key, x) -> variables; apply(variables, x)
        def init(self, key, x):
            return {"params": {"w": jax.random.normal(key, (x.shape[-1], 1))}}

        def apply(self, variables, x):
            return jnp.tanh(x @ variables["params"]["w"])

    flax_net = ps.nn.as_network(FlaxLike(), key=jax.random.key(7), in_size=2)
    assert flax_net.apply(x, flax_net.params).shape == (1,)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="activation"):
        ps.nn.MLP(2, (4,), 1, activation="swishy")
    with pytest.raises(ValueError, match="hidden"):
        ps.nn.MLP(2, (0,), 1)
    net = ps.nn.MLP(2, (4,), 1)
    with pytest.raises(ValueError, match="in_size=2"):
        net(jnp.ones(3), net.init(jax.random.key(0)))
    with pytest.raises(ValueError, match="init must be"):
        ps.nn.MLP(2, (4,), 1, init_scheme="zeros").init(jax.random.key(0))
    with pytest.raises(ValueError, match="params or a PRNG key"):
        ps.nn.as_network(net)
    with pytest.raises(TypeError, match="network must be"):
        ps.nn.as_network(42)
