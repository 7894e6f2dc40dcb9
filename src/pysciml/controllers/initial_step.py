"""Automatic first step size (Hairer, Nørsett & Wanner, Solving ODEs I, II.4, "starting step size")."""
import jax.numpy as jnp

from .._core.norms import rms_norm


def initial_step(f, t0, u0, f0, p, order, direction, rtol, atol, dtmax):
    """A first step with local error ≈ tolerance, from two derivative evaluations (f0 is given).

    Hairer, Nørsett & Wanner I, II.4: ``f`` the right-hand side with parameters ``p``, (``t0``, ``u0``) the
    start, ``f0`` = f(u0, p, t0), ``order`` the method's order, ``direction`` +1 forward or −1 backward in time,
    ``rtol``/``atol`` the tolerances and ``dtmax`` the largest step allowed.

    Returns the signed step; costs one evaluation of f.
    """
    scale = atol + rtol * jnp.abs(u0)
    d0 = rms_norm(u0 / scale)
    d1 = rms_norm(f0 / scale)
    h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
    h0 = jnp.minimum(h0, dtmax)
    u1 = u0 + direction * h0 * f0
    f1 = f(u1, p, t0 + direction * h0)
    d2 = rms_norm((f1 - f0) / scale) / h0
    largest = jnp.maximum(d1, d2)
    h1 = jnp.where(largest <= 1e-15, jnp.maximum(1e-6, h0 * 1e-3),
                   (0.01 / jnp.where(largest <= 1e-15, 1.0, largest)) ** (1.0 / (order + 1)))
    h = jnp.minimum(jnp.minimum(100 * h0, h1), dtmax)
    return direction * h
