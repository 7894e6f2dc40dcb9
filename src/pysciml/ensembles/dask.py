"""`EnsembleDask`: an ensemble split into batches of trajectory indices, each batch solved by `EnsembleVmap` on a
Dask worker.

Why this shape:
- The problem, method and options travel once per task as one cloudpickled payload; a worker unpickles a given
  payload once (cache keyed on its hash), so `EnsembleVmap`'s compile cache, which is keyed on the problem object,
  compiles once per worker and payload (twice on the worker that gets a shorter last batch: the batches are
  exactly `EnsembleVmap`'s, unpadded, so the results equal `EnsembleVmap` with the same batch_size bitwise; padding
  would change which members share a SIMD vector, and with it the last bits).
- A batch's task key is made of the payload hash, the solve call and the batch's first index: a batch that Dask
  reruns (worker lost, task retried) keeps its key and is stored by its index, so nothing is lost or counted
  twice.
- A trajectory's random key is `fold_in(key, i)` with the global index i (`EnsembleProblem.member`), so it does
  not depend on which worker ran it or on the batch size.
- With a reduction, at most ``max_in_flight`` batches are submitted ahead of the next batch to reduce, and batches
  are folded in trajectory order as soon as they are next: the driver never holds every batch.
"""
import dataclasses
import hashlib
import math
import uuid
import weakref
from collections import OrderedDict

import jax
import numpy as np

from .base import EnsembleAlgorithm
from .execution import _check_batch_memory
from .vmap import EnsembleVmap
from .solution import EnsembleSolution

_WORKER_CACHE = OrderedDict()   # on a worker: payload hash -> (eprob, alg, options)
_WORKER_CACHE_SIZE = 4


