"""`one_kernel` (src/pysciml/_core/one_kernel.py): on a CPU the marked call reaches XLA as a call for its
single-kernel emitter, with bit-identical results; functions with primitives that emitter cannot compile run
as plain calls; the jump simulator's plain-step loop is such a kernel."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import pysciml as ps
from pysciml._core.one_kernel import compiles_as_one_kernel, one_kernel

MARK = 'xla_cpu_small_call="true"'
OURS = 'inlineable="false"'       # XLA marks small while loops itself; only one_kernel keeps a call from inlining
pytestmark = pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's single-kernel emitter")


def logistic_map(x, r):
    """A loop of many small operations: 200 iterations of the logistic map, lane by lane."""
    return lax.fori_loop(0, 200, lambda i, x: r * x * (1.0 - x), x)


def compiled_text(fn, *args):
    return jax.jit(fn).lower(*args).compile().as_text()


def test_a_marked_loop_is_one_kernel_with_the_same_numbers():
    x, r = jnp.linspace(0.1, 0.9, 64), jnp.linspace(3.5, 3.99, 64)
    kernel = one_kernel(logistic_map)
    assert MARK in compiled_text(kernel, x, r) and OURS in compiled_text(kernel, x, r)
    assert OURS not in compiled_text(logistic_map, x, r)
    np.testing.assert_array_equal(jax.jit(kernel)(x, r), jax.jit(logistic_map)(x, r))
    # under vmap (the lanes of an ensemble) too
    batched = jax.jit(jax.vmap(kernel))(x[None].repeat(3, 0), r[None].repeat(3, 0))
    np.testing.assert_array_equal(batched, jnp.broadcast_to(jax.jit(logistic_map)(x, r), (3, 64)))


@pytest.mark.parametrize("fn, expected", [
    (lambda x: jnp.sin(x) * jnp.exp(-x), True),
    (lambda x: jax.nn.relu(x) + jnp.take(x, jnp.argmax(x)), True),          # custom_jvp_call, gather, argmax
    (lambda x: lax.while_loop(lambda c: c[1] < 3, lambda c: (c[0] * 2.0, c[1] + 1), (x, 0))[0], True),
    (lambda x: x.at[0].add(1.0), False),                                     # scatter
    (lambda x: jax.vmap(lambda w: jnp.tanh(w @ x))(jnp.ones((2, 3, 3))).sum(0), False),   # batched matmul
    (lambda x: jnp.linalg.solve(jnp.eye(3) + jnp.outer(x, x), x), False),    # LAPACK custom calls
    (lambda x: jnp.fft.fft(x).real, False),
    (lambda x: jnp.sort(x), False),
    (lambda x: jax.pure_callback(np.sin, jax.ShapeDtypeStruct(x.shape, x.dtype), x), False),
], ids=["elementwise", "gather", "while", "scatter", "matmul", "solve", "fft", "sort", "callback"])
def test_what_the_single_kernel_emitter_takes(fn, expected):
    x = jnp.array([0.3, 0.5, 0.7])
    assert compiles_as_one_kernel(jax.make_jaxpr(fn)(x)) is expected
    text = compiled_text(one_kernel(fn), x)
    assert (MARK in text and OURS in text) if expected else OURS not in text
    np.testing.assert_array_equal(jax.jit(one_kernel(fn))(x), jax.jit(fn)(x))


def test_the_jump_loop_is_one_kernel():
    from pysciml.jumps.simulate import default_lanes, simulate_many, simulate_one
    assert default_lanes() == 64
    prob = ps.JumpProblem(lambda u, p, t: jnp.array([p[0], p[1] * u[0]]), [0], (0.0, 5.0), jnp.array([10.0, 1.0]),
                          [[1], [-1]], key=3)
    for text in (simulate_many.lower(ps.Direct(), 1000, 100, prob, jnp.array([5.0])).compile().as_text(),
                 simulate_one.lower(ps.Direct(), 1000, prob, jnp.array([5.0])).compile().as_text()):
        assert MARK in text and OURS in text


def test_a_jump_problem_with_a_matrix_product_runs_as_a_plain_loop():
    """Propensities written with a matrix product fall back to the plain loop (no single kernel), same counts."""
    rates = lambda u, p, t: jnp.diag(p) @ jnp.array([1.0, u[0]])
    prob = ps.JumpProblem(rates, [0], (0.0, 5.0), jnp.array([10.0, 1.0]), [[1], [-1]], key=3)
    plain = ps.JumpProblem(lambda u, p, t: jnp.array([p[0], p[1] * u[0]]), [0], (0.0, 5.0), jnp.array([10.0, 1.0]),
                           [[1], [-1]], key=3)
    from pysciml.jumps.simulate import simulate_many
    assert OURS not in simulate_many.lower(ps.Direct(), 1000, 100, prob, jnp.array([5.0])).compile().as_text()
    ts = jnp.array([1.0, 5.0])
    np.testing.assert_array_equal(ps.solve(prob, ps.Direct(), saveat=ts, trajectories=100).u,
                                  ps.solve(plain, ps.Direct(), saveat=ts, trajectories=100).u)


def _random_network(n_species, n_reactions, seed=0):
    """(JumpProblem, [(rate, substrate indices)]) of a random mass-action network from pysciml.modeling."""
    import pysciml.modeling as md
    rng = np.random.default_rng(seed)
    species = md.variables([f"X{i}" for i in range(n_species)])
    ks = md.parameters([f"k{r}" for r in range(n_reactions)])
    rates = 10 ** rng.uniform(-1, 0, n_reactions)
    reactions, substrates = [], []
    for r in range(n_reactions):
        a, b, c = rng.choice(n_species, 3, replace=False)
        sub, prod = [([a], [b]), ([a, b], [c]), ([a], []), ([], [a])][r % 4]
        reactions.append(md.Reaction(ks[r], [species[i] for i in sub] or None, [species[i] for i in prod] or None))
        substrates.append(sub)
    prob = md.JumpProblem(md.ReactionSystem(reactions, species=list(species)), u0={s: 5 for s in species},
                          tspan=(0.0, 1.0), p={k: float(v) for k, v in zip(ks, rates)})
    return prob, list(zip(rates, substrates))


def test_generated_propensities_are_mass_action():
    """The generated propensity vector of a 24-reaction network (placed by a gather) against mass action
    computed here from the reaction list: k·x_a, k·x_a·x_b (distinct species), k."""
    prob, reactions = _random_network(12, 24)
    u = jnp.arange(1.0, 13.0)
    expected = [k * np.prod([float(u[i]) for i in sub]) for k, sub in reactions]
    np.testing.assert_allclose(prob.propensity(u, prob.p, 0.0), expected, rtol=1e-14)


def test_a_generated_network_is_one_kernel_with_the_same_counts():
    """A random 12-species, 24-reaction mass-action network from pysciml.modeling (its propensities placed by a
    gather): one kernel, and the same counts as the plain loop."""
    from unittest import mock

    from pysciml.jumps.simulate import simulate_many
    args = (ps.Direct(), 10 ** 6, 64, _random_network(12, 24)[0], jnp.array([0.5, 1.0]))
    assert OURS in simulate_many.lower(*args).compile().as_text()
    kernel = simulate_many(*args)
    with mock.patch("pysciml._core.one_kernel.compiles_as_one_kernel", return_value=False):
        jax.clear_caches()      # traced anew under the patch
        text = simulate_many.lower(*args).compile().as_text()
        plain = jax.jit(simulate_many.__wrapped__, static_argnums=(0, 1, 2))(*args)
    jax.clear_caches()          # no plain program stays cached for later tests
    assert OURS not in text
    for a, b in zip(kernel, plain):
        np.testing.assert_array_equal(a, b)


def test_a_large_network_runs_as_a_plain_loop():
    """200 reactions × 64 lanes: XLA:CPU gives the (64, 200) reductions to YNNPACK fusions, which the
    single-kernel emitter cannot compile (it failed to compile before the size limit): above `MAX_ELEMENTS` the
    loop is not marked, and it runs."""
    from pysciml._core.one_kernel import MAX_ELEMENTS
    from pysciml.jumps.simulate import simulate_many
    prob = _random_network(100, 200)[0]
    assert 64 * 200 > MAX_ELEMENTS
    args = (ps.Direct(), 10 ** 6, 64, prob, jnp.array([1.0]))
    assert OURS not in simulate_many.lower(*args).compile().as_text()
    saved, codes, steps = simulate_many(*args)
    assert np.all(np.asarray(codes) == ps.ReturnCode.Success) and np.all(np.asarray(steps) > 0)
