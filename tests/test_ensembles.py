"""Ensembles: vmap and serial execution agree, each member has its own steps, summaries are right."""
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps

RATES = jnp.linspace(0.5, 1.5, 16)
TIMES = jnp.linspace(0.0, 2.0, 5)
DECAY = ps.ODEProblem(lambda u, p, t: -p * u, jnp.array([1.0, 2.0]), (0.0, 2.0), 1.0)
EXACT = np.exp(-np.asarray(RATES)[:, None, None] * np.asarray(TIMES)[None, :, None]) * np.array([1.0, 2.0])
OPTIONS = dict(saveat=TIMES, rtol=1e-10, atol=1e-12)


def by_rate(prob, i, repeat):
    return prob.remake(p=RATES[i])


@pytest.fixture(scope="module")
def vmapped():
    return ps.solve(ps.EnsembleProblem(DECAY, prob_func=by_rate), ps.Tsit5(), ps.EnsembleVmap(), trajectories=16,
                    **OPTIONS)


def test_vmap_ensemble_is_exact_and_members_step_independently(vmapped):
    assert vmapped.u.u.shape == (16, 5, 2)
    np.testing.assert_allclose(vmapped.u.u, EXACT, rtol=1e-8)
    steps = np.asarray(vmapped.u.stats["naccept"])
    assert steps[-1] > steps[0]   # faster decay needs more steps: each member has its own step sizes
    assert np.all(np.asarray(vmapped.retcode) == ps.ReturnCode.Success) and bool(np.all(vmapped.success))


def test_serial_matches_vmap_with_batches(vmapped):
    serial = ps.solve(ps.EnsembleProblem(DECAY, prob_func=by_rate), ps.Tsit5(), ps.EnsembleSerial(),
                      trajectories=16, batch_size=5, **OPTIONS)
    np.testing.assert_allclose(serial.u.u, vmapped.u.u, rtol=1e-12)


def test_summaries(vmapped):
    np.testing.assert_allclose(vmapped.mean(), EXACT.mean(axis=0), rtol=1e-8)
    np.testing.assert_allclose(vmapped.var(), EXACT.var(axis=0, ddof=1), rtol=1e-6, atol=1e-14)
    np.testing.assert_allclose(vmapped.quantile(0.5), np.quantile(EXACT, 0.5, axis=0), rtol=1e-8)
    np.testing.assert_allclose(vmapped.quantile([0.1, 0.9]), np.quantile(EXACT, [0.1, 0.9], axis=0), rtol=1e-8)
    assert vmapped[3].u.shape == (5, 2)


def test_summaries_at_any_time_through_dense_output():
    ens = ps.solve(ps.EnsembleProblem(DECAY, prob_func=by_rate), ps.Tsit5(), trajectories=16, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ens.mean(t=TIMES), EXACT.mean(axis=0), rtol=1e-8)


def test_output_func_and_reduction():
    final_sum = ps.EnsembleProblem(
        DECAY, prob_func=by_rate, output_func=lambda sol, i: sol.u[-1, 0],
        reduction=lambda acc, batch, indices: (acc + jnp.sum(batch), False), u_init=0.0)
    result = ps.solve(final_sum, ps.Tsit5(), trajectories=16, batch_size=4, **OPTIONS)
    assert float(result.u) == pytest.approx(EXACT[:, -1, 0].sum(), rel=1e-8)
    early = ps.EnsembleProblem(DECAY, prob_func=by_rate, output_func=lambda sol, i: sol.u[-1, 0],
                               reduction=lambda acc, batch, indices: (acc + list(np.asarray(batch)), True), u_init=[])
    stopped = ps.solve(early, ps.Tsit5(), trajectories=16, batch_size=4, **OPTIONS)
    assert stopped.converged and len(stopped.u) == 4


def test_ensemble_bad_input():
    eprob = ps.EnsembleProblem(DECAY, prob_func=by_rate)
    with pytest.raises(ValueError, match="trajectories must be a positive integer"):
        ps.solve(eprob, ps.Tsit5(), trajectories=0)
    with pytest.raises(TypeError, match="ensemble_alg"):
        ps.solve(eprob, ps.Tsit5(), "vmap", trajectories=2)
    with pytest.raises(TypeError, match="prob_func must be callable"):
        ps.EnsembleProblem(DECAY, prob_func=3)


def test_memory_hungry_default_saving_is_refused_with_advice():
    eprob = ps.EnsembleProblem(DECAY, prob_func=by_rate)
    with pytest.raises(ValueError, match="GiB.*pass saveat"):
        ps.solve(eprob, ps.Tsit5(), trajectories=100_000)


def test_repeated_ensemble_solves_reuse_the_compiled_batch(vmapped):
    eprob = ps.EnsembleProblem(DECAY, prob_func=by_rate)
    first = ps.solve(eprob, ps.Tsit5(), trajectories=16, **OPTIONS)
    cached = ps.EnsembleVmap._compiled[eprob]
    again = ps.solve(eprob, ps.Tsit5(), trajectories=16, **OPTIONS)
    assert ps.EnsembleVmap._compiled[eprob] is cached and len(cached) == 1
    np.testing.assert_array_equal(first.u.u, again.u.u)
