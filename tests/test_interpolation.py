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


def test_every_interpolant_reads_the_stored_steps_alike():
    dense = SOL.dense
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


def test_the_solution_type_is_public_pickles_and_is_a_pytree():
    assert ps.ODESolution.__module__ == "pysciml.solution"
    back = pickle.loads(pickle.dumps(SOL))
    np.testing.assert_array_equal(back(0.5), SOL(0.5))
    jitted = jax.jit(lambda p: ps.solve(PROB.remake(p=p), ps.Tsit5(), rtol=1e-10, atol=1e-12,
                                        saveat=jnp.array([0.5])))(0.7)
    assert isinstance(jitted, ps.ODESolution)
    np.testing.assert_allclose(jitted.u[0], EXACT(0.5), rtol=1e-9)