class EnsembleDask(EnsembleAlgorithm):
    """Solve an ensemble on a Dask cluster: batches of ``batch_size`` trajectories, each solved by one compiled,
    vmapped solve on a worker (compiled once per worker), results gathered in trajectory order.

    client: None (a `distributed.LocalCluster` of worker processes, started on first use and closed by
    `close()` or at exit), a scheduler address such as ``"tcp://10.0.0.5:8786"``, or a `distributed.Client`.
    batch_size: trajectories per task (default: enough for about four tasks per worker); ``solve(...,
    batch_size=...)`` overrides it.
    n_workers, threads_per_worker: the LocalCluster's size (ignored with a client).
    progress: False, True (a tqdm bar over finished trajectories) or a callable ``progress(done, total)``.
    retries: how often a batch that raised on a worker is retried (a killed worker's batches are rescheduled by
    Dask itself, up to its ``distributed.scheduler.allowed-failures``).
    max_in_flight: with a reduction, batches submitted ahead of the next one to reduce (default 2 per worker).
    connect_timeout: seconds to wait for a scheduler given by address.
    Requires the ``distributed`` extra: ``pip install pysciml[distributed]``.
    """

    schedules_batches = True   # batches go to workers and are reduced as they arrive: see run_ensemble

    def __init__(self, client=None, batch_size=None, *, n_workers=None, threads_per_worker=1, progress=False,
                 retries=2, max_in_flight=None, connect_timeout=10.0):
        distributed = _import_distributed()
        if client is not None and not isinstance(client, (str, distributed.Client)):
            raise TypeError(f"EnsembleDask: client must be None (a LocalCluster), a scheduler address string or a "
                            f"distributed.Client; got {type(client).__name__}")
        _check_positive("batch_size", batch_size, optional=True)
        _check_positive("n_workers", n_workers, optional=True)
        _check_positive("threads_per_worker", threads_per_worker)
        _check_positive("max_in_flight", max_in_flight, optional=True)
        if not isinstance(retries, (int, np.integer)) or retries < 0:
            raise ValueError(f"EnsembleDask: retries must be a non-negative integer; got {retries!r}")
        if not (progress is True or progress is False or callable(progress)):
            raise TypeError("EnsembleDask: progress must be True, False or a callable progress(done, total)")
        self.batch_size, self.progress, self.retries, self.max_in_flight = batch_size, progress, retries, max_in_flight
        self._cluster_options = dict(n_workers=n_workers, threads_per_worker=threads_per_worker)
        self._client, self._owned = None, []
        if isinstance(client, distributed.Client):
            self._client = client
        elif isinstance(client, str):
            self._client = _connect(client, connect_timeout)
            self._owned = [self._client]
            weakref.finalize(self, _close_all, list(self._owned))

    @property
    def client(self):
        """The `distributed.Client` in use (starts the LocalCluster on first access when none was given)."""
        if self._client is None:
            distributed = _import_distributed()
            cluster = distributed.LocalCluster(processes=True, dashboard_address=None,
                                               **{k: v for k, v in self._cluster_options.items() if v is not None})
            self._client = distributed.Client(cluster)
            self._owned = [self._client, cluster]
            weakref.finalize(self, _close_all, list(self._owned))
        return self._client

    def close(self):
        """Close the client and LocalCluster this object started (a client passed in is left open). Returns None."""
        _close_all(self._owned)
        self._owned, self._client = [], (None if self._owned else self._client)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"EnsembleDask(batch_size={self.batch_size})"

    # --- the ensemble ---------------------------------------------------------------------------------------
    def run_ensemble(self, eprob, alg, trajectories, batch_size, options):
        """Called by `solve(eprob, alg, EnsembleDask(...), trajectories=N, **options)`: solves ``trajectories``
        members of ``eprob`` with ``alg`` and the `solve` keyword ``options``, ``batch_size`` members per Dask task
        (None: the object's batch_size, else about four tasks per worker). Returns an `EnsembleSolution`
        (the concatenated outputs, or the reduced value when the problem has a reduction).
        """
        payload = _pickled(eprob, alg, options)   # before any cluster starts: an unpicklable problem fails fast
        client = self.client
        n_workers = max(len(client.nthreads()), 1)
        if batch_size is None:
            batch_size = self.batch_size or math.ceil(trajectories / (4 * n_workers))
        _check_positive("batch_size", batch_size)
        batch_size = min(batch_size, trajectories)
        _check_batch_memory(eprob, alg, batch_size, options)
        token = hashlib.sha256(payload).hexdigest()[:24]
        call = uuid.uuid4().hex[:12]   # a solve's own task keys: no clash with a previous, still cancelling, solve
        starts = list(range(0, trajectories, batch_size))
        stops = [min(s + batch_size, trajectories) for s in starts]
        progress = _Progress(self.progress, trajectories)
        distributed = _import_distributed()

        def submit(b):
            return client.submit(_solve_batch, payload, token, starts[b], stops[b],
                                 key=f"pysciml-ensemble-{token}-{call}-{starts[b]}", retries=self.retries)

        try:
            if eprob.reduction is None:
                futures = {submit(b): b for b in range(len(starts))}
                results = [None] * len(starts)
                for future, value in distributed.as_completed(futures, with_results=True, raise_errors=False):
                    b = futures[future]
                    results[b] = _host_result(future, value, starts[b], stops[b])
                    progress.update(stops[b] - starts[b])
                return EnsembleSolution(_concatenate(results), converged=False)
            return self._reduce(eprob, client, submit, starts, stops, n_workers, progress, distributed)
        finally:
            progress.close()

    def _reduce(self, eprob, client, submit, starts, stops, n_workers, progress, distributed):
        """Fold batches in trajectory order as they arrive, with a bounded number in flight."""
        window = self.max_in_flight or 2 * n_workers
        acc, converged, next_reduce, next_submit = eprob.u_init, False, 0, 0
        arrived, futures = {}, {}
        pending = distributed.as_completed([], with_results=True, raise_errors=False)

        def top_up():
            nonlocal next_submit
            while next_submit < len(starts) and next_submit < next_reduce + window:
                future = submit(next_submit)
                futures[future] = next_submit
                pending.add(future)
                next_submit += 1

        top_up()
        for future, value in pending:
            b = futures.pop(future)
            arrived[b] = _host_result(future, value, starts[b], stops[b])
            progress.update(stops[b] - starts[b])
            while next_reduce in arrived and not converged:
                batch = jax.tree_util.tree_map(jax.numpy.asarray, arrived.pop(next_reduce))
                acc, converged = eprob.reduction(acc, batch, np.arange(starts[next_reduce], stops[next_reduce]))
                converged = bool(converged)
                next_reduce += 1
            if converged:
                client.cancel(list(futures))
                break
            top_up()
        return EnsembleSolution(acc, converged=converged)


