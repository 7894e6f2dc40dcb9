"""Interpolation: the three kinds of stored steps share one base class and read the same state; the
solution users hold lives in `pysciml.solution`, pickles and passes through jax.jit."""
import pickle

import jax
import jax.numpy as jnp
import numpy as np

import pysciml as ps
from pysciml.interpolation import CurrentStep, DenseOutput, Interpolant, StepHistory
from pysciml.testing import exact_decay_problem

PROB, EXACT = exact_decay_problem((0.0, 1.0))
SOL = ps.solve(PROB, ps.Tsit5(), rtol=1e-10, atol=1e-12)
# The same steps with their stages stored by the loop (dense output with saveat keeps them).
STORED = ps.solve(PROB, ps.Tsit5(), rtol=1e-10, atol=1e-12, saveat=jnp.array([0.5]), dense=True).dense


def test_every_interpolant_reads_the_stored_steps_alike():
    dense = STORED
    assert isinstance(dense, DenseOutput) and isinstance(dense, Interpolant)
    method, f, p = SOL.alg.interpolant, SOL.f, SOL.p
    t = 0.37
    i = int(np.searchsorted(np.asarray(dense.ts), t)) - 1
    # Tsit5 stores complete stages (no extra ones), as the loop's history holds them for delay equations.
    history = StepHistory(dense.ts, dense.us, dense.stages, dense.n_steps)
    one = CurrentStep(dense.ts[i], dense.us[i], dense.ts[i + 1] - dense.ts[i], dense.stages[i])
    read = jax.jit(lambda d, h, c: (d.evaluate(method, t, f, p), h.evaluate(method, t), c.evaluate(method, t)))
    values = read(dense, history, one)
    for value in values:
        np.testing.assert_allclose(value, EXACT(t), rtol=1e-9)
    np.testing.assert_allclose(values[1], values[0], rtol=1e-14)
    np.testing.assert_allclose(values[2], values[0], rtol=1e-14)


def test_replayed_stages_are_the_stored_ones():
    """Explicit Runge–Kutta dense output stores no stages; sol(t) recomputes the step's stages from its
    start, which must give the stages the loop computed (and so the same values)."""
    assert SOL.dense.stages is None and STORED.stages is not None
    n = int(STORED.n_steps)
    assert n > 5 and int(SOL.dense.n_steps) == n
    replay = jax.vmap(lambda t, u, h: SOL.alg.replay_stages(SOL.f, t, u, h, SOL.p))
    stages = replay(STORED.ts[:n], STORED.us[:n], STORED.ts[1:n + 1] - STORED.ts[:n])
    np.testing.assert_allclose(stages, STORED.stages[:n], rtol=1e-14, atol=1e-15)
    times = jnp.linspace(0.0, 1.0, 13)
    stored_values = ps.interpolation.interpolate_dense(SOL.alg, SOL.f, SOL.p, STORED, times)
    np.testing.assert_allclose(SOL(times), stored_values, rtol=1e-14)
    np.testing.assert_allclose(SOL(times), np.asarray([EXACT(t) for t in times]), rtol=1e-9)


def test_many_times_replay_each_step_once_alike():
    """Many more times than steps: interpolate_dense replays each step once (a runtime branch); values and
    their derivatives with respect to the saved states and p are those of replaying per time."""
    from pysciml.interpolation import evaluate_dense, interpolate_dense
    dense, alg, f = SOL.dense, SOL.alg, SOL.f
    n = int(dense.n_steps)
    times = jnp.linspace(0.0, 1.0, 8 * n)          # count = 2n steps replayed ≥ n_steps: the per-step branch
    weights = jnp.cos(jnp.arange(times.shape[0]))[:, None]

    def loss(us, p, branch):
        d = dense._replace(us=us)
        values = interpolate_dense(alg, f, p, d, times) if branch else \
            jax.vmap(lambda t: evaluate_dense(alg, f, p, d, t))(times)   # each time replays its step
        return jnp.sum(weights * values), values

    (_, many), grads_many = jax.jit(jax.value_and_grad(lambda u, p: loss(u, p, True), (0, 1), has_aux=True))(
        dense.us, SOL.p)
    (_, one), grads_one = jax.jit(jax.value_and_grad(lambda u, p: loss(u, p, False), (0, 1), has_aux=True))(
        dense.us, SOL.p)
    np.testing.assert_allclose(many, one, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(many, np.asarray([EXACT(t) for t in times]), rtol=1e-9)
    for a, b in zip(grads_many, grads_one):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert np.any(np.asarray(grads_many[1]) != 0)


def test_the_solution_type_is_public_pickles_and_is_a_pytree():
    assert ps.ODESolution.__module__ == "pysciml.solution"
    back = pickle.loads(pickle.dumps(SOL))
    np.testing.assert_array_equal(back(0.5), SOL(0.5))
    jitted = jax.jit(lambda p: ps.solve(PROB.remake(p=p), ps.Tsit5(), rtol=1e-10, atol=1e-12,
                                        saveat=jnp.array([0.5])))(0.7)
    assert isinstance(jitted, ps.ODESolution)
    np.testing.assert_allclose(jitted.u[0], EXACT(0.5), rtol=1e-9)
