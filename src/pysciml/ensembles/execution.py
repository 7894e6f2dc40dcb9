"""How an ensemble runs: `EnsembleVmap` (one vectorised, compiled solve) or `EnsembleSerial` (a loop).

Both go through `solve(eprob, alg, ensemble_alg, trajectories=N, batch_size=..., **solve_options)`.
"""
import weakref

import jax
import jax.numpy as jnp
import numpy as np

from .._core.trees import is_concrete
from ..solve import DEFAULT_MAX_STEPS, solve
from .problem import EnsembleProblem, check_prob_func_is_pure
from .solution import EnsembleSolution


MAX_RERUNS = 100   # reruns of one trajectory before the ensemble gives up (SciML would loop forever)


class EnsembleVmap:
    """All trajectories of a batch in one `jax.vmap`-ed, compiled solve: each keeps its own step sizes and
    stops when it is done (the batch runs until its slowest member finishes). The fast choice on CPU and GPU.
    The compiled batch is cached per ensemble problem, method and static options, so repeated ensemble
    solves (e.g. inside an optimisation loop) compile once.

    Reruns (output_func returning ``(value, True)``): the members that ask are solved again, with repeat + 1,
    by the same compiled batch (padded to the batch size, so nothing recompiles), until none asks. This needs
    concrete flags, i.e. the ensemble solve outside jax.jit."""

    _compiled = weakref.WeakKeyDictionary()

    def run_batch(self, eprob, alg, indices, options):
        arrays = {k: jnp.asarray(v) for k, v in options.items() if not _hashable(v)}
        static = tuple(sorted((k, v) for k, v in options.items() if k not in arrays))
        per_problem = self._compiled.setdefault(eprob, {})
        key = (alg, static, tuple(sorted(arrays)))
        if key not in per_problem:
            check_prob_func_is_pure(eprob)
            asks = []   # set at trace time: whether output_func returns (value, rerun)

            def batch(indices, repeats, arrays):
                def one(i, repeat):
                    sol = solve(eprob.member(i, repeat), alg, **dict(static), **arrays)
                    value, rerun, asked = split_output(eprob.output_func(sol, i))
                    asks.append(asked)
                    return value, jnp.asarray(rerun, bool)
                return jax.vmap(one)(indices, repeats)
            per_problem[key] = (self._compile(batch), asks)
        compiled, asks = per_problem[key]
        indices = np.asarray(indices)
        repeats = np.zeros(indices.shape, np.int64)
        values, reruns = compiled(jnp.asarray(indices), jnp.asarray(repeats), arrays)
        if not any(asks):
            return values
        for _ in range(MAX_RERUNS):
            if not is_concrete(reruns):
                raise ValueError("output_func asks for reruns (returns (value, rerun)), which EnsembleVmap decides "
                                 "on the host: solve the ensemble outside jax.jit")
            pending = np.flatnonzero(np.asarray(reruns))
            if pending.size == 0:
                return values
            repeats[pending] += 1
            take = np.resize(pending, indices.shape)   # the pending members first, padded by repeating them
            new_values, new_reruns = compiled(jnp.asarray(indices[take]), jnp.asarray(repeats[take]), arrays)
            k = pending.size
            values = jax.tree_util.tree_map(lambda old, new: old.at[pending].set(new[:k]), values, new_values)
            reruns = np.zeros(indices.shape, bool)
            reruns[pending] = np.asarray(new_reruns[:k])
        raise RuntimeError(_too_many_reruns(indices[np.flatnonzero(reruns)]))

    _compile = staticmethod(jax.jit)   # EnsembleSharded overrides it: the same batch, split across devices

    def __repr__(self):
        return "EnsembleVmap()"


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


def _too_many_reruns(indices):
    return (f"EnsembleProblem: trajectories {list(map(int, indices))} still ask for a rerun after {MAX_RERUNS} "
            "reruns; make output_func return rerun=False eventually (e.g. vary the problem with `repeat` in "
            "prob_func)")


