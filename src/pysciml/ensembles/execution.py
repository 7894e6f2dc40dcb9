"""How an ensemble runs: `solve(eprob, alg, ensemble_alg, trajectories=N, batch_size=..., **solve_options)`
cuts the trajectories into batches, has the backend (an `EnsembleAlgorithm`: `EnsembleVmap`, the default, or
`EnsembleSerial`) solve each, and reduces.
"""
import jax
import jax.numpy as jnp
import numpy as np

from ..solve import DEFAULT_MAX_STEPS, solve
from .base import EnsembleAlgorithm
from .problem import EnsembleProblem
from .solution import EnsembleSolution
from .vmap import EnsembleVmap


@solve.register
def _solve_ensemble(eprob: EnsembleProblem, alg=None, ensemble_alg=None, *, trajectories, batch_size=None,
                    **options):
    """Solve ``trajectories`` members of ``eprob`` in batches of ``batch_size`` (default: all at once)."""
    ensemble_alg = EnsembleVmap() if ensemble_alg is None else ensemble_alg
    if not isinstance(ensemble_alg, EnsembleAlgorithm):
        raise TypeError("ensemble_alg: expected EnsembleVmap(), EnsembleSerial(), EnsembleSharded(), EnsembleDask() "
                        f"or EnsembleGPUKernel() (a pysciml.ensembles.EnsembleAlgorithm); got {ensemble_alg!r}")
    if not isinstance(trajectories, (int, np.integer)) or trajectories <= 0:
        raise ValueError(f"trajectories must be a positive integer; got {trajectories!r}")
    if ensemble_alg.schedules_batches:   # backends that schedule their own batches (EnsembleDask)
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
