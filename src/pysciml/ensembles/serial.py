"""`EnsembleSerial`: one solve after another."""
import jax
import jax.numpy as jnp

from ..solve import solve
from .base import MAX_RERUNS, EnsembleAlgorithm, member_options, split_output, too_many_reruns


class EnsembleSerial(EnsembleAlgorithm):
    """One solve after another (each compiled once and reused): for debugging and for prob_funcs that
    need concrete Python values. A trajectory whose output_func returns ``(value, True)`` is solved again
    with repeat + 1 until it returns rerun=False."""

    def run_batch(self, eprob, alg, indices, options):
        """Solves the members ``indices`` (a 1-d integer numpy array) of ``eprob`` with ``alg`` and the keyword
        ``options`` of `solve`: one `solve` after another in a Python loop (each rerun until output_func returns
        rerun=False). Returns their outputs stacked along a leading trajectory axis.
        """
        return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *(self._one(eprob, alg, int(i), options)
                                                                  for i in indices))

    @staticmethod
    def _one(eprob, alg, i, options):
        for repeat in range(MAX_RERUNS + 1):
            sol = solve(eprob.member(i, repeat), alg, **member_options(options, i, repeat))
            value, rerun, _ = split_output(eprob.output_func(sol, i))
            if not bool(rerun):
                return value
        raise RuntimeError(too_many_reruns([i]))
