"""Weight initialization from a PRNG key: Glorot (Xavier) and He (Kaiming), normal and uniform.

Glorot & Bengio (2010): Var(W) = 2 / (fan_in + fan_out); He et al. (2015): Var(W) = 2 / fan_in.
A uniform law on [-a, a] has variance a²/3, hence a = √(3·Var).
"""
import jax
import jax.numpy as jnp

SCHEMES = ("glorot_normal", "glorot_uniform", "he_normal", "he_uniform")


def init_weight(key, fan_in, fan_out, scheme, dtype):
    """Returns a (``fan_in``, ``fan_out``) weight matrix of ``dtype`` drawn from the PRNG ``key`` with the named
    ``scheme``: 'glorot_normal' / 'glorot_uniform' (variance 2/(fan_in + fan_out)) or 'he_normal' / 'he_uniform'
    (variance 2/fan_in); a `ValueError` for another name.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"init must be one of {SCHEMES}, got {scheme!r}")
    variance = 2.0 / (fan_in + fan_out) if scheme.startswith("glorot") else 2.0 / fan_in
    shape = (fan_in, fan_out)
    if scheme.endswith("normal"):
        return jnp.sqrt(variance) * jax.random.normal(key, shape, dtype)
    bound = jnp.sqrt(3.0 * variance)
    return jax.random.uniform(key, shape, dtype, -bound, bound)
