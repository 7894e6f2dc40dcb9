"""Sparse Jacobians and linear solvers: sparsity detection by tracing, column coloring, compressed Jacobians,
the `linsolve=` strategies (dense LU, sparse W with block-Jacobi GMRES, matrix-free Newton–Krylov), and
the Brusselator 2-D and POLLU problems."""
import jax
import jax.extend  # noqa: F401  (jax.extend.core.ClosedJaxpr below; not imported by `import jax`)
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

import pysciml as ps
from pysciml.linalg import (KrylovGMRES, SparseGMRES, SparsityPattern, compressed_jacobian, jacobian,
                            jacobian_sparsity)
from pysciml.solve import _FlatRHS, _compiled_loop
from pysciml._core.trees import FlatSpec
from pysciml.testing import POLLU_REFERENCE, brusselator_2d, pollu


def brusselator_stencil(n):
    """The true pattern of the periodic Brusselator on the (n, n, 2) state, by index arithmetic."""
    index = lambda i, j, s: ((i % n) * n + (j % n)) * 2 + s  # noqa: E731
    rows, cols = [], []
    for i in range(n):
        for j in range(n):
            for s in range(2):
                deps = {index(i + 1, j, s), index(i - 1, j, s), index(i, j + 1, s), index(i, j - 1, s),
                        index(i, j, 0), index(i, j, 1)}
                rows += [index(i, j, s)] * len(deps)
                cols += sorted(deps)
    size = 2 * n * n
    return sp.csr_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(size, size)).toarray()


def flat_rhs(prob, pattern=None):
    spec = FlatSpec.of(prob.u0, jnp.float64)
    return _FlatRHS(prob.f, spec, None, pattern), spec.ravel(prob.u0)


def test_detected_pattern_is_the_brusselator_stencil():
    prob = brusselator_2d(4)
    detected = jacobian_sparsity(prob.f, prob.u0, prob.p, 0.0).toarray()
    np.testing.assert_array_equal(detected, brusselator_stencil(4))
    u = jnp.asarray(np.random.default_rng(0).uniform(0.5, 2.0, 32))
    jac = jax.jacfwd(lambda x: prob.f(x.reshape(4, 4, 2), prob.p, 2.0).ravel())(u)
    np.testing.assert_array_equal(np.asarray(jac) != 0, detected)


def test_detected_pattern_of_a_banded_problem_and_through_constants_and_branches():
    def reaction_diffusion(u, p, t):      # Dirichlet ends via pad: tridiagonal
        padded = jnp.pad(u, 1)
        return p * (padded[:-2] - 2.0 * u + padded[2:]) - u ** 3 + jnp.where(t > 1.0, jnp.sin(u), 0.0)

    detected = jacobian_sparsity(reaction_diffusion, jnp.ones(7), 1.0, 0.0).toarray()
    np.testing.assert_array_equal(detected, np.abs(np.subtract.outer(np.arange(7), np.arange(7))) <= 1)

    def mixed(u, p, t):                   # constant matrix (its zeros respected), gather, cond, scatter-add
        band = jnp.asarray(np.diag(np.ones(5)) + np.diag(np.ones(4), 1))
        out = band @ u + u[jnp.array([4, 0, 1, 2, 3])] ** 2
        out = jax.lax.cond(t > 0, lambda: out, lambda: out * u[0])
        return out.at[2].add(u[4] * u[3])

    expected = np.diag(np.ones(5, bool)) | np.diag(np.ones(4, bool), 1)
    expected[np.arange(5), [4, 0, 1, 2, 3]] = True
    expected[:, 0] = True
    expected[2, [3, 4]] = True
    np.testing.assert_array_equal(jacobian_sparsity(mixed, jnp.ones(5), None, 0.0).toarray(), expected)

    prob = pollu()                        # stoichiometry matrix @ mass-action rates
    detected = jacobian_sparsity(prob.f, prob.u0, prob.p, 0.0).toarray()
    jac = jax.jacfwd(lambda u: prob.f(u, prob.p, 0.0))(jnp.asarray(np.random.default_rng(1).uniform(0.1, 1.0, 20)))
    np.testing.assert_array_equal(np.asarray(jac) != 0, detected)


@pytest.mark.parametrize("n", [8, 32])
def test_coloring_is_valid_with_few_colors(n):
    prob = brusselator_2d(n)
    pattern = SparsityPattern(jacobian_sparsity(prob.f, prob.u0, prob.p, 0.0))
    assert pattern.nnz == 12 * n * n
    # No two columns of one color share a row: within every row the colors are distinct.
    row_colors = pattern.colors[pattern.cols].astype(np.int64)
    pairs = pattern.rows.astype(np.int64) * pattern.n_colors + row_colors
    assert np.unique(pairs).size == pairs.size
    assert pattern.n_colors <= 10     # a size-independent count (8 here) instead of 2n² jvps


