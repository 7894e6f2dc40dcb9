"""`EnsembleVmap`: all trajectories of a batch in one vectorised, compiled solve."""
import weakref

import jax
import jax.numpy as jnp
import numpy as np

from .._core.trees import is_concrete
from ..integrate.lanes import lane_axis
from ..solve import solve
from .base import MAX_RERUNS, EnsembleAlgorithm, member_options, split_output, too_many_reruns
from .problem import check_prob_func_is_pure


class EnsembleVmap(EnsembleAlgorithm):
    """All trajectories of a batch in one `jax.vmap`-ed, compiled solve: each keeps its own step sizes and
    stops when it is done (the batch runs until its slowest member finishes). The fast choice on CPU and GPU.
    The compiled batch is cached per ensemble problem, method and static options, so repeated ensemble
    solves (e.g. inside an optimisation loop) compile once.

    Reruns (output_func returning ``(value, True)``): the members that ask are solved again, with repeat + 1,
    by the same compiled batch (padded to the batch size, so nothing recompiles), until none asks. This needs
    concrete flags, i.e. the ensemble solve outside jax.jit."""

    _compiled = weakref.WeakKeyDictionary()

    def run_batch(self, eprob, alg, indices, options):
        """Solves the members ``indices`` (a 1-d integer numpy array) of ``eprob`` with ``alg`` and the keyword
        ``options`` of `solve`: one program compiled per problem, method and static options, vmapped over the members
        (reruns asked by output_func run again in a batch). Returns their outputs stacked along a leading trajectory
        axis.
        """
        arrays = {k: jnp.asarray(v) for k, v in options.items() if not _hashable(v)}
        static = tuple(sorted((k, v) for k, v in options.items() if k not in arrays))
        per_problem = self._compiled.setdefault(eprob, {})
        key = (alg, static, tuple(sorted(arrays)))
        if key not in per_problem:
            check_prob_func_is_pure(eprob)
            asks = []   # set at trace time: whether output_func returns (value, rerun)

            def batch(indices, repeats, arrays):
                def one(i, repeat):
                    with lane_axis(_AXIS):   # the loop runs as a lane of the named batch (integrate.lanes)
                        sol = solve(eprob.member(i, repeat), alg,
                                    **member_options({**dict(static), **arrays}, i, repeat))
                    value, rerun, asked = split_output(eprob.output_func(sol, i))
                    asks.append(asked)
                    return value, jnp.asarray(rerun, bool)
                return jax.vmap(one, axis_name=_AXIS)(indices, repeats)
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
        raise RuntimeError(too_many_reruns(indices[np.flatnonzero(reruns)]))

    _compile = staticmethod(jax.jit)   # EnsembleSharded overrides it: the same batch, split across devices


_AXIS = "pysciml_ensemble"


def _hashable(value):
    try:
        hash(value)
    except TypeError:
        return False
    return not isinstance(value, jax.Array)
