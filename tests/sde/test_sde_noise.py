"""Brownian paths: the virtual tree's law (variances of ΔW and of the space-time Lévy area H, independence),
its consistency (an increment is the difference of the path's values; the same time gives the same value
whatever else was evaluated, so adaptive solves at two tolerances and their rejected steps share one path),
the bulk fixed-step path, and NoiseGrid reproducing a given path."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.noise import NoiseGrid, VirtualBrownianTree
from pysciml.testing import gbm

XLA_OPTIMIZED = True   # bitwise claims (increments equal to differences of values): see tests/conftest.py

N = 20000


@pytest.fixture(scope="module")
def tree_samples():
    """For N keys: (ΔW, H) over [0.3, 0.75] and [0.75, 0.95] of a tree on [0, 2], and W at 0.3, 0.75, 0.95, 2."""
    path, _ = VirtualBrownianTree(12).prepare(jax.random.PRNGKey(0), 0.0, 2.0, 1, jnp.float64)

    def one(key):
        data = (key, jnp.asarray(0.0), jnp.asarray(2.0))
        a = path.increment(data, jnp.asarray(0.3), jnp.asarray(0.45))
        b = path.increment(data, jnp.asarray(0.75), jnp.asarray(0.2))
        w = path.values(data, jnp.array([0.3, 0.75, 0.95, 2.0]))
        return jnp.stack([a.W[0], a.H[0], b.W[0], b.H[0]]), w[:, 0]

    return jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(1), N))


def test_tree_law(tree_samples):
    inc, w = (np.asarray(x) for x in tree_samples)
    expected = np.array([0.45, 0.45 / 12, 0.2, 0.2 / 12])
    # sample variance of N normals: relative standard error sqrt(2/N) = 1 %; 4 standard errors
    np.testing.assert_allclose(inc.var(axis=0), expected, rtol=4 * np.sqrt(2 / N))
    np.testing.assert_allclose(w[:, 3].var(), 2.0, rtol=4 * np.sqrt(2 / N))
    corr = np.corrcoef(inc.T)
    assert np.max(np.abs(corr - np.eye(4))) < 4 / np.sqrt(N)   # ΔW ⟂ H, disjoint intervals independent
    assert np.max(np.abs(inc.mean(axis=0)) / np.sqrt(expected / N)) < 4


def test_tree_increments_are_differences_of_values(tree_samples):
    inc, w = (np.asarray(x) for x in tree_samples)
    np.testing.assert_array_equal(inc[:, 0], w[:, 1] - w[:, 0])
    np.testing.assert_array_equal(inc[:, 2], w[:, 2] - w[:, 1])


def test_tree_value_does_not_depend_on_other_evaluations():
    path, data = VirtualBrownianTree().prepare(jax.random.PRNGKey(7), 0.0, 1.0, 3, jnp.float64)
    values = jax.jit(path.values)
    alone = values(data, jnp.array([0.123456]))
    among = values(data, jnp.array([0.9, 0.5, 0.123456, 0.1]))
    np.testing.assert_array_equal(alone[0], among[2])


def test_tree_increment_after_rejection_is_the_same_path():
    """A step over [t, t + h] rejected and retried as two halves sees the same path: the halves' increments
    add up to the whole's, and their areas combine to its area (K = K1 + K2 + (h ΔW1 − h ΔW2)/2, K = h·H)."""
    path, data = VirtualBrownianTree().prepare(jax.random.PRNGKey(11), 0.0, 1.0, 3, jnp.float64)
    t, h = jnp.asarray(0.2371), jnp.asarray(0.0913)
    increment = jax.jit(path.increment)
    whole = increment(data, t, h)
    first, second = increment(data, t, h / 2), increment(data, t + h / 2, h / 2)
    np.testing.assert_allclose(first.W + second.W, whole.W, rtol=0, atol=1e-15)
    K = (h / 2) * (first.H + second.H) + (h / 2) * (first.W - second.W) / 2
    np.testing.assert_allclose(K, h * whole.H, rtol=0, atol=1e-14)