def test_compressed_jacobian_equals_jacfwd():
    prob = brusselator_2d(5)
    pattern = SparsityPattern(jacobian_sparsity(prob.f, prob.u0, prob.p, 0.0))
    f, _ = flat_rhs(prob, pattern)
    u = jnp.asarray(np.random.default_rng(2).uniform(0.5, 3.0, pattern.n))
    expected = jax.jit(jax.jacfwd(lambda x: f(x, prob.p, 1.5)))(u)
    values = jax.jit(lambda x: compressed_jacobian(f, x, prob.p, 1.5, pattern))(u)
    np.testing.assert_allclose(values, np.asarray(expected)[pattern.rows, pattern.cols], rtol=1e-14)
    dense = jax.jit(lambda x: jacobian(f, x, prob.p, 1.5))(u)          # DenseLU's path: colored, scattered
    np.testing.assert_allclose(dense, expected, rtol=1e-14)


def test_linear_solvers_agree_on_w():
    prob = brusselator_2d(8)
    pattern = SparsityPattern(jacobian_sparsity(prob.f, prob.u0, prob.p, 0.0))
    f, u = flat_rhs(prob, pattern)
    rhs = jnp.asarray(np.random.default_rng(3).normal(size=u.size))
    diagonal = lambda v, u, p, t, gh: v / (1.0 / gh + 4.0 * p[2] / p[3] ** 2)  # noqa: E731
    jac = np.asarray(jax.jit(jax.jacfwd(lambda x: f(x, prob.p, 0.0)))(u))
    for ls in [SparseGMRES(block_size=16), KrylovGMRES(), KrylovGMRES(preconditioner=diagonal)]:
        solve = jax.jit(lambda gamma_h, ls=ls: ls.solve(ls.factor(ls.jacobian(f, u, prob.p, 0.0), gamma_h), rhs))
        for gamma_h in (1e-8, 1e-4, 1e-2):
            exact = np.linalg.solve(np.eye(u.size) / gamma_h - jac, np.asarray(rhs))
            x = solve(gamma_h)
            assert np.max(np.abs(x - exact)) <= 1e-7 * np.max(np.abs(exact)), (ls, gamma_h)


@pytest.fixture(scope="module")
def brusselator8():
    """The 8×8 Brusselator across the forcing switched on at t = 1.1, and an independent reference: scipy's
    Radau at rtol 1e-11 (from t = 1.1 on, restarted there so no step straddles the switch)."""
    from scipy.integrate import solve_ivp
    prob = brusselator_2d(8, tspan=(0.0, 1.5))
    shape = prob.u0.shape
    f = jax.jit(lambda t, y: prob.f(y.reshape(shape), prob.p, t).ravel())
    jac = jax.jit(jax.jacfwd(lambda y, t: prob.f(y.reshape(shape), prob.p, t).ravel()))
    y = np.asarray(prob.u0).ravel()
    for span in ((0.0, 1.1), (1.1, 1.5)):
        y = solve_ivp(lambda t, y: np.asarray(f(t, y)), span, y, method="Radau", rtol=1e-11, atol=1e-13,
                      jac=lambda t, y: np.asarray(jac(y, t))).y[:, -1]
    return prob, y.reshape(shape)


def assert_within_tolerance(sol, reference, rtol=1e-6, atol=1e-8, factor=2.0):
    """The global error, in units of the requested tolerance, below ``factor``."""
    assert sol.success
    scale = atol + rtol * np.abs(reference)
    assert np.max(np.abs(np.asarray(sol.u[-1]) - reference) / scale) < factor


@pytest.mark.parametrize("alg, factor", [(ps.Rodas5P(), 2.0), (ps.Rodas5P(linsolve=SparseGMRES(block_size=16)), 2.0),
                                         (ps.Rodas5P(linsolve="krylov"), 2.0),
                                         (ps.KenCarp4(linsolve=KrylovGMRES(tol=1e-6)), 8.0)], ids=repr)
def test_sparse_and_krylov_solutions_match_an_independent_reference(brusselator8, alg, factor):
    """Within a few tolerance units of scipy (measured: Rodas5P 0.04–0.06; KenCarp4 3.9, dense LU alike)."""
    prob, reference = brusselator8
    assert_within_tolerance(ps.solve(prob, alg, rtol=1e-6, atol=1e-8, save_everystep=False), reference, factor=factor)


