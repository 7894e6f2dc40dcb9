"""The contract of an ensemble backend: what `solve(eprob, alg, ensemble_alg, trajectories=N)` asks of
``ensemble_alg``.

`solve` (see `execution`) validates the arguments, cuts the trajectories into batches of ``batch_size`` and
applies the problem's reduction; a backend only solves one batch. A new backend (sharded over devices, Dask,
GPU kernels) is one subclass of `EnsembleAlgorithm` implementing `run_batch`, which must

- solve member ``i`` of the batch as ``solve(eprob.member(i, repeat), alg, **member_options(options, i,
  repeat))`` (the public `pysciml.solve`), starting with repeat = 0 (`member_options` gives an SDE member
  its own Brownian key);
- pass each solution through ``eprob.output_func(sol, i)`` and read it with `split_output`: while it asks
  for a rerun, solve that member again with repeat + 1, at most `MAX_RERUNS` times (then raise
  `too_many_reruns`);
- return the outputs stacked along a new leading axis in the order of ``indices`` (a pytree of arrays).

A backend that schedules the batches itself (`EnsembleDask`: batches shipped to workers, reduced as they
arrive) sets ``schedules_batches = True`` and implements `run_ensemble` instead, which returns the
`EnsembleSolution` (or the reduction's value); `solve` still validates the arguments first.
"""
import jax
import jax.numpy as jnp
import numpy as np

MAX_RERUNS = 100   # reruns of one trajectory before the ensemble gives up (SciML would loop forever)


class EnsembleAlgorithm:
    """Base of the ensemble backends (`EnsembleVmap`, `EnsembleSerial`, `EnsembleSharded`, `EnsembleDask`,
    `EnsembleGPUKernel`)."""

    def run_batch(self, eprob, alg, indices, options):
        """The stacked outputs of the members ``indices`` (a 1-d integer numpy array) of ``eprob`` solved
        by ``alg`` with the keyword ``options`` of `solve` (see the module's notes for the contract). Returns
        the outputs stacked along a leading trajectory axis."""
        raise NotImplementedError(f"{type(self).__name__} must implement run_batch (or set schedules_batches "
                                  "and implement run_ensemble)")

    schedules_batches = False

    def run_ensemble(self, eprob, alg, trajectories, batch_size, options):
        """Solve the whole ensemble (only for backends with ``schedules_batches = True``): the ``trajectories``
        members of ``eprob`` with ``alg`` and the keyword ``options`` of `solve`, ``batch_size`` members at a time
        (the backend schedules the batches itself, e.g. on a cluster). Returns the `EnsembleSolution` (after the
        problem's reduction, if any)."""
        raise NotImplementedError(f"{type(self).__name__} solves batches: solve() calls run_batch")

    def __repr__(self):
        return f"{type(self).__name__}()"


def member_options(options, i, repeat=0):
    """The solve options of member ``i``: a ``key`` option (an SDE's Brownian path) becomes
    jax.random.fold_in(key, i) (and, for a rerun, folded again with ``repeat``), so each trajectory has its
    own path, the same whatever the batch size or backend."""
    key = options.get("key")
    if key is None:
        return options
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        key = jax.random.PRNGKey(int(key))
    own = jax.random.fold_in(key, i)
    again = jax.random.fold_in(own, repeat)
    typed = jnp.issubdtype(own.dtype, jax.dtypes.prng_key)
    data = lambda k: jax.random.key_data(k) if typed else k
    chosen = jnp.where(jnp.asarray(repeat) == 0, data(own), data(again))
    return {**options, "key": jax.random.wrap_key_data(chosen, impl=jax.random.key_impl(own)) if typed else chosen}


def split_output(out):
    """(value, rerun, asked) from an output_func result: SciML's ``(value, rerun)`` pair, recognised as a
    2-tuple whose second item is a bool (Python or a 0-d boolean array); anything else is the value with
    rerun=False (so an output that really is such a pair must be wrapped, e.g. in a list or dict)."""
    if isinstance(out, tuple) and len(out) == 2:
        flag = out[1]
        if isinstance(flag, (bool, np.bool_)) or (hasattr(flag, "dtype") and jnp.ndim(flag) == 0
                                                  and jnp.dtype(flag.dtype) == jnp.bool_):
            return out[0], flag, True
    return out, False, False


def too_many_reruns(indices):
    return (f"EnsembleProblem: trajectories {list(map(int, indices))} still ask for a rerun after {MAX_RERUNS} "
            "reruns; make output_func return rerun=False eventually (e.g. vary the problem with `repeat` in "
            "prob_func)")
