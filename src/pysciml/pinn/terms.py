"""A loss term: one residual function evaluated on points of a box of the domain.

Every equation, boundary or initial condition, symbolic or plain, becomes a `Term`. ``free`` are the
independent variables sampled (all of them for a PDE, those not fixed on a face for a boundary
condition); ``fixed`` pins the others, so a sampled point becomes a full point of the domain.
"""
from dataclasses import dataclass
from typing import Callable

import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class Term:
    name: str
    kind: str                   # "pde" or "bc"
    free: tuple                 # indices of the sampled independent variables
    fixed: tuple                # ((index, value), ...) for the others
    residual: Callable          # residual(u, z, p) -> scalar or (m,), z the full point, p {name: value}

    def full_points(self, sampled, n_vars):
        """Points (N, n_vars) from sampled free coordinates (N, len(free)); numpy or jax arrays."""
        xp = np if isinstance(sampled, np.ndarray) else jnp
        columns = [None] * n_vars
        for k, index in enumerate(self.free):
            columns[index] = sampled[:, k]
        for index, value in self.fixed:
            columns[index] = xp.full(sampled.shape[0], value, dtype=sampled.dtype)
        return xp.stack(columns, axis=1)

def pin(z, fixed):
    """The point z with the coordinates in ``fixed`` ((index, value), ...) replaced (no scatter: a select)."""
    if not fixed:
        return z
    mask = np.zeros(z.shape[-1], dtype=bool)
    values = np.zeros(z.shape[-1])
    for index, value in fixed:
        mask[index], values[index] = True, value
    return jnp.where(mask, jnp.asarray(values, dtype=z.dtype), z)