# --- worker side -------------------------------------------------------------------------------------------
def _solve_batch(payload, token, start, stop):
    """Solve trajectories start..stop-1 on a worker; results come back as host arrays."""
    entry = _WORKER_CACHE.get(token)
    if entry is None:
        import cloudpickle
        x64, *entry = cloudpickle.loads(payload)
        jax.config.update("jax_enable_x64", x64)
        _WORKER_CACHE[token] = entry
        while len(_WORKER_CACHE) > _WORKER_CACHE_SIZE:
            _WORKER_CACHE.popitem(last=False)
    _WORKER_CACHE.move_to_end(token)
    eprob, alg, options = entry
    return jax.tree_util.tree_map(np.asarray, EnsembleVmap().run_batch(eprob, alg, np.arange(start, stop), options))


# --- driver helpers ---------------------------------------------------------------------------------------
def _pickled(eprob, alg, options):
    """The payload every task carries; a clear error naming the part that cloudpickle cannot ship."""
    import cloudpickle
    try:
        # The reduction runs here on the driver: leaving it out lets ensembles that differ only in their
        # reduction share a payload, and with it the workers' compiled batch.
        shipped = dataclasses.replace(eprob, reduction=None, u_init=None)
        return cloudpickle.dumps((bool(jax.config.jax_enable_x64), shipped, alg, options))
    except Exception as exc:   # noqa: BLE001  (pickling errors come as TypeError, PicklingError, AttributeError...)
        parts = {"the right-hand side f (prob.f)": getattr(eprob.prob, "f", None), "prob_func": eprob.prob_func,
                 "output_func": eprob.output_func, "the base problem (u0, p, ...)": eprob.prob,
                 "the algorithm": alg, "the solve options": options}
        culprit = "the ensemble problem"
        for name, part in parts.items():
            try:
                cloudpickle.dumps(part)
            except Exception:   # noqa: BLE001
                culprit = name
                break
        raise TypeError(f"EnsembleDask: {culprit} cannot be pickled to ship it to Dask workers ({exc}). Workers get "
                        "the problem through cloudpickle: avoid closures over locks, open files, sockets or "
                        "generators, or define the function at module level") from exc


def _host_result(future, value, start, stop):
    if future.status != "finished":
        raise RuntimeError(f"EnsembleDask: the batch of trajectories {start}..{stop - 1} failed on a worker: "
                           f"{value!r}") from (value if isinstance(value, BaseException) else None)
    return value


def _concatenate(results):
    """Stack batches along the trajectory axis. Each batch was unpickled separately, so the static parts of
    its pytree (e.g. the right-hand side object) are equal copies, not the same object: join the leaves and
    keep the first batch's structure."""
    treedef = jax.tree_util.tree_structure(results[0])
    leaves = [jax.tree_util.tree_leaves(r) for r in results]
    return jax.tree_util.tree_unflatten(treedef, [jax.numpy.asarray(np.concatenate(xs)) for xs in zip(*leaves)])


def _connect(address, timeout):
    distributed = _import_distributed()
    try:
        return distributed.Client(address, timeout=timeout)
    except (OSError, ValueError, TimeoutError) as exc:
        raise ConnectionError(
            f"EnsembleDask: no Dask scheduler reachable at client={address!r} within {timeout} s ({exc}). Expected "
            "the address of a running scheduler such as 'tcp://host:8786' (see `dask scheduler`), a "
            "distributed.Client, or None for a LocalCluster on this machine") from exc


def _close_all(objects):
    for obj in objects:
        try:
            obj.close()
        except Exception:   # noqa: BLE001  (closing at exit: the cluster may already be gone)
            pass


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError("EnsembleDask needs Dask's distributed scheduler: pip install 'pysciml[distributed]'") \
            from exc
    return distributed


def _check_positive(name, value, optional=False):
    if value is None and optional:
        return
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"EnsembleDask: {name} must be a positive integer; got {value!r}")


class _Progress:
    """Finished-trajectory counter: a tqdm bar (progress=True) or the user's progress(done, total)."""

    def __init__(self, progress, total):
        self.done, self.total, self.callback, self.bar = 0, total, None, None
        if callable(progress):
            self.callback = progress
        elif progress:
            from tqdm.auto import tqdm   # a dependency of pysciml
            self.bar = tqdm(total=total, unit="traj", desc="ensemble")

    def update(self, n):
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        if self.callback is not None:
            self.callback(self.done, self.total)

    def close(self):
        if self.bar is not None:
            self.bar.close()
