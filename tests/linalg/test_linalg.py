"""Linear algebra of the implicit methods: the W-matrix factorization (small unrolled LU and LAPACK)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pysciml.linalg import factor_w, solve_w
from pysciml.linalg.w_matrix import SmallLU


@pytest.mark.parametrize("n", [1, 3, 8, 12])
def test_w_solve_matches_numpy(n):
    rng = np.random.default_rng(n)
    jac = rng.normal(size=(n, n)) * 10.0
    mass = np.diag(rng.uniform(0.5, 2.0, n))
    rhs = rng.normal(size=n)
    factors = factor_w(jnp.asarray(jac), 0.1, jnp.asarray(mass))
    assert isinstance(factors, SmallLU) == (n <= 8)
    expected = np.linalg.solve(mass / 0.1 - jac, rhs)
    np.testing.assert_allclose(solve_w(factors, jnp.asarray(rhs)), expected, rtol=1e-10, atol=1e-12)


def test_small_lu_pivots_on_a_zero_leading_entry_and_batches():
    # W with a zero in the (0, 0) position needs a row exchange; singular mass matrices give such rows
    jac = jnp.array([[1.0 / 0.1, 2.0, 0.0], [1.0, 0.0, 3.0], [0.0, 4.0, 5.0]])
    mass = jnp.diag(jnp.array([1.0, 1.0, 0.0]))
    w = np.asarray(mass) / 0.1 - np.asarray(jac)
    rhs = jnp.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(solve_w(factor_w(jac, 0.1, mass), rhs), np.linalg.solve(w, rhs), rtol=1e-12)
    batched = jax.vmap(lambda j, b: solve_w(factor_w(j, 0.1), b))(jnp.stack([jac, 2 * jac]), jnp.stack([rhs, rhs]))
    np.testing.assert_allclose(batched[1], np.linalg.solve(np.eye(3) / 0.1 - 2 * np.asarray(jac), rhs), rtol=1e-12)