def test_adaptive_solves_share_the_path_and_converge_on_it():
    """LambaEM on GBM at two tolerances on one tree path each: steps are rejected in both; the path's W at
    the common saved times is identical, and the solutions converge to the exact solution on that path
    (error ∝ rtol^½: EM's strong order 0.5 with steps ∝ rtol)."""
    ref = gbm(mu=0.5, sigma=1.0)
    prob = ref.prob.remake(noise=VirtualBrownianTree())
    ts = jnp.linspace(0.0, 1.0, 5)

    def run(key, rtol):
        sol = ps.solve(prob, ps.LambaEM(), key=key, rtol=rtol, atol=rtol, saveat=ts, max_steps=100_000)
        exact = ref.exact(sol.t[-1], sol.W[-1])
        return sol.W, jnp.max(jnp.abs(sol.u[-1] - exact) / exact), sol.stats["nreject"]

    solve = jax.jit(jax.vmap(run, in_axes=(0, None)))
    keys = jax.random.split(jax.random.PRNGKey(3), 20)
    W_loose, err_loose, rej_loose = solve(keys, 1e-3)
    W_tight, err_tight, rej_tight = solve(keys, 1e-4)
    np.testing.assert_array_equal(W_loose, W_tight)
    assert int(rej_loose.sum()) > 0 and int(rej_tight.sum()) > 0
    ratio = float(jnp.mean(err_loose) / jnp.mean(err_tight))
    assert 2.0 < ratio < 5.0, ratio     # 10^½ ≈ 3.2


def test_bulk_path_increments_and_values():
    from pysciml.noise import BulkIncrements
    path, data = BulkIncrements(levy_area=True).prepare(jax.random.PRNGKey(2), 0.0, 1.0, 2, jnp.float64, 0.3)
    # steps 0, 0.3, 0.6, 0.9 and the cut last step of 0.1
    incs = [path.increment(data, jnp.asarray(t), jnp.asarray(h)) for t, h in ((0.0, 0.3), (0.3, 0.3), (0.6, 0.3), (0.9, 0.1))]
    W = path.values(data, jnp.array([0.0, 0.3, 0.6, 0.9, 1.0]))
    np.testing.assert_allclose(np.diff(W, axis=0), np.stack([i.W for i in incs]), rtol=0, atol=1e-15)
    z = np.asarray(data[0])
    np.testing.assert_allclose(incs[3].H, np.sqrt(0.1 / 12) * z[3, 1], rtol=1e-15)
    # without Lévy areas (methods that do not read them): H is NaN, W the same draws' first row
    path, data = BulkIncrements(levy_area=False).prepare(jax.random.PRNGKey(2), 0.0, 1.0, 2, jnp.float64, 0.3)
    inc = path.increment(data, jnp.asarray(0.3), jnp.asarray(0.3))
    assert np.all(np.isnan(inc.H)) and np.all(np.isfinite(inc.W))
    # normals drawn in float32 by default (noise.gaussian), flat, then used in float64; precision="float64"
    # draws them in float64
    for precision, draw in (("float32", jnp.float32), ("float64", jnp.float64)):
        path, data = BulkIncrements(precision, levy_area=False).prepare(jax.random.PRNGKey(2), 0.0, 1.0, 2,
                                                                         jnp.float64, 0.3)
        expected = jax.random.normal(jax.random.PRNGKey(2), (10,), draw).reshape(5, 1, 2)[1, 0].astype(jnp.float64)
        inc = path.increment(data, jnp.asarray(0.3), jnp.asarray(0.3))
        assert inc.W.dtype == jnp.float64
        np.testing.assert_allclose(inc.W, np.sqrt(0.3) * expected, rtol=1e-15)
    with pytest.raises(ValueError, match="precision"):
        BulkIncrements("half")


def test_float32_normals_are_standard_normal():
    """The float32 draws widened to float64 (noise.gaussian): mean, variance, kurtosis and the tail mass
    beyond 3σ of 10⁶ draws within 5 standard errors of N(0, 1)'s."""
    from pysciml.noise.gaussian import standard_normal
    z = np.asarray(standard_normal(jax.random.PRNGKey(0), (1000, 1000), jnp.float64))
    n = z.size
    assert z.dtype == np.float64
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    assert abs(np.mean(z ** 4) - 3) < 5 * np.sqrt(96 / n)
    tail = 2 * 0.0013498980316301
    assert abs(np.mean(np.abs(z) > 3) - tail) < 5 * np.sqrt(tail / n)


def test_noise_grid_reproduces_a_given_path():
    ref = gbm(mu=0.5, sigma=1.0)
    first = ps.solve(ref.prob, ps.EM(), dt=2 ** -6, key=jax.random.PRNGKey(4))
    again = ps.solve(ref.prob.remake(noise=NoiseGrid(first.t, first.W)), ps.EM(), dt=2 ** -6)
    np.testing.assert_allclose(again.W, first.W, rtol=0, atol=1e-15)
    np.testing.assert_allclose(again.u, first.u, rtol=1e-13)
    # Another method on the same path, twice the step: close to the exact solution on that path
    coarse = ps.solve(ref.prob.remake(noise=NoiseGrid(first.t, first.W)), ps.RKMil(), dt=2 ** -5)
    exact = ref.exact(coarse.t[-1], coarse.W[-1])
    np.testing.assert_allclose(coarse.W[-1], first.W[-1], rtol=0, atol=1e-15)
    assert float(jnp.max(jnp.abs(coarse.u[-1] - exact) / exact)) < 0.1
