"""Precision policy: float64 by default, float32 when the user's initial state is float32."""
import jax
import jax.numpy as jnp
import numpy as np


def enable_x64():
    """Scientific computing needs float64: switch JAX's default precision on at import."""
    jax.config.update("jax_enable_x64", True)


def state_dtype(*leaves):
    """The floating dtype a solve runs in: the promoted dtype of the leaves, integers promoted to float64."""
    dtype = jnp.result_type(*leaves) if leaves else jnp.float64
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(dtype, jnp.float64)
    if jnp.issubdtype(dtype, jnp.floating) and np.dtype(dtype).itemsize < 4:
        dtype = jnp.float32
    return jnp.dtype(dtype)
