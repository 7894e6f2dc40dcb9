"""Activation functions by name, so a network is described by plain data (`MLP(..., activation="tanh")`)."""
import jax
import jax.numpy as jnp


def gaussian_rbf(x):
    """Gaussian radial basis exp(−x²), elementwise on the array ``x``: smooth and localized, a common choice
    for function approximation. Returns an array shaped like ``x``.
    """
    return jnp.exp(-jnp.square(x))


ACTIVATIONS = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "softplus": jax.nn.softplus,
    "sigmoid": jax.nn.sigmoid,
    "rbf": gaussian_rbf,
    "identity": lambda x: x,
}

# He initialization suits rectifier-like activations (unbounded on one side); Glorot suits the saturating ones.
RECTIFIERS = frozenset({"relu", "gelu", "softplus"})


def activation(name_or_fn):
    """The activation function for a name in `ACTIVATIONS`, or the callable itself."""
    if callable(name_or_fn):
        return name_or_fn
    if name_or_fn not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} or a callable, got {name_or_fn!r}")
    return ACTIVATIONS[name_or_fn]
