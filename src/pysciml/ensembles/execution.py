"""How an ensemble runs: `EnsembleVmap` (one vectorised, compiled solve) or `EnsembleSerial` (a loop).

Both go through `solve(eprob, alg, ensemble_alg, trajectories=N, batch_size=..., **solve_options)`.
"""
import jax
import jax.numpy as jnp
import numpy as np

from ..solve import solve
from .problem import EnsembleProblem
from .solution import EnsembleSolution


class EnsembleVmap:
    """All trajectories of a batch in one `jax.vmap`-ed solve: each keeps its own step sizes and stops
    when it is done (the batch runs until its slowest member finishes). The fast choice on CPU and GPU."""

    def run_batch(self, eprob, alg, indices, options):
        def one(i):
            return eprob.output_func(solve(eprob.prob_func(eprob.prob, i, 0), alg, **options), i)
        return jax.vmap(one)(jnp.asarray(indices))

    def __repr__(self):
        return "EnsembleVmap()"


class EnsembleSerial:
    """One solve after another (each compiled once and reused): for debugging and for prob_funcs that
    need concrete Python values."""

    def run_batch(self, eprob, alg, indices, options):
        outputs = [eprob.output_func(solve(eprob.prob_func(eprob.prob, int(i), 0), alg, **options), int(i))
                   for i in indices]
        return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *outputs)

    def __repr__(self):
        return "EnsembleSerial()"


@solve.register
def _solve_ensemble(eprob: EnsembleProblem, alg=None, ensemble_alg=None, *, trajectories, batch_size=None,
                    **options):
    """Solve ``trajectories`` members of ``eprob`` in batches of ``batch_size`` (default: all at once)."""
    ensemble_alg = EnsembleVmap() if ensemble_alg is None else ensemble_alg
    if not isinstance(ensemble_alg, (EnsembleVmap, EnsembleSerial)):
        raise TypeError(f"ensemble_alg: expected EnsembleVmap() or EnsembleSerial(); got {ensemble_alg!r}")
    if not isinstance(trajectories, (int, np.integer)) or trajectories <= 0:
        raise ValueError(f"trajectories must be a positive integer; got {trajectories!r}")
    batch_size = trajectories if batch_size is None else batch_size
    if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")

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
