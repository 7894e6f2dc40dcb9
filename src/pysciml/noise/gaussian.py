"""The standard normals every Brownian path is drawn from (one place, so every path draws them the same way).

A float64 path draws its normals in float32 and widens them. On CPU, XLA evaluates float64 transcendental
functions (the inverse error function of `jax.random.normal`) about 10× slower than float32 ones, and the
normals are most of the cost of a fixed-step SDE solve: measured on 100 paths × 256 steps × 4 states, the
normals took ~100× the time of the steps themselves. The increments ΔW = √h·z are then Gaussian to float32
resolution (z on a grid of relative spacing 6e-8, |z| < 5.4: the tails beyond hold 7e-8 of the mass). The
solve itself is float64 on that path, and a strong error is measured against the same path, so strong
errors are unaffected; weak errors change by less than 1e-7. ``precision="float64"`` draws them in
float64 instead (`BulkIncrements`, `VirtualBrownianTree`, `NoiseGrid` take it).
"""
import math

import jax
import jax.numpy as jnp

PRECISIONS = ("float32", "float64")


def check_precision(precision, owner):
    if precision not in PRECISIONS:
        raise ValueError(f"{owner}: precision must be 'float32' (normals drawn in float32, the fast default) or "
                         f"'float64'; got {precision!r}")
    return precision


def standard_normal(key, shape, dtype, precision="float32"):
    """N(0, 1) draws of ``shape`` in ``dtype``; float64 ones drawn in float32 unless precision='float64'.
    Drawn as one flat vector and reshaped: under vmap, a multi-dimensional draw measured 5× slower than the
    same number of normals drawn flat."""
    dtype = jnp.dtype(dtype)
    draw = jnp.float32 if dtype == jnp.float64 and precision == "float32" else dtype
    size = math.prod(shape)
    return jax.random.normal(key, (size,), draw).astype(dtype).reshape(shape)