def _hashable(value):
    try:
        hash(value)
    except TypeError:
        return False
    return not isinstance(value, jax.Array)


class EnsembleSerial:
    """One solve after another (each compiled once and reused): for debugging and for prob_funcs that
    need concrete Python values. A trajectory whose output_func returns ``(value, True)`` is solved again
    with repeat + 1 until it returns rerun=False."""

    def run_batch(self, eprob, alg, indices, options):
        return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *(self._one(eprob, alg, int(i), options)
                                                                  for i in indices))

    @staticmethod
    def _one(eprob, alg, i, options):
        for repeat in range(MAX_RERUNS + 1):
            value, rerun, _ = split_output(eprob.output_func(solve(eprob.member(i, repeat), alg, **options), i))
            if not bool(rerun):
                return value
        raise RuntimeError(_too_many_reruns([i]))

    def __repr__(self):
        return "EnsembleSerial()"


@solve.register
def _solve_ensemble(eprob: EnsembleProblem, alg=None, ensemble_alg=None, *, trajectories, batch_size=None,
                    **options):
    """Solve ``trajectories`` members of ``eprob`` in batches of ``batch_size`` (default: all at once)."""
    ensemble_alg = EnsembleVmap() if ensemble_alg is None else ensemble_alg
    if not (hasattr(ensemble_alg, "run_batch") or hasattr(ensemble_alg, "run_ensemble")):
        raise TypeError("ensemble_alg: expected EnsembleVmap(), EnsembleSerial(), EnsembleSharded(), EnsembleDask() "
                        f"or EnsembleGPUKernel(); got {ensemble_alg!r}")
    if not isinstance(trajectories, (int, np.integer)) or trajectories <= 0:
        raise ValueError(f"trajectories must be a positive integer; got {trajectories!r}")
    if hasattr(ensemble_alg, "run_ensemble"):   # backends that schedule their own batches (EnsembleDask)
        return ensemble_alg.run_ensemble(eprob, alg, trajectories, batch_size, options)
    batch_size = trajectories if batch_size is None else batch_size
    if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")

    _check_batch_memory(eprob, alg, batch_size, options)
    if eprob.reduction is None:
        batches = [ensemble_alg.run_batch(eprob, alg, np.arange(start, min(start + batch_size, trajectories)), options)
                   for start in range(0, trajectories, batch_size)]
        outputs = batches[0] if len(batches) == 1 else jax.tree_util.tree_map(
            lambda *xs: jnp.concatenate(xs), *batches)
        return EnsembleSolution(outputs, converged=False)

    acc, converged = eprob.u_init, False
    for start in range(0, trajectories, batch_size):
        indices = np.arange(start, min(start + batch_size, trajectories))
        acc, converged = eprob.reduction(acc, ensemble_alg.run_batch(eprob, alg, indices, options), indices)
        if bool(converged):
            break
    return EnsembleSolution(acc, converged=bool(converged))


_BATCH_MEMORY_LIMIT = 2 << 30


def _check_batch_memory(eprob, alg, batch_size, options):
    """Saving every step costs max_steps-sized buffers per trajectory: refuse a batch that would not fit."""
    if options.get("saveat") is not None or options.get("save_everystep") is False:
        return
    leaves = jax.tree_util.tree_leaves(eprob.prob.u0)
    n = sum(int(np.size(leaf)) for leaf in leaves)
    stages = getattr(alg, "n_stages", 7) if options.get("dense", True) else 0
    max_steps = options.get("max_steps", DEFAULT_MAX_STEPS)
    need = batch_size * (max_steps + 1) * n * (1 + stages) * 8
    if need > _BATCH_MEMORY_LIMIT:
        raise ValueError(
            f"saving every step of {batch_size} trajectories needs about {need / 2**30:.1f} GiB "
            f"(max_steps={max_steps}, {n} states, dense stages): pass saveat=..., save_everystep=False, "
            "a smaller batch_size or a smaller max_steps")
