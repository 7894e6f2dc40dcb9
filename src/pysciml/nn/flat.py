"""Parameters as one flat vector, for optimizers and solvers that want a vector instead of a pytree."""
from jax.flatten_util import ravel_pytree


def ravel(params):
    """(flat vector, unravel) for any parameter pytree; ``unravel(flat)`` rebuilds the pytree."""
    return ravel_pytree(params)
