"""Parameters as one flat vector, for optimizers and solvers that want a vector instead of a pytree."""
from jax.flatten_util import ravel_pytree


def ravel(params):
    """Flatten any parameter pytree ``params``. Returns (flat vector, unravel), with ``unravel(flat)``
    rebuilding the pytree (`jax.flatten_util.ravel_pytree`).
    """
    return ravel_pytree(params)
