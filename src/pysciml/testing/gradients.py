"""`check_gradients`: compare every applicable sensitivity method with each other and with finite
differences, so users can check gradients through their own models."""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ..sensitivity import (BacksolveAdjoint, DiscreteAdjoint, ForwardDiffSensitivity, ForwardSensitivity, GaussAdjoint,
                           InterpolatingAdjoint, QuadratureAdjoint)

ALL_METHODS = (DiscreteAdjoint(), ForwardDiffSensitivity(), ForwardSensitivity(), BacksolveAdjoint(), InterpolatingAdjoint(),
               InterpolatingAdjoint(checkpointing=True), QuadratureAdjoint(), GaussAdjoint())


class GradientReport(NamedTuple):
    """What `check_gradients` found: gradients (method → flat gradient); finite_difference (directional
    derivatives along ``directions`` by central differences); directions; errors (method → largest relative
    error against the finite differences); spread (largest relative difference between two methods); skipped
    (method → why it does not apply); ok (every error and the spread within rtol).
    """
    gradients: dict        # method → flat gradient
    finite_difference: np.ndarray   # directional derivatives along ``directions`` by central differences
    directions: np.ndarray
    errors: dict           # method → largest relative error against the finite differences
    spread: float          # largest relative difference between two methods
    skipped: dict          # method → why it does not apply
    ok: bool


def check_gradients(loss, p, methods=ALL_METHODS, rtol=1e-5, fd_step=1e-6, n_directions=None, seed=0,
                    raise_on_failure=True) -> GradientReport:
    """Gradients of ``loss(p, sensealg)`` (a scalar) by each method in ``methods`` and by central finite
    differences of ``loss(p, None)`` with step ``fd_step``·max(1, max|p|). Returns a `GradientReport`.

    The finite differences are taken along every coordinate of p (flattened) when it has at most 20 entries,
    else along ``n_directions`` (default 4) random unit directions drawn from ``seed``; each method's gradient is
    compared through the same directional derivatives. A method whose solve refuses the problem (a ValueError,
    e.g. an adjoint with a mass matrix) is skipped with the reason. Relative errors are measured against the
    largest finite-difference value. Raises AssertionError when an error or the spread exceeds ``rtol``
    (unless ``raise_on_failure=False``).
    """
    flat, unravel = ravel_pytree(p)
    size = flat.shape[0]
    if n_directions is None and size <= 20:
        directions = np.eye(size)
    else:
        rng = np.random.default_rng(seed)
        directions = rng.standard_normal((n_directions or 4, size))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    value = lambda x: float(loss(unravel(jnp.asarray(x, flat.dtype)), None))
    base = np.asarray(flat, np.float64)
    step = fd_step * max(1.0, float(np.max(np.abs(base))))
    fd = np.array([(value(base + step * d) - value(base - step * d)) / (2 * step) for d in directions])
    scale = max(float(np.max(np.abs(fd))), np.finfo(np.float64).tiny)

    gradients, errors, skipped = {}, {}, {}
    for method in methods:
        try:
            g = jax.grad(loss)(p, method)
        except ValueError as exc:
            skipped[repr(method)] = str(exc)
            continue
        flat_g = np.asarray(ravel_pytree(g)[0], np.float64)
        gradients[repr(method)] = flat_g
        errors[repr(method)] = float(np.max(np.abs(directions @ flat_g - fd))) / scale
    values = list(gradients.values())
    gscale = max((float(np.max(np.abs(v))) for v in values), default=1.0) or 1.0
    spread = max((float(np.max(np.abs(a - b))) / gscale for a in values for b in values), default=0.0)
    ok = bool(values) and all(e <= rtol for e in errors.values()) and spread <= rtol
    report = GradientReport(gradients, fd, directions, errors, spread, skipped, ok)
    if raise_on_failure and not ok:
        lines = [f"  {name}: relative error {err:.2e} against finite differences" for name, err in errors.items()]
        raise AssertionError(f"gradients disagree beyond rtol={rtol} (spread between methods {spread:.2e}):\n"
                             + "\n".join(lines) + ("" if values else "\n  no method applied"))
    return report
