"""EnsembleDask on a 2-process LocalCluster: bitwise equal to EnsembleVmap, worker-independent random keys,
ordered streaming reductions, a worker killed mid-run, clear errors for bad addresses and unpicklable problems."""
import os
import signal
import sys
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")
cloudpickle.register_pickle_by_value(sys.modules[__name__])   # workers cannot import this test module by name

pytestmark = pytest.mark.slow   # starting two worker processes and compiling on each takes several seconds

N = 24
BATCH = 4   # bitwise equality holds between runs with the same batch size (SIMD lanes round alike); the tests
            # share one problem, options and batch size, so each worker compiles once (workers cache by payload)
RHO = jnp.linspace(0.0, 21.0, N)
OPTIONS = dict(saveat=jnp.linspace(0.0, 1.0, 5), rtol=1e-8, atol=1e-8)


def lorenz(u, p, t):
    x, y, z = u
    return jnp.array([10.0 * (y - x), x * (p - z) - y, x * y - 8.0 / 3.0 * z])


def by_rho(prob, i, repeat):
    return prob.remake(p=RHO[i])


def by_rho_and_random_u0(prob, i, repeat, key):
    return prob.remake(p=RHO[i], u0=prob.u0 + 0.1 * jax.random.normal(key, (3,)))


LORENZ = ps.ODEProblem(lorenz, jnp.array([1.0, 0.0, 0.0]), (0.0, 1.0), 0.0)
SWEEP = ps.EnsembleProblem(LORENZ, prob_func=by_rho)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def vmapped():
    return ps.solve(SWEEP, ps.Tsit5(), ps.EnsembleVmap(), trajectories=N, batch_size=BATCH, **OPTIONS)


def test_dask_equals_vmap_bitwise(client, vmapped):
    ens = ps.solve(SWEEP, ps.Tsit5(), ps.EnsembleDask(client, batch_size=BATCH), trajectories=N,
                   **OPTIONS)
    assert ens.u.shape == (N, 5, 3)
    np.testing.assert_array_equal(np.asarray(ens.u), np.asarray(vmapped.u))
    np.testing.assert_array_equal(np.asarray(ens.outputs.stats["naccept"]),
                                  np.asarray(vmapped.outputs.stats["naccept"]))
    assert np.all(np.asarray(ens.retcode) == ps.ReturnCode.Success)


def test_random_keys_do_not_depend_on_the_worker(client):
    noisy = ps.EnsembleProblem(LORENZ, prob_func=by_rho_and_random_u0, key=7)
    reference = ps.solve(noisy, ps.Tsit5(), ps.EnsembleVmap(), trajectories=N, batch_size=BATCH, **OPTIONS)
    ens = ps.solve(noisy, ps.Tsit5(), ps.EnsembleDask(client.scheduler.address, batch_size=BATCH), trajectories=N,
                   **OPTIONS)
    np.testing.assert_array_equal(np.asarray(ens.u), np.asarray(reference.u))
    assert np.ptp(np.asarray(ens.u)[:, 0, 0]) > 0.05   # the draws really differ between trajectories


def test_reduction_is_ordered_and_streams(client, vmapped):
    seen = []

    def append_final_states(acc, batch, indices):
        seen.append(list(map(int, indices)))
        return acc + [np.asarray(batch.u[:, -1])], len(seen) == 3   # converged: the remaining batches are cancelled

    finals = ps.EnsembleProblem(LORENZ, prob_func=by_rho, reduction=append_final_states, u_init=[])
    ens = ps.solve(finals, ps.Tsit5(), ps.EnsembleDask(client, batch_size=BATCH, max_in_flight=2, progress=True),
                   trajectories=N, **OPTIONS)
    assert ens.converged and seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    np.testing.assert_array_equal(np.concatenate(ens.u), np.asarray(vmapped.u)[:12, -1])


def test_killed_worker_loses_and_duplicates_nothing(client, vmapped):
    pids = client.run(os.getpid)
    address, victim = sorted(pids.items())[0]
    busy = []

    def kill_after_first_batch(done, total):
        if not busy:   # the victim's running and finished-but-not-gathered batches are lost with it
            busy.append((done, len(client.processing().get(address, ())) + len(client.has_what().get(address, ()))))
            os.kill(victim, signal.SIGKILL)

    # batches of 2: a new batch shape, so the workers compile and the kill comes while batches are in flight
    ens = ps.solve(SWEEP, ps.Tsit5(), ps.EnsembleDask(client, batch_size=2, progress=kill_after_first_batch),
                   trajectories=N, **OPTIONS)
    (done, victim_work), = busy
    assert done < N and victim_work > 0                                  # the kill came mid-run and cost work
    # every trajectory once and in its place (each rho gives a different trajectory); batches of 2 group SIMD
    # lanes differently from the reference's 4, hence round-off rather than bitwise
    np.testing.assert_allclose(np.asarray(ens.u), np.asarray(vmapped.u), rtol=1e-12, atol=1e-13)
    client.wait_for_workers(2, timeout=120)
    assert victim not in client.run(os.getpid).values()                 # the nanny replaced the killed worker


def test_bad_address_is_a_clear_error():
    with pytest.raises(ConnectionError, match=r"client='tcp://127.0.0.1:9'.*running scheduler"):
        ps.EnsembleDask("tcp://127.0.0.1:9", connect_timeout=1)
    with pytest.raises(TypeError, match="client must be None"):
        ps.EnsembleDask(8786)


def test_unpicklable_right_hand_side_is_refused_before_submitting(client):
    lock = threading.Lock()

    def locked_decay(u, p, t):
        with lock:
            return -p * u

    eprob = ps.EnsembleProblem(ps.ODEProblem(locked_decay, jnp.array([1.0]), (0.0, 1.0), 1.0))
    submitted = len(client.who_has())
    with pytest.raises(TypeError, match=r"right-hand side f \(prob.f\) cannot be pickled"):
        ps.solve(eprob, ps.Tsit5(), ps.EnsembleDask(client), trajectories=4)
    assert len(client.who_has()) == submitted


def test_argument_errors():
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        ps.EnsembleDask(batch_size=0)
    with pytest.raises(TypeError, match="progress must be"):
        ps.EnsembleDask(progress="yes")
