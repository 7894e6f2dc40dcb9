"""Error norms used by step-size control."""
import jax.numpy as jnp


def rms_norm(x):
    """Root-mean-square norm, Hairer's choice for scaled errors (independent of the system size)."""
    return jnp.sqrt(jnp.mean(jnp.square(jnp.abs(x))))


def scaled_error_norm(err, u, u_new, rtol, atol):
    """‖err / (atol + rtol·max(|u|, |u_new|))‖_rms: below 1 means the step meets the tolerances."""
    scale = atol + rtol * jnp.maximum(jnp.abs(u), jnp.abs(u_new))
    return rms_norm(err / scale)