def test_equal_linear_solvers_share_compiled_loops(brusselator8):
    prob, _ = brusselator8
    assert ps.Rodas5P(linsolve="lu") == ps.Rodas5P() and hash(ps.Rodas5P(linsolve="lu")) == hash(ps.Rodas5P())
    assert ps.Rodas5P(linsolve="sparse") == ps.Rodas5P(linsolve=SparseGMRES())
    assert ps.Rodas5P(linsolve="sparse") != ps.Rodas5P(linsolve="krylov") != ps.Rodas5P()
    ps.solve(prob, ps.Rodas5P(linsolve="krylov"), rtol=1e-6, atol=1e-8, save_everystep=False)
    hits = _compiled_loop.cache_info().hits
    ps.solve(prob, ps.Rodas5P(linsolve=KrylovGMRES()), rtol=1e-6, atol=1e-8, save_everystep=False)
    assert _compiled_loop.cache_info().hits == hits + 1


def _largest_array(jaxpr):
    """The largest number of elements of any value in a jaxpr, sub-jaxprs included."""
    largest = 0
    for eqn in jaxpr.eqns:
        for var in [*eqn.invars, *eqn.outvars]:
            largest = max(largest, int(np.prod(getattr(var.aval, "shape", ()), dtype=np.int64)))
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else [value]:
                if isinstance(sub, jax.extend.core.ClosedJaxpr):
                    largest = max(largest, _largest_array(sub.jaxpr))
                elif isinstance(sub, jax.extend.core.Jaxpr):
                    largest = max(largest, _largest_array(sub))
    return largest


@pytest.mark.parametrize("alg", [ps.Rodas5P(linsolve="sparse"), ps.KenCarp4(linsolve="sparse"),
                                 ps.Rodas5P(linsolve="krylov"), ps.KenCarp4(linsolve="krylov"), ps.Rodas5P()],
                         ids=repr)
def test_no_dense_matrix_in_the_traced_sparse_and_krylov_programs(alg):
    prob = brusselator_2d(32)
    n = 2 * 32 * 32

    def run(u0):
        return ps.solve(prob.remake(u0=u0), alg, rtol=1e-6, atol=1e-8, save_everystep=False).u

    largest = _largest_array(jax.make_jaxpr(run)(prob.u0).jaxpr)
    if alg == ps.Rodas5P():
        assert largest >= n * n       # the dense LU does build W: the inspection sees it
    else:
        assert largest < n * n // 8   # nothing remotely n×n (block inverses: n × 128)


def test_pollu_matches_the_published_reference():
    prob = pollu().remake(jac_prototype="auto")        # colored dense Jacobian: 4 jvps instead of 20
    rtol, atol = 1e-7, 1e-12
    sol = ps.solve(prob, ps.Rodas5P(), rtol=rtol, atol=atol, save_everystep=False)
    assert sol.success
    error = np.abs(np.asarray(sol.u[-1]) - POLLU_REFERENCE) / (atol + rtol * np.abs(POLLU_REFERENCE))
    assert error.max() < 5.0


def test_bad_jac_prototype_and_linsolve_raise_clear_errors():
    prob = brusselator_2d(4)
    with pytest.raises(ValueError, match=r"jac_prototype must have shape \(32, 32\)"):
        prob.remake(jac_prototype=np.ones((31, 31)))
    with pytest.raises(ValueError, match="jac_prototype"):
        prob.remake(jac_prototype="dense")
    with pytest.raises(TypeError, match="jac_prototype"):
        prob.remake(jac_prototype=object())
    with pytest.raises(ValueError, match="linsolve: unknown linear solver 'superlu'"):
        ps.Rodas5P(linsolve="superlu")
    with pytest.raises(TypeError, match="linsolve"):
        ps.KenCarp4(linsolve=42)
    with pytest.raises(ValueError, match="linsolve: tol"):
        KrylovGMRES(tol=2.0)
    mass = np.eye(32) + np.diag(np.full(31, 0.1), 1)
    with pytest.raises(ValueError, match="diagonal mass matrices"):
        ps.solve(prob.remake(mass_matrix=mass), ps.Rodas5P(linsolve="sparse"))
    pattern = jacobian_sparsity(prob.f, prob.u0, prob.p, 0.0)
    assert prob.remake(jac_prototype=pattern).jac_prototype == SparsityPattern(pattern)


def test_fbdf_newton_krylov_matches_an_independent_reference(brusselator8):
    """CVODE's classic combination: BDF with matrix-free GMRES, like the dense Newton, within tolerance of scipy."""
    prob, reference = brusselator8
    for alg in (ps.FBDF(), ps.FBDF(linsolve=KrylovGMRES(tol=1e-7))):
        assert_within_tolerance(ps.solve(prob, alg, rtol=1e-6, atol=1e-8, save_everystep=False), reference)
    assert ps.FBDF(linsolve="krylov") != ps.FBDF() and "linsolve" in repr(ps.FBDF(linsolve="krylov"))
